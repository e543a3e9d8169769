"""Three-stream classifier-free guidance: one knob for the reference, one for the text.

Write ``v(r, c)`` for the velocity with reference ``r`` (or ``∅``: reference tokens removed or
masked out) and text ``c`` (or ``∅``: the null prompt).

**Reference-first** (default; the Phantom / InstructPix2Pix order)::

    v = v(∅,∅) + s_ref · [v(r,∅) − v(∅,∅)] + s_txt · [v(r,c) − v(r,∅)]

**Text-first** (the text term is taken without the reference, the reference term with the
text)::

    v = v(∅,∅) + s_txt · [v(∅,c) − v(∅,∅)] + s_ref · [v(r,c) − v(∅,c)]

Both are linear in the three streams, ``v = Σ_i w_i · v_i``. For reference-first the streams are
``(v(∅,∅), v(r,∅), v(r,c))`` with weights ``(1 − s_ref, s_ref − s_txt, s_txt)``; for text-first
they are ``(v(∅,∅), v(∅,c), v(r,c))`` with weights ``(1 − s_txt, s_txt − s_ref, s_ref)``.

Reductions (tested):

* ``s_ref = s_txt = s`` → ``v(∅,∅) + s · [v(r,c) − v(∅,∅)]``, plain CFG between the fully
  conditioned and the fully unconditioned streams (the middle weight is 0).
* ``s = 1`` → ``v(r,c)``.

**Guidance interval.** A term whose interval ``[σ_lo, σ_hi]`` does not contain the current σ
uses scale 1, i.e. contributes no extra push; a stream whose weight is 0 need not be run.

**Automatic weighting (rescale).** With ``rescale = φ > 0`` the guided velocity is rescaled, per clip
and per step, so that its standard deviation moves towards that of the fully conditioned stream
``v(r,c)``: ``v ← φ · v · std(v(r,c)) / std(v) + (1 − φ) · v`` (diffusers' ``rescale_noise_cfg``,
Lin et al. 2024). Large scales then stop blowing up the velocity: the effective weights shrink
exactly on the steps where the guidance terms are large.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ORDERS, STREAMS, GuidanceConfig, check_order, stream_weights

if TYPE_CHECKING:
    import torch

__all__ = [
    "ORDERS",
    "STREAMS",
    "GuidanceConfig",
    "check_order",
    "stream_weights",
    "combine",
    "cfg",
    "combine_weighted",
    "rescale",
]


def combine(
    v_uncond: torch.Tensor,
    v_mid: torch.Tensor,
    v_cond: torch.Tensor,
    s_ref: float,
    s_txt: float,
    order: str = "ref_first",
) -> torch.Tensor:
    """Three-stream guidance, written as in the papers.

    ``v_mid`` is ``v(r,∅)`` for ``ref_first`` and ``v(∅,c)`` for ``text_first``.
    """
    check_order(order)
    if order == "ref_first":
        return v_uncond + s_ref * (v_mid - v_uncond) + s_txt * (v_cond - v_mid)
    return v_uncond + s_txt * (v_mid - v_uncond) + s_ref * (v_cond - v_mid)


def cfg(v_uncond: torch.Tensor, v_cond: torch.Tensor, s: float) -> torch.Tensor:
    """Plain classifier-free guidance ``v(∅) + s · [v(c) − v(∅)]``."""
    return v_uncond + s * (v_cond - v_uncond)


def combine_weighted(velocities: list[torch.Tensor | None], weights: tuple[float, ...]) -> torch.Tensor:
    """``Σ w_i v_i``, skipping streams with weight 0 (they may be None: not computed)."""
    out = None
    for v, w in zip(velocities, weights):
        if w == 0:
            continue
        if v is None:
            raise ValueError("a stream with non-zero guidance weight was not computed.")
        out = w * v if out is None else out + w * v
    if out is None:
        raise ValueError("all guidance weights are zero; at least one stream must contribute.")
    return out


def rescale(v: torch.Tensor, v_cond: torch.Tensor, phi: float) -> torch.Tensor:
    """Pull the per-clip standard deviation of the guided ``v`` towards that of ``v_cond`` by ``phi``."""
    from diffusers.pipelines.ltx2.pipeline_ltx2 import rescale_noise_cfg

    if v.shape != v_cond.shape:
        raise ValueError(f"`v` {tuple(v.shape)} and `v_cond` {tuple(v_cond.shape)} must have the same shape.")
    return v if phi == 0 else rescale_noise_cfg(v, v_cond, guidance_rescale=phi)
