"""Reference K/V cache: compute the clean reference tokens once per sampling run, not once per step.

Why it is possible
------------------
A reference token is clean (timestep 0 on every step), so its AdaLN modulation never changes.
What still changes from step to step in a joint forward is (a) the video tokens it attends to
and (b) in LTX-2.3, the text keys/values, which the prompt AdaLN modulates with the clip's σ.
An *isolated* reference removes both: the reference tokens run in their own pass, attending only
to themselves and the text, at σ = 0 (they are clean). Their per-layer keys and values then
depend only on the reference and the prompt, so they are computed once per run and per text
stream, and every sampling step runs the video tokens alone, whose self-attention reads
``[video keys | cached reference keys]``.

That is a different model from the joint one (where reference tokens also look at the noisy
video), so a model is *trained* the same way (``ToyTrainConfig.isolated_reference``) and the
cache is exact for it: a test checks cached sampling against recomputing the reference pass
every step. ``bench/ablate.py`` trains the isolated variant next to the joint one to measure
what the isolation costs in quality; ``bench/bench_guided_step.py`` measures what it saves.

How
---
:class:`ReferenceKVProcessor` is a subclass of diffusers' ``LTX2PerturbedAttnProcessor`` installed
on every block's ``attn1`` (video self-attention) by :func:`reference_kv_cache`. In *record* mode
it runs the parent's attention on the reference tokens and stores their keys and values (after
``norm_k`` and RoPE, exactly what the attention consumed). In *use* mode it appends the stored
keys and values of each row's cache entry to that row's video keys and values; rows without a
reference attend to the video alone. No dense mask is built, so SDPA stays on its fast path.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.transformers.transformer_ltx2 import LTX2PerturbedAttnProcessor

from . import reference as R
from .attention import project_qk
from .backbone import transformer_forward


@dataclass
class ReferenceKV:
    """State shared by the processors of one transformer.

    Attributes:
        mode: ``None`` (plain attention), ``"record"`` or ``"use"``.
        kv: ``kv[layer] = (keys, values)``, each ``(B_cache, N_r, heads·d)``.
        rows: in *use* mode, for each batch row the cache row it reads, or −1 for no reference.
    """

    mode: str | None = None
    kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    rows: torch.Tensor | None = None

    @property
    def n_cached(self) -> int:
        return 0 if not self.kv else next(iter(self.kv.values()))[0].shape[0]


class ReferenceKVProcessor(LTX2PerturbedAttnProcessor):
    """``attn1`` processor that records or reuses the reference tokens' keys and values."""

    def __init__(self, state: ReferenceKV, layer: int):
        super().__init__()
        self.state = state
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
        mode = self.state.mode
        if mode is None or encoder_hidden_states is not None:
            return super().__call__(
                attn,
                hidden_states,
                encoder_hidden_states,
                attention_mask,
                query_rotary_emb,
                key_rotary_emb,
                perturbation_mask,
                all_perturbed,
            )
        if attention_mask is not None or perturbation_mask is not None:
            raise ValueError(
                "the reference K/V cache replaces the self-attention mask; do not pass "
                "`video_self_attention_mask` or a perturbation mask while it is recording or in use."
            )
        q, k, v = _project(attn, hidden_states, query_rotary_emb)
        if mode == "record":
            self.state.kv[self.layer] = (k, v)
            out = _attend(attn, q, k, v)
        elif mode == "use":
            out = self._attend_with_cache(attn, q, k, v)
        else:
            raise ValueError(f"`mode` must be None, 'record' or 'use', got {mode!r}.")
        return _finish(attn, hidden_states, out)

    def _attend_with_cache(self, attn, q, k, v) -> torch.Tensor:
        rows = self.state.rows
        if rows is None or rows.shape != (q.shape[0],):
            raise ValueError(f"`rows` must give one cache row per batch row ({q.shape[0]}), got {rows}.")
        has = rows >= 0
        if not has.any():  # no row has a reference (e.g. sampling without one)
            return _attend(attn, q, k, v)
        kr, vr = self.state.kv[self.layer]
        if has.all():
            return _attend(attn, q, torch.cat([k, kr[rows]], 1), torch.cat([v, vr[rows]], 1))
        out = _attend(attn, q, k, v)  # rows without a reference: video keys only
        idx = has.nonzero()[:, 0]
        sel = rows[idx]
        with_ref = _attend(attn, q[idx], torch.cat([k[idx], kr[sel]], 1), torch.cat([v[idx], vr[sel]], 1))
        return out.index_copy(0, idx, with_ref)


