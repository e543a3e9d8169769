"""The one learning-rate schedule: linear warm-up, then a cosine down to ``floor`` of the peak.

    f(s) = min(1, (s + 1) / warmup) · (floor + (1 − floor) · ½ · (1 + cos(π · min(s, steps) / steps)))

``warmup = 0`` starts at the peak. Used with ``torch.optim.lr_scheduler.LambdaLR``.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(steps: int, warmup: int = 0, floor: float = 0.0) -> Callable[[int], float]:
    """The factor ``f(step)`` that multiplies the peak learning rate (see the module docstring)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"`steps` must be a positive integer, got {steps!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"`warmup` must be an integer ≥ 0, got {warmup!r}.")
    if not 0 <= floor <= 1:
        raise ValueError(f"`floor` must be in [0, 1], got {floor!r}.")

    def f(s: int) -> float:
        ramp = min(1.0, (s + 1) / warmup) if warmup else 1.0
        return ramp * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))

    return f
