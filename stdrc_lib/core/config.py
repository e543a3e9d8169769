"""The settings a user chooses, in one place, with no heavy imports: position schemes and guidance.

:class:`GuidanceConfig`'s defaults are the library's defaults: ``STDRCPipeline``, ``stdrc demo``,
``stdrc generate``, ``stdrc eval`` and the notebooks all take them from here. ``docs/STDRC.md`` gives the rule,
fixed before its sweeps on held-out clips other than the headline's, that chooses the shipped toy model's
``s_ref`` and ``s_txt`` (``bench/pick_guidance.py``). The equations are in :mod:`stdrc_lib.core.guidance` and
:mod:`stdrc_lib.core.positions`.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLING_STEPS = 20  # Euler steps of a generation unless the caller asks for more


SCHEMES = ("shared", "temporal", "spatial", "tass", "temporal_pre", "tass_pre", "nope")


@dataclass(frozen=True)
class PositionConfig:
    """Offsets of a reference position scheme.

    Args:
        scheme: one of ``SCHEMES``.
        dt_frames: temporal offset in video frames before frame 0 (``temporal_pre``, ``tass_pre``; ``temporal``
            and ``tass`` place the reference at the latent frame after the video's last).
        dh: spatial offset along height, in multiples of the video height in pixels.
        dw: spatial offset along width, in multiples of the video width in pixels.
        fps: frame rate used to turn frames into seconds (LTX-2's convention).
    """

    scheme: str = "tass"
    dt_frames: float = 1.0
    dh: float = 1.0
    dw: float = 1.0
    fps: float = 24.0

    def __post_init__(self) -> None:
        check_scheme(self.scheme)
        if not self.fps > 0:
            raise ValueError(f"`fps` must be > 0, got {self.fps!r}.")


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"`scheme` must be one of {SCHEMES}, got {scheme!r}.")
    return scheme


ORDERS = ("ref_first", "text_first")

# Each stream is (reference present, text present).
STREAMS = {
    "ref_first": ((False, False), (True, False), (True, True)),
    "text_first": ((False, False), (False, True), (True, True)),
}


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"`order` must be one of {ORDERS}, got {order!r}.")
    return order


@dataclass(frozen=True)
class GuidanceConfig:
    """Scales, order and optional σ-intervals of the two guidance terms."""

    s_ref: float = 2.0
    s_txt: float = 3.0
    order: str = "ref_first"
    ref_interval: tuple[float, float] | None = None
    txt_interval: tuple[float, float] | None = None
    rescale: float = 0.0

    def __post_init__(self) -> None:
        check_order(self.order)
        for name in ("s_ref", "s_txt"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v != v or abs(v) == float("inf"):
                raise ValueError(f"`{name}` must be a finite number, got {v!r}.")
        if not isinstance(self.rescale, (int, float)) or not 0 <= self.rescale <= 1:
            raise ValueError(f"`rescale` must be in [0, 1] (0 = off), got {self.rescale!r}.")
        for name in ("ref_interval", "txt_interval"):
            iv = getattr(self, name)
            if iv is not None and (len(iv) != 2 or not 0 <= iv[0] <= iv[1] <= 1):
                raise ValueError(f"`{name}` must be (σ_lo, σ_hi) with 0 ≤ σ_lo ≤ σ_hi ≤ 1, got {iv!r}.")

    def scales_at(self, sigma: float) -> tuple[float, float]:
        """``(s_ref, s_txt)`` in force at noise level σ (1 outside a term's interval)."""
        return _in(self.ref_interval, sigma, self.s_ref), _in(self.txt_interval, sigma, self.s_txt)

    def weights_at(self, sigma: float) -> tuple[float, float, float]:
        return stream_weights(self.order, *self.scales_at(sigma))


def _in(interval, sigma: float, scale: float) -> float:
    if interval is None or interval[0] <= sigma <= interval[1]:
        return float(scale)
    return 1.0


def stream_weights(order: str, s_ref: float, s_txt: float) -> tuple[float, float, float]:
    """Weights ``w`` of the three streams ``STREAMS[order]`` such that ``v = Σ w_i v_i``."""
    check_order(order)
    if order == "ref_first":
        return (1.0 - s_ref, s_ref - s_txt, s_txt)
    return (1.0 - s_txt, s_txt - s_ref, s_ref)
