"""Life outside the checkout: the wheel carries its weights and results, and the notebooks run from it.

The wheel is built from this checkout and installed into a fresh virtual environment that borrows only the
third-party packages of a prepared one (a ``.pth`` line to its site-packages; nothing of the checkout is on the
path): the running interpreter's, and Python 3.12's in ``.venv312`` where ``.ci/run`` made it (it holds the
project's dependencies, not the project; the test is skipped, and says so, where it is missing). The notebooks
are copied into an empty folder and executed there in smoke mode. ``toy_backbone()`` raises when it finds no
trained weights, so a notebook that loads the toy model proves the wheel's weights were found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


PY312 = ROOT / ".venv312" / "bin" / "python"
PYTHONS = {
    "running": sys.executable,
    "3.12": pytest.param(str(PY312), marks=pytest.mark.skipif(not PY312.exists(), reason=".ci/run makes .venv312")),
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    wheels = tmp_path_factory.mktemp("wheels")
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w"]
    subprocess.run([*build, str(wheels)], check=True, capture_output=True, cwd=wheels)
    return next(wheels.glob("stdrc-*.whl"))


@pytest.fixture(scope="module", params=list(PYTHONS.values()), ids=list(PYTHONS))
def installed(request, wheel, tmp_path_factory):
    base = request.param
    tmp = tmp_path_factory.mktemp("outside")
    venv = tmp / "venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([py, "-c", where], check=True, capture_output=True, text=True).stdout.strip()
    borrowed = subprocess.run([base, "-c", where], check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "borrowed.pth").write_text(borrowed + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    work = tmp / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STDRC_DATA")}
    env.update(HF_HUB_OFFLINE="1", STDRC_SMOKE="1", MPLBACKEND="Agg")
    version = subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True)
    print(f"wheel {wheel.name} ({wheel.stat().st_size / 2**20:.1f} MB) on Python {version.stdout.strip()}")
    return wheel, py, work, env


def test_the_wheel_carries_weights_and_results(installed):
    wheel = installed[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert "stdrc_lib/data/toy/base/transformer/diffusion_pytorch_model.safetensors" in names
    assert "stdrc_lib/data/toy/base/scorer/model.safetensors" in names
    assert "stdrc_lib/data/toy/stdrc/pytorch_lora_weights.safetensors" in names
    claims = ROOT / "docs" / "claims"
    assert {f"stdrc_lib/claims/{p.relative_to(claims).as_posix()}" for p in claims.rglob("*.json")} <= set(names)
    assert wheel.stat().st_size < 40 * 2**20


def test_the_installed_package_finds_its_weights_not_the_checkout(installed):
    _, py, work, env = installed
    code = (
        "import sys; from stdrc_lib import STDRCPipeline, generate; import stdrc_lib.toy.weights as W; "
        "import stdrc_lib.toy.claims as C; b = W.toy_backbone(); assert b.trained, b.source; "
        "assert 'site-packages' in b.source, b.source; assert 'site-packages' in str(C.RESULTS); "
        "print(b.source); print(sorted(C.load_scores()))"
    )
    r = subprocess.run([py, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(ROOT) not in r.stdout
    from stdrc_lib.toy import claims

    assert r.stdout.splitlines()[-1] == str(sorted(claims.load_scores(ROOT / "docs" / "claims")))


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
