"""Small input checks shared by the public entry points. Each error names the argument."""

from __future__ import annotations

import torch


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` naming ``name`` when ``x`` holds NaN or Inf (``meta`` tensors hold no values)."""
    if x.is_floating_point() and x.device.type != "meta" and not torch.isfinite(x).all():
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(f"`{name}` contains {n_nan} NaN and {n_inf} Inf values; expected finite numbers.")
    return x


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def check_choice(value, choices, name: str):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {value!r}.")
    return value


def check_generator(generator, name: str = "generator") -> None:
    """``None`` or a ``torch.Generator`` (a seed is not one: ``torch.Generator().manual_seed(seed)``)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(
            f"`{name}` must be a torch.Generator or None, got {type(generator).__name__} {generator!r}; "
            "for a seed pass torch.Generator().manual_seed(seed)."
        )
