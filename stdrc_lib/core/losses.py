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

from . import positions as P
from . import reference as R
from .backbone import transformer_forward
from .refcache import record_reference, reference_kv_cache, video_forward


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


def flow_matching_loss(
    backbone,
    x0: torch.Tensor,
    ref_pixels: torch.Tensor | None,
    prompts: list[str],
    keep_text: torch.Tensor,
    keep_ref: torch.Tensor,
    sigma: torch.Tensor,
    noise: torch.Tensor,
    positions: P.PositionConfig,
    transformer=None,
    text_encoder=None,
    isolated_reference: bool = False,
    token_weights: torch.Tensor | None = None,
    clean_first_frame: torch.Tensor | None = None,
    keyframe: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_fm = ‖v̂ − (ε − x₀)‖²`` over the video tokens of latents ``x0`` ``(B, C, F, H, W)``, and ``x̂₀``.

    Returns the loss and the one-step estimate ``x̂₀ = x_σ − σ·v̂`` ``(B, C, F, H, W)`` (with gradient), which
    the identity loss decodes.

    Args:
        ref_pixels: references ``(B, 3, H, W)`` in ``[−1, 1]``, encoded by the frozen VAE into clean tokens
            (timestep 0, no loss); None trains without a reference (a text-to-video model).
        keep_text / keep_ref: ``(B,)`` booleans of condition dropout (on any device; they steer, and only
            the masks built from them enter the forward); a dropped reference is masked out.
        transformer / text_encoder: the modules to call (the DDP-wrapped ones under accelerate); shapes and
            positions come from ``backbone``.
        isolated_reference: the reference tokens run in their own pass at σ = 0 and the video tokens read
            their keys and values (:mod:`stdrc_lib.core.refcache`), exactly as cached sampling does.
        token_weights: ``(B, N_v)`` weights of the per-token errors (e.g. :func:`reference.face_token_weights`).
        clean_first_frame: ``(B,)`` booleans: rows trained as image-to-video, LTX-2's way. Their latent frame 0
            is given clean (``x_σ = x₀`` there, timestep 0) and carries no loss; the rest is denoised.
        keyframe: ``(B,)`` integers: where ``≥ 0``, the row's reference is a frame of its own clip, the pixel
            frame of that index, and sits at that frame's positions (:func:`positions.keyframe_coords`,
            LTX-2's keyframe conditioning) instead of the scheme's; ``−1`` keeps the scheme.
    """
    b, grid, dev = x0.shape[0], tuple(x0.shape[2:]), x0.device
    n_v = grid[0] * grid[1] * grid[2]
    s = sigma.view(b, 1, 1, 1, 1)
    x_sigma = (1 - s) * x0 + s * noise  # (B, C, F, H, W)
    clean = None
    if clean_first_frame is not None and bool(clean_first_frame.any()):
        if isolated_reference:
            raise ValueError("`clean_first_frame` (image-to-video rows) is not supported with `isolated_reference`.")
        clean = R.first_frame_tokens(clean_first_frame.cpu(), grid).to(dev)  # (B, N_v)
        keep = clean_first_frame.to(dev).view(b, 1, 1, 1, 1)
        x_sigma = torch.cat([torch.where(keep, x0[:, :, :1], x_sigma[:, :, :1]), x_sigma[:, :, 1:]], dim=2)
        loss_on = (~clean).to(x0.dtype)
        token_weights = loss_on if token_weights is None else token_weights * loss_on
    texts = [p if k else "" for p, k in zip(prompts, keep_text.cpu().tolist())]
    ids, tmask = (t.to(dev) for t in backbone.text_encoder.tokenize(texts))
    emb = (backbone.text_encoder if text_encoder is None else text_encoder)(ids, tmask)  # (B, L, D)
    transformer = backbone.transformer if transformer is None else transformer
    ref_tok, ref_grids = None, []
    if ref_pixels is not None:
        with torch.no_grad():
            z_ref = R.encode(backbone.vae, ref_pixels[:, :, None])  # (B, C, 1, Hr, Wr)
        ref_tok, ref_grids = R.pack(z_ref), [tuple(z_ref.shape[-2:])]
    rope = getattr(transformer, "module", transformer).rope
    coords = P.build_coords(rope, b, grid, ref_grids, positions, dev)  # (B, 3, N, 2)
    if keyframe is not None and tuple(keyframe.shape) != (b,):
        raise ValueError(f"`keyframe` must be one frame index per row, shape ({b},), got {tuple(keyframe.shape)}.")
    if keyframe is not None and bool((keyframe >= 0).any()):
        if ref_tok is None or isolated_reference:
            raise ValueError("`keyframe` rows need references in the joint pass (not `isolated_reference`).")
        rows = (keyframe >= 0).to(dev).view(b, 1, 1, 1)
        kf = P.keyframe_coords(rope, ref_grids[0], keyframe.clamp(min=0).cpu(), positions.fps).to(dev)
        coords = torch.cat([coords[:, :, :n_v], torch.where(rows, kf, coords[:, :, n_v:])], dim=2)
    if ref_tok is not None and isolated_reference:
        rows = torch.where(keep_ref.cpu(), torch.arange(b), -1).to(dev)
        with reference_kv_cache(transformer) as state:
            # the reference pass uses the unwrapped module: DDP allows one wrapped forward per backward
            module = getattr(transformer, "module", transformer)
            record_reference(module, state, ref_tok, emb, tmask, coords[:, :, n_v:])
            v_video = video_forward(transformer, state, R.pack(x_sigma), emb, tmask, sigma, coords[:, :, :n_v], rows)
    else:
        refs = [] if ref_tok is None else [ref_tok]
        tokens = R.concat_tokens(R.pack(x_sigma), refs)  # (B, N_v + N_r, C)
        n_r = tokens.shape[1] - n_v
        keep_ref = keep_ref.cpu()
        mask = None if not refs or keep_ref.all() else R.reference_mask(n_v, n_r, keep_ref).to(dev)
        ts = R.token_timesteps(sigma, n_v, n_r, clean)
        v_video = R.strip_tokens(transformer_forward(transformer, tokens, emb, ts, sigma, coords, tmask, mask), n_v)
    loss = flow_matching(v_video, R.pack(noise), R.pack(x0), token_weights)
    x0_hat = x0_estimate(x_sigma, R.unpack(v_video, grid), sigma)  # (B, C, F, H, W)
    if clean is not None:  # a given frame 0 is its own estimate
        x0_hat = torch.cat([torch.where(keep, x0[:, :, :1], x0_hat[:, :, :1]), x0_hat[:, :, 1:]], dim=2)
    return loss, x0_hat
