"""Observe where video tokens look in the reference, without forking the model.

:class:`CaptureProcessor` is a subclass of diffusers' ``LTX2PerturbedAttnProcessor`` installed
on each block's ``attn1`` (video self-attention). It lets the parent compute the output
unchanged, then recomputes the attention probabilities the same way the model does,

    q = RoPE(norm_q(W_q h)),  k = RoPE(norm_k(W_k h)),  A = softmax(q kᵀ / √d + mask),

one chunk of video queries at a time, and keeps only the video→reference block
``A[:, :, :N_v, N_v:]``, averaged over heads unless ``per_head``. It never materialises the
full ``N×N`` matrix for all heads at once: peak extra memory is about ``3 × heads × chunk × N``
floats. With the default chunk of 64 query tokens, capturing at LTX-2.3's full token count costs
1.09× the peak memory of a forward without capture (``bench/bench_attention_memory.py``).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from diffusers.models.transformers.transformer_ltx2 import (
    LTX2PerturbedAttnProcessor,
    apply_interleaved_rotary_emb,
    apply_split_rotary_emb,
)


@dataclass
class AttentionStore:
    """Captured maps: ``maps[layer]`` is ``(B, N_v, N_r)`` or ``(B, heads, N_v, N_r)``.

    Each call of a layer overwrites its entry (the latest forward wins); ``history`` keeps every
    call when ``keep_history`` is set (e.g. one entry per sampling step).
    """

    n_video: int
    per_head: bool = False
    chunk_size: int = 64
    keep_history: bool = False
    maps: dict[int, torch.Tensor] = field(default_factory=dict)
    history: dict[int, list[torch.Tensor]] = field(default_factory=dict)

    def put(self, layer: int, a: torch.Tensor) -> None:
        self.maps[layer] = a
        if self.keep_history:
            self.history.setdefault(layer, []).append(a)

    def mean_over_layers(self) -> torch.Tensor:
        return torch.stack([self.maps[k] for k in sorted(self.maps)]).mean(0)


class CaptureProcessor(LTX2PerturbedAttnProcessor):
    """Attention processor that also records video→reference attention probabilities."""

    def __init__(self, store: AttentionStore, layer: int):
        super().__init__()
        self.store = store
        self.layer = layer

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        query_rotary_emb=None,
        key_rotary_emb=None,
        perturbation_mask: torch.Tensor | None = None,
        all_perturbed: bool | None = None,
    ) -> torch.Tensor:
        out = super().__call__(
            attn,
            hidden_states,
            encoder_hidden_states,
            attention_mask,
            query_rotary_emb,
            key_rotary_emb,
            perturbation_mask,
            all_perturbed,
        )
        if encoder_hidden_states is None and not bool(all_perturbed):
            with torch.no_grad():
                self.store.put(self.layer, self._probs(attn, hidden_states, attention_mask, query_rotary_emb))
        return out

    def _probs(self, attn, h, mask, rope) -> torch.Tensor:
        s = self.store
        b, n, _ = h.shape
        q, k = project_qk(attn, h, rope)
        q = q.unflatten(2, (attn.heads, -1)).transpose(1, 2).float()  # (B, H, N, D)
        k = k.unflatten(2, (attn.heads, -1)).transpose(1, 2).float()  # (B, H, N, D)
        scale = 1.0 / math.sqrt(q.shape[-1])
        bias = None if mask is None else mask.float().reshape(b, 1, -1, n)  # additive, (B, 1, N, N)
        chunks = []
        for start in range(0, s.n_video, s.chunk_size):
            stop = min(start + s.chunk_size, s.n_video)
            logits = q[:, :, start:stop] @ k.transpose(-1, -2) * scale  # (B, H, c, N)
            if bias is not None:
                logits = logits + bias[:, :, start:stop]
            a = logits.softmax(-1)[..., s.n_video :]  # (B, H, c, N_r)
            chunks.append(a if s.per_head else a.mean(1))
        return torch.cat(chunks, dim=-2).cpu()  # (B, [H,] N_v, N_r)


def project_qk(attn, h: torch.Tensor, rope) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries and keys as the LTX-2 attention computes them: ``RoPE(norm(W h))``, ``(B, N, heads·d)``."""
    q = attn.norm_q(attn.to_q(h))
    k = attn.norm_k(attn.to_k(h))
    if rope is not None:
        apply = apply_split_rotary_emb if attn.rope_type == "split" else apply_interleaved_rotary_emb
        q, k = apply(q, rope), apply(k, rope)
    return q, k


@contextmanager
def capture_attention(
    transformer,
    n_video: int,
    layers: list[int] | None = None,
    per_head: bool = False,
    chunk_size: int = 64,
    keep_history: bool = False,
):
    """Install :class:`CaptureProcessor` on ``attn1`` of the chosen blocks; restore on exit.

    Example::

        with capture_attention(transformer, n_video=320) as store:
            transformer_forward(...)
        store.maps[0]  # (B, 320, N_r) video→reference attention of block 0
    """
    blocks = transformer.transformer_blocks
    layers = list(range(len(blocks))) if layers is None else list(layers)
    for i in layers:
        if not 0 <= i < len(blocks):
            raise ValueError(f"`layers` entries must be in [0, {len(blocks)}), got {i}.")
    if chunk_size < 1:
        raise ValueError(f"`chunk_size` must be >= 1, got {chunk_size}.")
    store = AttentionStore(n_video, per_head, chunk_size, keep_history)
    saved = {i: blocks[i].attn1.processor for i in layers}
    try:
        for i in layers:
            blocks[i].attn1.set_processor(CaptureProcessor(store, i))
        yield store
    finally:
        for i, proc in saved.items():
            blocks[i].attn1.set_processor(proc)


def reference_maps(
    store_map: torch.Tensor, video_grid: tuple[int, int, int], ref_grid: tuple[int, int]
) -> torch.Tensor:
    """Reshape ``(B, N_v, N_r)`` to ``(B, F, H, W, Hr, Wr)`` for plotting (first reference only)."""
    f, h, w = video_grid
    hr, wr = ref_grid
    return store_map[..., : hr * wr].reshape(store_map.shape[0], f, h, w, hr, wr)


def pixel_aligned_share(
    store_map: torch.Tensor, video_grid: tuple[int, int, int], ref_grid: tuple[int, int]
) -> torch.Tensor:
    """How much of each frame-0 query's reference attention falls on the reference token at its own spatial
    position: the copy channel that image-to-video's position prior opens and TASS is meant to close.

    ``store_map``: ``(..., N_v, N_r)`` video→reference probabilities (any leading dims: batch, heads, layers).
    Frame-0 query ``(i, j)`` is matched to reference token ``(i·Hr // H, j·Wr // W)``. Returns ``(..., H·W)``
    shares in [0, 1] (``1 / N_r`` for uniform attention, 1 when all of it lands on the aligned token).
    """
    f, h, w = video_grid
    hr, wr = ref_grid
    if store_map.shape[-2] < h * w or store_map.shape[-1] < hr * wr:
        raise ValueError(
            f"`store_map` of shape {tuple(store_map.shape)} does not hold {h * w} frame-0 queries and "
            f"{hr * wr} reference keys for grids {video_grid} and {ref_grid}."
        )
    a = store_map[..., : h * w, : hr * wr].float()
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    aligned = ((i * hr // h) * wr + (j * wr // w)).reshape(-1)  # (H·W,) the reference token under each query
    on_it = a.gather(-1, aligned.expand(*a.shape[:-1])[..., None].to(torch.long)).squeeze(-1)
    return on_it / a.sum(-1).clamp_min(1e-12)
