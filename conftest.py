"""Root pytest configuration: offline, notebooks in smoke mode (nbmake kernels inherit the environment), tiers.

``pytest -m "not slow"`` is the fast tier: every test of the method core, the trainer, the pipeline and the
toy world on tiny random models. The slow tier adds the notebooks, the real-browser test, the multi-process
and kill-and-resume tests, and the tests of the shipped weights. ``pytest`` runs both.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("STDRC_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

SLOW_FILES = {"test_browser.py", "test_resume.py", "test_shipped_weights.py", "test_unchanged.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb" or item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
