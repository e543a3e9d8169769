"""Root pytest configuration: offline, and notebooks in smoke mode (nbmake kernels inherit the environment)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("STDRC_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
