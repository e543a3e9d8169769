"""Small helpers shared by notebooks and scripts."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, numpy and torch; returns a fresh ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def smoke_mode() -> bool:
    """True when ``STDRC_SMOKE=1`` (CI and quick checks): notebooks use tiny settings."""
    return os.environ.get("STDRC_SMOKE", "0") not in ("0", "", "false", "False")
