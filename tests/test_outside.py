"""Life outside the checkout: the wheel carries its weights and results, and the notebooks run from it.

The wheel is built from this checkout and installed into a fresh virtual environment that borrows only the
third-party packages of the running one (a ``.pth`` line to its site-packages; nothing of the checkout is on
the path). The notebooks are copied into an empty folder and executed there in smoke mode. ``toy_backbone()``
raises when it finds no trained weights, so a notebook that loads the toy model proves the wheel's weights
were found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outside")
    wheels = tmp / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w"]
    subprocess.run([*build, str(wheels)], check=True, capture_output=True, cwd=tmp)
    wheel = next(wheels.glob("stdrc-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    work = tmp / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STDRC_DATA")}
    env.update(HF_HUB_OFFLINE="1", STDRC_SMOKE="1", MPLBACKEND="Agg")
    return wheel, py, work, env


def test_the_wheel_carries_weights_and_results(installed):
    wheel = installed[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert "stdrc_lib/data/toy/transformer/diffusion_pytorch_model.safetensors" in names
    assert "stdrc_lib/data/toy/readout/model.safetensors" in names
    assert any(n.startswith("stdrc_lib/results/") and n.endswith(".json") for n in names)
    assert wheel.stat().st_size < 40 * 2**20


def test_the_installed_package_finds_its_weights_not_the_checkout(installed):
    _, py, work, env = installed
    code = (
        "import sys; from stdrc_lib import STDRCPipeline, generate; import stdrc_lib.toy.weights as W; "
        "import stdrc_lib.toy.ablation as A; b = W.toy_backbone(); assert b.trained, b.source; "
        "assert 'site-packages' in b.source, b.source; assert 'site-packages' in str(A.RESULTS); "
        "assert A.load()[0]; print(b.source)"
    )
    r = subprocess.run([py, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(ROOT) not in r.stdout


def test_notebooks_run_from_the_wheel_in_an_empty_folder(installed):
    _, py, work, env = installed
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(nb, work / nb.name)
    r = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake", *sorted(p.name for p in work.glob("*.ipynb"))],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "5 passed" in r.stdout
