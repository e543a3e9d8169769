import subprocess
import sys

import numpy as np

from stdrc_lib import cli
from stdrc_lib.viz import read_video


def test_help():
    r = subprocess.run([sys.executable, "-m", "stdrc_lib.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout
    r = subprocess.run([sys.executable, "-m", "stdrc_lib.cli", "demo", "--help"], capture_output=True, text=True)
    assert "--s-ref" in r.stdout and "--scheme" in r.stdout


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
