"""Real-browser tests of notebooks 01, 02 and 04: JupyterLab on 127.0.0.1, Debian's chromium driven by Playwright,
through the steps of ``docs/make_screenshots.py`` (which also makes the README's screenshots).

Never runs `playwright install`: it uses /usr/bin/chromium (`apt-get install -y chromium`, which
`.ci/run` does). Skipped, with the reason, where chromium or playwright is missing.
The screenshots go to $STDRC_SCREENSHOT_DIR (default: runs/browser/).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_screenshots", ROOT / "docs" / "make_screenshots.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(shots.CHROMIUM).exists(), reason="needs chromium: apt-get install -y chromium"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright` (no browser download)")
    tmp = tmp_path_factory.mktemp("browser")
    out = Path(os.environ.get("STDRC_SCREENSHOT_DIR", ROOT / "runs" / "browser"))
    out.mkdir(parents=True, exist_ok=True)
    with shots.jupyterlab(tmp / "lab", list(shots.NOTEBOOKS.values())) as (url, token):
        with shots.browser(tmp / "profile") as ctx:
            yield ctx, url, token, out


def test_first_clip_of_notebook_01_plays(lab):
    ctx, url, token, out = lab
    info = shots.first_clip(ctx, url, token, out / "screenshot_01_first_clip.png")
    assert info["error"] is None, f"the browser could not decode the clip: {info}"
    assert info["ready"] >= 2, info
    assert (info["width"], info["height"]) == (256, 256), info  # 64×64 frames shown 4× larger
    assert info["duration"] == pytest.approx(17 / 8, abs=0.2), info  # 17 frames at 8 fps


def test_attention_explorer_of_notebook_02_follows_the_head(lab):
    ctx, url, token, out = lab
    before, after = shots.attention_head(ctx, url, token, out / "screenshot_02_attention_head.png")
    assert before and after != before, "the attention map did not change after choosing head 0"


def test_guidance_explorer_slider_changes_the_clip(lab):
    ctx, url, token, out = lab
    before, after, (start, end) = shots.guidance_panel(ctx, url, token, out / "screenshot_04_guidance_panel.png")
    assert end.strip() != start.strip(), "the s_ref slider did not move"
    assert before and after != before, "the displayed clip did not change after moving the slider"
