"""Real-browser test of notebook 04: JupyterLab on 127.0.0.1, Debian's chromium driven by Playwright.

Never runs `playwright install`: it uses /usr/bin/chromium (`apt-get install -y chromium`, which
`.ci/run` does). Skipped, with the reason, where chromium or playwright is missing.
The screenshot goes to $STDRC_SCREENSHOT_DIR (default: runs/browser/).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    # serve a copy: JupyterLab autosaves, and the repository's notebooks must stay output-free
    work = tmp_path / "lab"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "04_guidance_explorer.ipynb", work / "notebooks")
    port, token = _free_port(), "stdrc-browser-test"
    env = {**os.environ, "STDRC_SMOKE": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
        "--ServerApp.open_browser=False", f"--ServerApp.runtime_dir={tmp_path / 'rt'}",
        "--LabApp.news_url=", "--LabServerApp.extensions_in_dev_mode=False",
    ]  # fmt: skip
    log = open(tmp_path / "jupyter.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (tmp_path / "jupyter.log").read_text()[-2000:])
    yield url, token
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _output_image(page) -> str | None:
    imgs = page.locator(".widget-output img")
    return imgs.first.get_attribute("src") if imgs.count() else None


def test_guidance_explorer_slider_changes_the_clip(jupyterlab, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright` (no browser download)")
    url, token = jupyterlab
    shots = Path(os.environ.get("STDRC_SCREENSHOT_DIR", ROOT / "runs" / "browser"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )  # fmt: skip
        page = ctx.new_page()
        page.goto(f"{url}/lab/tree/notebooks/04_guidance_explorer.ipynb?token={token}", timeout=120_000)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_timeout(3000)  # cells queued before the kernel is up still run once it is
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        page.wait_for_selector(".widget-output img", timeout=300_000)
        before = _output_image(page)
        assert before
        no_news = page.get_by_role("button", name="No", exact=True)
        if no_news.count():
            no_news.first.click()  # JupyterLab's "news?" toast sits bottom-right, where it can cover the slider
        slider = page.locator(".widget-slider .noUi-handle").first
        slider.evaluate("e => e.scrollIntoView({block: 'center'})")  # clear of toasts at the viewport's edges
        page.wait_for_timeout(500)
        box = slider.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        t0 = time.time()
        after = before
        while after == before and time.time() - t0 < 240:
            time.sleep(1)
            after = _output_image(page) or before
        readout = page.locator(".widget-slider .widget-readout").first.inner_text()
        if no_news.count():
            no_news.first.click()  # the toast can come back late; it would cover the picture
        page.locator(".widget-output").first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "04_guidance_explorer_after_slider.png"))
        ctx.close()
    assert readout.strip() != "2.00", "the s_ref slider did not move"
    assert after != before, "the displayed clip did not change after moving the slider"
