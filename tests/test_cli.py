import subprocess
import sys

import numpy as np
import pytest

from stdrc_lib import cli
from stdrc_lib.viz import read_video


def test_help():
    r = subprocess.run([sys.executable, "-m", "stdrc_lib.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout
    r = subprocess.run([sys.executable, "-m", "stdrc_lib.cli", "demo", "--help"], capture_output=True, text=True)
    assert "--s-ref" in r.stdout and "--scheme" in r.stdout


@pytest.mark.slow  # the shipped weights
def test_demo_writes_playable_mp4_and_sheet(tmp_path, capsys):
    rc = cli.main(["demo", "--out", str(tmp_path), "--steps", "2", "--frames", "9"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wrote" in out
    video = read_video(tmp_path / "demo.mp4")
    assert video.shape == (9, 256, 256, 3)  # 64×64 upscaled 4× for viewing
    from PIL import Image

    sheet = np.asarray(Image.open(tmp_path / "demo_contact_sheet.png"))
    assert sheet.ndim == 3 and sheet.shape[1] > sheet.shape[0]


def test_demo_bad_argument_is_reported(tmp_path, capsys):
    rc = cli.main(["demo", "--out", str(tmp_path), "--steps", "2", "--frames", "8"])
    assert rc == 2
    assert "num_frames" in capsys.readouterr().err


def test_demo_gives_the_model_the_reference_whole_as_drawn(monkeypatch):
    """No oracle at inference: the demo conditions on the sample reference exactly as drawn (no re-lighting, no
    crop or cut-out from the renderer's boxes and masks), in the model's look."""
    from stdrc_lib import pipeline as PL
    from stdrc_lib.toy import demo, sample_reference
    from stdrc_lib.toy import weights as TW

    seen = {}

    def fake_generate(backbone, prompt, reference, **kw):
        seen["reference"] = reference
        from types import SimpleNamespace

        import torch

        return SimpleNamespace(frames=torch.zeros(1, 9, 64, 64, 3, dtype=torch.uint8))

    monkeypatch.setattr(PL, "generate", fake_generate)
    bb = TW.build_toy(0)
    bb.extra["look"] = "bold"
    clip = demo.demo_clip(bb, "a person smiling in a forest moving left in warm light", ref_seed=5, progress=False)
    drawn = sample_reference(5, look="bold")
    assert np.array_equal(seen["reference"], drawn) and np.array_equal(clip.reference, drawn)
    assert not np.array_equal(drawn, sample_reference(5))  # the look matters: the classic drawing differs


@pytest.mark.slow  # the shipped weights
def test_readme_library_example_runs():
    """The first code block under 'Using the library' runs as written (2 sampling steps instead of 20)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Using the library") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("\n```", start)]
    assert "num_steps=20" in code and "generate(" in code
    scope: dict = {}
    exec(compile(code.replace("num_steps=20", "num_steps=2"), "README.md", "exec"), scope)
    assert tuple(scope["out"].frames.shape) == (1, 17, 64, 64, 3)
