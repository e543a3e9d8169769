"""Screenshots of the notebooks as a reader sees them: JupyterLab in Debian's chromium, driven by Playwright.

    python docs/make_screenshots.py            # writes docs/img/screenshot_*.png
    python docs/make_screenshots.py --out DIR  # elsewhere

Each notebook is copied to a temporary folder (JupyterLab autosaves; the repository's notebooks stay free of
outputs), run with "Run All Cells" in smoke mode (``STDRC_SMOKE=1``), and photographed:

- 01: the first generated clip, playing (an HTML5 video);
- 02: the attention explorer after choosing head 0;
- 04: the guidance panel after dragging the ``s_ref`` slider.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and ``pip install playwright``; it never runs
``playwright install``. ``tests/test_browser.py`` drives the same steps and checks what they show.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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
NOTEBOOKS = {
    "01": "01_reference_encoding.ipynb",
    "02": "02_tass_rope_and_attention.ipynb",
    "04": "04_guidance_explorer.ipynb",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(work: Path, notebooks: list[str]):
    """Serve copies of ``notebooks`` from ``work/notebooks`` on 127.0.0.1; yields ``(url, token)``."""
    (work / "notebooks").mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        shutil.copy(ROOT / "notebooks" / name, work / "notebooks")
    port, token = _free_port(), "stdrc-browser"
    env = {**os.environ, "STDRC_SMOKE": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
        "--ServerApp.open_browser=False", f"--ServerApp.runtime_dir={work / 'rt'}",
        "--LabApp.news_url=", "--LabServerApp.extensions_in_dev_mode=False",
    ]  # fmt: skip
    log_path = work / "jupyter.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                raise RuntimeError("JupyterLab did not start: " + log_path.read_text()[-2000:])
            yield url, token
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def browser(profile: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=FLAGS, headless=True, viewport={"width": 1400, "height": 1000}
        )
        try:
            yield ctx
        finally:
            ctx.close()


def run_all(ctx, url: str, token: str, name: str):
    """Open a notebook and run all its cells; returns the page."""
    page = ctx.new_page()
    # a workspace of its own, reset: no tab of an earlier notebook comes back beside it
    page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}?reset&token={token}", timeout=120_000)
    page.wait_for_selector(".jp-Notebook:visible", timeout=120_000)
    page.wait_for_timeout(3000)  # cells queued before the kernel is up still run once it is
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    return page


def _dismiss_news(page) -> None:
    no = page.get_by_role("button", name="No", exact=True)
    if no.count():
        no.first.click()  # JupyterLab's "news?" toast sits bottom-right and can cover outputs


def _wait_change(read, before, timeout_s: float):
    t0, now = time.time(), before
    while now == before and time.time() - t0 < timeout_s:
        time.sleep(1)
        now = read() or before
    return now


def first_clip(ctx, url: str, token: str, shot: Path) -> dict:
    """01: wait for the first clip's <video>, let it load, photograph its output; returns what the browser says
    about the video (ready state, duration, size, error)."""
    page = run_all(ctx, url, token, NOTEBOOKS["01"])
    video = page.locator(".jp-OutputArea-output video").first
    video.wait_for(timeout=300_000)
    video.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_function("e => e.readyState >= 2 || e.error !== null", arg=video.element_handle(), timeout=60_000)
    info = video.evaluate(
        "e => ({ready: e.readyState, duration: e.duration, width: e.videoWidth, height: e.videoHeight,"
        " error: e.error ? e.error.code : null})"
    )
    video.evaluate("e => { e.currentTime = e.duration / 2; }")  # a frame from the middle, not the first
    page.wait_for_timeout(500)
    _dismiss_news(page)
    video.locator("xpath=ancestor::table[1]").first.screenshot(path=str(shot))  # mediapy's title and video
    page.close()
    return info


def attention_head(ctx, url: str, token: str, shot: Path) -> tuple[str, str]:
    """02: run the notebook, pick head 0 in the attention explorer, photograph it; returns the image sources
    before and after."""
    page = run_all(ctx, url, token, NOTEBOOKS["02"])
    box = page.locator(".widget-interact").first
    box.wait_for(timeout=300_000)
    img = box.locator(".widget-output img").first
    img.wait_for(timeout=120_000)
    before = img.get_attribute("src")
    box.evaluate("e => e.scrollIntoView({block: 'center'})")
    _dismiss_news(page)
    box.locator("select").first.select_option("0")
    after = _wait_change(lambda: box.locator(".widget-output img").first.get_attribute("src"), before, 120)
    page.wait_for_timeout(500)
    box.screenshot(path=str(shot))
    page.close()
    return before, after


def guidance_panel(ctx, url: str, token: str, shot: Path) -> tuple[str, str, tuple[str, str]]:
    """04: drag the first slider (``s_ref``) towards the middle of its range and photograph the panel once the clip
    has changed; returns the image sources before and after, and the slider's readouts before and after."""
    page = run_all(ctx, url, token, NOTEBOOKS["04"])
    page.wait_for_selector(".widget-output img", timeout=300_000)
    read = lambda: page.locator(".widget-output img").first.get_attribute("src")  # noqa: E731
    before = read()
    _dismiss_news(page)
    value = page.locator(".widget-slider .widget-readout").first
    start = value.inner_text()
    step = -120 if float(start) > 5 else 120
    slider = page.locator(".widget-slider .noUi-handle").first
    slider.evaluate("e => e.scrollIntoView({block: 'center'})")  # clear of toasts at the viewport's edges
    page.wait_for_timeout(500)
    b = slider.bounding_box()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2 + step, b["y"] + b["height"] / 2, steps=8)
    page.mouse.up()
    after = _wait_change(read, before, 240)
    readout = value.inner_text()
    _dismiss_news(page)  # the toast can come back late
    page.locator(".widget-output").first.scroll_into_view_if_needed()
    page.screenshot(path=str(shot))
    page.close()
    return before, after, (start, readout)


SHOTS = {
    "01": ("screenshot_01_first_clip.png", first_clip),
    "02": ("screenshot_02_attention_head.png", attention_head),
    "04": ("screenshot_04_guidance_panel.png", guidance_panel),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Screenshots of notebooks 01, 02 and 04 in a real browser.")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder for the PNGs (default: docs/img)")
    ap.add_argument("--only", nargs="+", choices=sorted(SHOTS), default=sorted(SHOTS), help="which notebooks")
    a = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium")
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with jupyterlab(tmp / "lab", [NOTEBOOKS[k] for k in a.only]) as (url, token), browser(tmp / "profile") as ctx:
            for k in a.only:
                name, take = SHOTS[k]
                res = take(ctx, url, token, a.out / name)
                print(f"{a.out / name}: {res if k == '01' else 'changed' if res[0] != res[1] else 'UNCHANGED'}")


if __name__ == "__main__":
    main()