def _project(attn, h: torch.Tensor, rope):
    """Queries, keys (``RoPE(norm(W h))``, as the LTX-2 attention computes them) and values."""
    q, k = project_qk(attn, h, rope)
    return q, k, attn.to_v(h)


def _attend(attn, q, k, v) -> torch.Tensor:
    heads = attn.heads
    out = dispatch_attention_fn(
        q.unflatten(2, (heads, -1)), k.unflatten(2, (heads, -1)), v.unflatten(2, (heads, -1)), dropout_p=0.0
    )
    return out.flatten(2, 3).to(q.dtype)


def _finish(attn, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per-head gate (LTX-2.3's gated attention) and output projection, as the parent does."""
    if attn.to_gate_logits is not None:
        gates = 2.0 * torch.sigmoid(attn.to_gate_logits(h))  # (B, N, heads)
        out = (out.unflatten(2, (attn.heads, -1)) * gates.unsqueeze(-1)).flatten(2, 3)
    return attn.to_out[1](attn.to_out[0](out))


@contextmanager
def reference_kv_cache(transformer):
    """Install :class:`ReferenceKVProcessor` on every block's ``attn1``; restore the old ones on exit.

    Example::

        with reference_kv_cache(transformer) as state:
            record_reference(transformer, state, ref_tokens, text, text_mask, ref_coords)
            state.rows = torch.arange(B)
            v = video_forward(transformer, state, video_tokens, text, text_mask, sigma, video_coords)
    """
    model = getattr(transformer, "module", transformer)  # DDP (accelerate) wraps the model
    blocks = model.transformer_blocks
    saved = [b.attn1.processor for b in blocks]
    state = ReferenceKV()
    try:
        for i, b in enumerate(blocks):
            b.attn1.set_processor(ReferenceKVProcessor(state, i))
        yield state
    finally:
        for b, p in zip(blocks, saved):
            b.attn1.set_processor(p)


def record_reference(
    transformer,
    state: ReferenceKV,
    ref_tokens: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    ref_coords: torch.Tensor,
) -> None:
    """The isolated reference pass: ``ref_tokens`` ``(B, N_r, C)`` alone, timestep 0 and σ = 0,
    with their prompt; fills ``state.kv`` (one cache row per batch row)."""
    b, n_r, _ = ref_tokens.shape
    if ref_coords.shape[0] != b or ref_coords.shape[2] != n_r:
        raise ValueError(f"`ref_coords` must be (B={b}, 3, N_r={n_r}, 2), got {tuple(ref_coords.shape)}.")
    state.mode, state.rows = "record", None
    try:
        zeros = ref_tokens.new_zeros(b)
        transformer_forward(
            transformer, ref_tokens, text, R.token_timesteps(zeros, 0, n_r), zeros, ref_coords, text_mask
        )
    finally:
        state.mode = None


def video_forward(
    transformer,
    state: ReferenceKV,
    video_tokens: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    sigma: torch.Tensor,
    video_coords: torch.Tensor,
    rows: torch.Tensor,
    attention_kwargs: dict | None = None,
    clean_video: torch.Tensor | None = None,
) -> torch.Tensor:
    """Velocity ``(B, N_v, C)`` of the video tokens alone, each row reading cache row ``rows[b]``
    (−1: no reference); ``clean_video`` ``(B, N_v)`` marks tokens given clean (timestep 0)."""
    rows = torch.as_tensor(rows, dtype=torch.long, device=video_tokens.device).reshape(-1)
    if rows.shape[0] != video_tokens.shape[0]:
        raise ValueError(f"`rows` needs one entry per batch row ({video_tokens.shape[0]}), got {rows.shape[0]}.")
    if (rows >= state.n_cached).any():
        raise ValueError(f"`rows` points past the {state.n_cached} recorded references: {rows.tolist()}.")
    b, n_v, _ = video_tokens.shape
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=video_tokens.device).reshape(-1).expand(b)
    state.mode, state.rows = "use", rows
    try:
        ts = R.token_timesteps(sigma, n_v, 0, clean_video)
        return transformer_forward(
            transformer, video_tokens, text, ts, sigma, video_coords, text_mask, None, attention_kwargs
        )
    finally:
        state.mode, state.rows = None, None
