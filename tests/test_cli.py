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


@pytest.mark.slow  # the shipped weights
def test_demo_relights_the_reference_to_the_light_the_prompt_names():
    """With trained weights and a readout, a prompt naming a light re-lights the reference; a prompt naming none,
    or random weights, leave it as it is (the very same array)."""
    from pathlib import Path
    from types import SimpleNamespace

    import pytest

    from stdrc_lib.toy import sample_reference
    from stdrc_lib.toy.demo import light_matched

    folder = Path(__file__).resolve().parents[1] / "data" / "toy"
    if not (folder / "readout" / "model.safetensors").is_file():
        pytest.skip("no shipped readout in data/toy")
    ref = sample_reference(3)  # drawn in bright light
    trained = SimpleNamespace(trained=True, source=str(folder))
    dim = light_matched(trained, ref, "a person smiling in a forest moving left in dim light")
    assert dim.shape == ref.shape and dim.dtype == np.uint8
    assert dim.mean() < 0.6 * ref.mean()  # dim light is about half as bright as bright light
    assert light_matched(trained, ref, "a person smiling in a forest in bright light") is not ref  # re-lit...
    assert np.abs(light_matched(trained, ref, "in bright light").astype(int) - ref).max() <= 1  # ...to itself
    assert light_matched(trained, ref, "a person smiling in a forest moving left") is ref
    assert light_matched(SimpleNamespace(trained=False, source="random"), ref, "in dim light") is ref


@pytest.mark.slow  # the shipped weights
def test_readme_library_example_runs():
    """The first code block under 'Using the library' runs as written (2 sampling steps instead of 20)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Using the library") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("\n```", start)]
    assert "num_steps=20" in code and "match_prompt_light" in code and "generate(" in code
    scope: dict = {}
    exec(compile(code.replace("num_steps=20", "num_steps=2"), "README.md", "exec"), scope)
    assert tuple(scope["out"].frames.shape) == (1, 17, 64, 64, 3)
    assert not np.array_equal(scope["ref_in"], scope["ref"])  # re-lit to warm light and cut out
