"""Training objectives.

Flow matching (LTX convention), over video tokens only:

    x_σ = (1 − σ)·x₀ + σ·ε,    v = ε − x₀,    L_fm = ‖v̂ − v‖²

Face-guided identity loss, from the one-step estimate of the clean clip:

    x̂₀ = x_σ − σ·v̂
    L_id = 1 − cos(E(face(D(x̂₀))), E(face(ref)))      weighted by w(σ) = 1[σ ≤ σ_id]

``D`` is the VAE decoder (gradients flow through it into v̂), ``E`` a differentiable face
embedder. At high σ the estimate x̂₀ is mostly noise, hence the gate.
"""

from __future__ import annotations

import torch

from . import reference as R


def flow_matching(
    v_hat: torch.Tensor, noise: torch.Tensor, x0: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``mean ‖v̂ − (ε − x₀)‖²``; all three are video-token tensors ``(B, N, C)`` of the same shape.

    With ``weight`` ``(B, N)`` the per-token errors are averaged with those weights (normalised,
    so the loss keeps the unweighted scale when all weights are equal)."""
    err = (v_hat - (noise - x0)) ** 2
    if weight is None:
        return err.mean()
    if weight.shape != err.shape[:2]:
        raise ValueError(f"`weight` must be (B, N) = {tuple(err.shape[:2])}, got {tuple(weight.shape)}.")
    return (err.mean(-1) * weight).sum() / weight.sum()


def x0_estimate(x_sigma: torch.Tensor, v_hat: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``x̂₀ = x_σ − σ·v̂`` with σ broadcast over all but the batch dimension."""
    return x_sigma - sigma.view(-1, *([1] * (x_sigma.ndim - 1))) * v_hat


def identity_loss(
    vae,
    embed,
    x0_hat: torch.Tensor,
    ref_embedding: torch.Tensor,
    sigma: torch.Tensor,
    sigma_id: float = 0.5,
    frames: int = 2,
    generator: torch.Generator | None = None,
    first_frame_only: bool = False,
) -> torch.Tensor:
    """``mean over gated rows of 1 − cos(E(D(x̂₀)[k]), e_ref)`` for ``frames`` random frames k.

    With ``first_frame_only`` only the first latent frame is decoded, as an image. LTX-2's encoder
    is causal, so that latent frame is exactly the encoding of pixel frame 0 on its own (the
    frame-0 convention), and decoding it costs about an eighth of decoding a 17-frame toy clip.

    Args:
        vae: the (frozen) VAE; its decoder is differentiated through.
        embed: differentiable ``(N, 3, H, W) in [−1, 1] → (N, D)`` face embedder.
        x0_hat: normalized latents ``(B, C, F, H, W)`` with gradient.
        ref_embedding: ``(B, D)`` embeddings of the references (no gradient needed).
        sigma: ``(B,)`` noise levels; rows with σ > ``sigma_id`` contribute 0.
    """
    gate = sigma <= sigma_id
    if not gate.any():
        return x0_hat.sum() * 0.0  # keeps the graph connected, contributes nothing
    lat = x0_hat[gate][:, :, :1] if first_frame_only else x0_hat[gate]
    pixels = vae.decode(R.denormalize_latents(lat, vae)).sample  # (b, 3, F_px, H, W)
    f = pixels.shape[2]
    idx = torch.randperm(f, generator=generator)[:frames]
    picked = pixels[:, :, idx].permute(0, 2, 1, 3, 4).flatten(0, 1)  # (b·k, 3, H, W)
    e = torch.nn.functional.normalize(embed(picked.clamp(-1, 1)), dim=-1)
    ref = torch.nn.functional.normalize(ref_embedding[gate], dim=-1).repeat_interleave(len(idx), 0)
    return (1 - (e * ref).sum(-1)).sum() / len(sigma) / len(idx)
