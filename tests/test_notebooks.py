"""Static checks of the workbook; nbmake executes the notebooks themselves (smoke mode) in the same run."""

import json
import re
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def _load(p):
    return json.loads(p.read_text())


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_matches_its_source(path):
    """The ``.py`` (jupytext, py:percent) is the file people edit; the ``.ipynb`` beside it must be what it makes
    (``jupytext --sync notebooks/*.py`` after an edit)."""
    import jupytext

    source = path.with_suffix(".py")
    assert source.is_file(), f"{path.name} has no source {source.name}"
    nb = jupytext.read(path)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", "pair it: jupytext --set-formats"
    assert _cells(jupytext.read(source)) == _cells(nb), f"{path.name} differs from {source.name}: run jupytext --sync"


def test_the_sync_check_fails_when_either_side_is_edited_alone(tmp_path):
    import shutil

    import jupytext

    for edited in (".ipynb", ".py"):
        folder = tmp_path / edited.strip(".")
        folder.mkdir()
        for suffix in (".ipynb", ".py"):
            shutil.copy(NOTEBOOKS[0].with_suffix(suffix), folder / NOTEBOOKS[0].with_suffix(suffix).name)
        copy = folder / NOTEBOOKS[0].name
        test_each_notebook_matches_its_source(copy)  # as checked in: they agree
        nb = jupytext.read(copy.with_suffix(edited))
        code = next(c for c in nb.cells if c.cell_type == "code")
        code.source += "\nprint('edited in one place only')"
        jupytext.write(nb, copy.with_suffix(edited), fmt="ipynb" if edited == ".ipynb" else "py:percent")
        with pytest.raises(AssertionError, match="differs from"):
            test_each_notebook_matches_its_source(copy)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs(path):
    for cell in _load(path)["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_badge_and_install_cell(path):
    cells = _load(path)["cells"]
    head = "".join(cells[0]["source"])
    badge = re.search(r"colab\.research\.google\.com/github/[^)]+/blob/main/(notebooks/[^)]+\.ipynb)", head)
    assert badge and badge.group(1) == f"notebooks/{path.name}", "the Colab badge must point at this notebook"
    for part in ("What you will learn", "Prerequisites", "Expected run time"):
        assert part in head
    install = cells[1]
    assert "skip-execution" in install["metadata"].get("tags", []) and "google.colab" in "".join(install["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_config_cell_summary_and_exercises(path):
    cells = _load(path)["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert sum("smoke_mode()" in s for s in sources) == 1, "exactly one config cell reads the smoke switch"
    assert any("seed_everything" in s for s in sources)
    md = [s for c, s in zip(cells, sources) if c["cell_type"] == "markdown"]
    i_sum = next(i for i, s in enumerate(md) if s.startswith("## Summary"))
    i_ex = next(i for i, s in enumerate(md) if s.startswith("## Exercises"))
    assert i_sum < i_ex and any("<details>" in s for s in md[i_ex:])


def test_badges_and_install_cells_come_from_the_one_repository_url():
    text = (NB_DIR.parent / "pyproject.toml").read_text()
    repo = re.search(r'^Repository\s*=\s*"https://github\.com/([^"]+)"', text, re.M).group(1).rstrip("/")
    for path in NOTEBOOKS:
        cells = _load(path)["cells"]
        assert f"colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name}" in "".join(cells[0]["source"])
        assert f"git+https://github.com/{repo}.git" in "".join(cells[1]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_cites_the_paper_and_maps_it_to_the_library(path):
    cells = _load(path)["cells"]
    md = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "https://arxiv.org/abs/2606.02441" in md
    assert re.search(r"^\| the paper.*\| (in the library|where it is tested) \|$", md, re.M), "no paper → library table"
    if not path.name.startswith("05"):  # the method's notebooks typeset its equations
        assert md.count("$$") >= 2


def test_the_pipeline_diagram_names_every_part():
    import matplotlib

    matplotlib.use("Agg")
    from stdrc_lib.viz import pipeline_diagram

    texts = " ".join(t.get_text() for t in pipeline_diagram().axes[0].texts)
    for part in ("reference image", "VAE encoder", "timestep 0", "text encoder", "LTX-2 transformer", "TASS-RoPE"):
        assert part in texts
