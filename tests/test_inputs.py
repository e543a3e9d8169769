"""Bad input fails early, naming the argument; nothing a user owns is overwritten or left half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from stdrc_lib.cli import main
from stdrc_lib.core import reference as R
from stdrc_lib.core import sampling as S
from stdrc_lib.core.io import atomic_folder
from stdrc_lib.outputs import check_outputs, record_path
from stdrc_lib.pipeline import generate, pipeline_from_backbone
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.text import PromptWarning, ToyTextEncoder
from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipe(toy):
    return pipeline_from_backbone(toy)


def _disc(h: int, w: int) -> np.ndarray:
    """A white disc of radius 0.4·min(h, w) on black, centred: round only if the aspect ratio is kept."""
    y, x = np.mgrid[:h, :w]
    r = 0.4 * min(h, w)
    img = (((y - h / 2 + 0.5) ** 2 + (x - w / 2 + 0.5) ** 2) <= r**2).astype(np.uint8) * 255
    return np.repeat(img[..., None], 3, -1)


def _extent(x: torch.Tensor) -> tuple[float, float]:
    """Height and width of the bright region of ``(3, H, W)`` in ``[−1, 1]``."""
    on = x.mean(0) > 0.5
    return float(on.any(1).sum()), float(on.any(0).sum())


# ------------------------------------------------------------------ references keep their aspect ratio
@pytest.mark.parametrize("shape", [(120, 60), (60, 150)], ids=["portrait", "landscape"])
@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_portrait_and_landscape_references_keep_their_aspect(shape, fit):
    x = R.image_to_tensor(_disc(*shape), (64, 64), fit)
    h, w = _extent(x)
    assert x.shape == (3, 64, 64) and abs(h - w) <= 2, (h, w)  # still a disc
    if fit == "pad":  # letterboxed on mid grey (0 in the model's range)
        border = x[:, 0, :] if shape[0] < shape[1] else x[:, :, 0]
        assert torch.allclose(border, torch.zeros_like(border))


def test_stretch_distorts_and_an_unknown_fit_is_named():
    h, w = _extent(R.image_to_tensor(_disc(120, 60), (64, 64), "stretch"))
    assert w > 1.5 * h  # the disc became an ellipse
    with pytest.raises(ValueError, match="`fit` must be one of"):
        R.image_to_tensor(_disc(8, 8), (4, 4), "squash")


def test_pipeline_reference_fit(pipe):
    with pytest.raises(ValueError, match="`reference_fit`"):
        pipe("a person smiling", reference_image=_disc(120, 60), num_inference_steps=1, reference_fit="squash")
    out = pipe(
        "a person smiling", reference_image=_disc(120, 60), num_frames=5, height=32, width=32, num_inference_steps=1,
        reference_fit="pad", output_type="latent", progress=False,
    )  # fmt: skip
    assert out.frames.shape[2:] == (2, 4, 4)


# ------------------------------------------------------------------ zero, None and wrong types are refused
@pytest.mark.parametrize(
    "kw, name",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"height": 0}, "height"),
        ({"width": 0}, "width"),
        ({"num_frames": "17"}, "num_frames"),
        ({"num_frames": 17.0}, "num_frames"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"generator": "42"}, "generator"),
        ({"generator": 42}, "generator"),
        ({"negative_prompt": None}, "negative_prompt"),
        ({"output_type": "mp4"}, "output_type"),
        ({"reference_guidance_scale": float("nan")}, "reference_guidance_scale"),
        ({"text_guidance_scale": "3"}, "text_guidance_scale"),
        ({"position_scheme": "diagonal"}, "position_scheme"),
    ],
)
def test_pipeline_refuses_before_any_step(pipe, kw, name):
    calls = []
    hook = pipe.transformer.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(ValueError, match=f"`{name}`"):
            pipe("a person smiling", **{"num_inference_steps": 1, "progress": False, **kw})
    finally:
        hook.remove()
    assert not calls, "the transformer ran before the bad argument was found"


def test_nan_or_inf_latents_and_embeds_are_named(pipe, toy):
    bad = torch.full((1, 16, 5, 8, 8), float("nan"))
    with pytest.raises(ValueError, match="`latents` contains"):
        pipe("a person smiling", latents=bad, num_inference_steps=1, output_type="latent", progress=False)
    emb, mask = toy.text_encoder.encode(["a person smiling"])
    emb[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="`prompt_embeds` contains"):
        pipe(prompt_embeds=emb, negative_prompt_embeds=emb, num_inference_steps=1, progress=False)
    null, nmask = toy.text_encoder.encode([""])
    cond = S.Conditioning(*toy.text_encoder.encode(["a"]), null, nmask)
    with pytest.raises(ValueError, match="`latents` contains"):
        S.sample(
            toy.transformer, cond, (2, 4, 4), 1, latents=torch.full((1, 16, 2, 4, 4), float("inf")), progress=False
        )
    with pytest.raises(ValueError, match="`generator`"):
        S.sample(toy.transformer, cond, (2, 4, 4), 1, generator="42", progress=False)


@pytest.mark.parametrize("prompt", [None, [], 42])
def test_generate_names_a_missing_prompt(toy, prompt):
    with pytest.raises(ValueError, match="`prompt`"):
        generate(toy, prompt, None, num_frames=5, height=32, width=32, num_steps=1, progress=False)


# ------------------------------------------------------------------ prompts the toy encoder cannot read
def test_unreadable_words_warn_and_list_what_is_dropped():
    enc = ToyTextEncoder()
    with pytest.warns(PromptWarning, match="cannot read .*一个人在森林里微笑"):
        ids, _ = enc.tokenize("一个人在森林里微笑")
    assert torch.equal(ids, enc.tokenize("")[0])  # what it encodes is the empty prompt, and it says so
    with pytest.warns(PromptWarning, match=r"\['dragon', 'purple'\] are not in its vocabulary"):
        enc.tokenize("a purple dragon")
    long = " ".join(["a person smiling"] * 6)
    with pytest.warns(PromptWarning, match=r"reads 15 words; \['a', 'person', 'smiling'\] are dropped"):
        enc.tokenize(long)
    with pytest.raises(ValueError, match="not in its vocabulary"):
        enc.tokenize("a purple dragon", strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.tokenize(["a person smiling in a forest moving left in warm light", "", "a person, smiling."])


# ------------------------------------------------------------------ outputs are checked before the work
def test_cli_checks_the_output_before_loading_anything(tmp_path, capsys):
    ref = tmp_path / "face.png"
    from PIL import Image

    Image.fromarray(_disc(64, 64)).save(ref)
    base = ["generate", "--model", str(tmp_path / "no-such-model"), "--reference", str(ref), "--prompt", "a"]
    assert main([*base, "--out", str(tmp_path / "clip.txt")]) == 2
    assert "`--out` must end in .mp4 or .gif" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main([*base, "--out", str(tmp_path / "afile" / "clip.mp4")]) == 2
    assert "is a file, so no folder can be made under it" in capsys.readouterr().err
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"a video of mine")
    assert main([*base, "--out", str(mine)]) == 2
    assert "exists and was not written by stdrc" in capsys.readouterr().err
    assert mine.read_bytes() == b"a video of mine"
    assert main([*base, "--frames", "0", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "`--frames` must be a positive integer" in capsys.readouterr().err
    # with the output accepted, the next error is the missing model: the output came first
    assert main([*base, "--out", str(mine), "--overwrite"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_outputs_written_by_stdrc_may_be_replaced(tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        check_outputs([out], record_path(out))
    record_path(out).write_text("{}")  # what stdrc writes beside its own outputs
    assert check_outputs([out], record_path(out)) == [out]
    with pytest.raises(ValueError, match="is a folder"):
        check_outputs([tmp_path], tmp_path / "x.json")


def test_demo_writes_a_record_and_refuses_foreign_files(tmp_path, capsys):
    (tmp_path / "demo.mp4").write_bytes(b"not ours")
    assert main(["demo", "--out", str(tmp_path), "--steps", "1", "--random-weights"]) == 2
    assert "not written by stdrc" in capsys.readouterr().err and (tmp_path / "demo.mp4").read_bytes() == b"not ours"
    out = tmp_path / "new"
    assert main(["demo", "--out", str(out), "--steps", "1", "--random-weights"]) == 0
    rec = json.loads((out / "demo.json").read_text())
    assert rec["written_by"] == "stdrc" and rec["command"].startswith("stdrc") and rec["revision"]
    assert main(["demo", "--out", str(out), "--steps", "1", "--random-weights"]) == 0  # its own files: fine


def test_a_record_names_the_revision_its_process_started_from(monkeypatch):
    from stdrc_lib import outputs

    monkeypatch.setattr(outputs, "git_revision", lambda: "moved-on")  # the checkout moves while a long job runs
    rec = outputs.provenance(None, command="x")
    assert rec["revision"] == outputs.REVISION_AT_START != "moved-on" and rec["revision"]


def test_an_installed_copy_inside_another_repository_does_not_take_its_revision(tmp_path):
    import subprocess

    from stdrc_lib import outputs

    project = tmp_path / "my project"  # a user's own repository (a space in its name), a virtual environment in it
    package_root = project / ".venv" / "lib" / "site-packages"
    package_root.mkdir(parents=True)
    git = ["git", "-c", "user.name=u", "-c", "user.email=u@x", "-C", str(project)]
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    theirs = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert outputs.git_revision(package_root) == f"stdrc {outputs.__version__} (not a git checkout)"
    assert outputs.git_revision(project) == theirs  # at the top of a checkout, its revision is the answer
    (project / "a.txt").write_text("b")
    assert outputs.git_revision(project) == theirs + "-dirty"


def test_train_never_writes_into_the_shipped_weights_by_default(tmp_path, capsys):
    from stdrc_lib.cli import build_parser

    args = build_parser().parse_args(["train"])
    assert args.out is None  # resolved to runs/toy/adapter, not data/toy
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    assert main(["train", "--out", str(foreign), "--steps", "1", "--clips", "4"]) == 2
    assert "holds files stdrc did not write" in capsys.readouterr().err


def test_stdrc_train_without_flags_keeps_each_presets_recipe():
    from stdrc_lib.cli import build_parser
    from stdrc_lib.cli.commands import _trainer_options
    from stdrc_lib.toy.adapter import AdapterConfig
    from stdrc_lib.train.trainer import TrainConfig

    args = build_parser().parse_args(["train"])
    assert AdapterConfig(**_trainer_options(args, {})) == AdapterConfig()  # no flag overrides the toy recipe
    cfg = AdapterConfig(**_trainer_options(build_parser().parse_args(["train", "--sigma-id", "0.5"]), {}))
    assert cfg.sigma_id == 0.5 and cfg.sigma_mean == AdapterConfig().sigma_mean
    full = TrainConfig(**_trainer_options(args, {}))
    assert (full.sigma_id, full.sigma_mean) == (0.5, 0.0)  # the full preset keeps the plain recipe


# ------------------------------------------------------------------ broken files name themselves
def test_a_broken_manifest_is_named(tmp_path):
    folder = tmp_path / "toy"
    TW.save_toy(TW.build_toy(seed=0, num_layers=1), folder)
    (folder / "manifest.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"manifest.json` is not valid JSON"):
        TW.load_toy(folder)


# ------------------------------------------------------------------ resuming with other options
def test_resume_with_other_options_is_refused(tmp_path):
    b = TW.build_toy(seed=0, num_layers=1)
    cache = build_cache(b.vae, 4, progress=False)
    cfg = dict(steps=2, batch=2, warmup=1, n_clips=4, sample_every=0, ckpt_every=1)
    train_toy(b, ToyTrainConfig(**cfg), cache=cache, ckpt_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"other options \(batch: 2 in the checkpoint, 4 now, lr: 0.001 .*0.01 now\)"):
        train_toy(b, ToyTrainConfig(**{**cfg, "batch": 4, "lr": 0.01}), cache=cache, ckpt_dir=tmp_path, progress=False)
    # options that do not change the run may change
    log = train_toy(b, ToyTrainConfig(**{**cfg, "log_every": 7}), cache=cache, ckpt_dir=tmp_path, progress=False)
    assert len(log["losses"]) == 2


# ------------------------------------------------------------------ a killed final write keeps the old weights
KILL_SCRIPT = """
import sys, time
from pathlib import Path
import torch
from stdrc_lib.toy import weights as TW
b = TW.build_toy(seed=1, num_layers=1)
real = b.transformer.save_pretrained
def slow(d, **kw):
    real(d, **kw)
    Path(sys.argv[2]).write_text("written")  # the new files are down, not yet swapped in
    time.sleep(60)
b.transformer.save_pretrained = slow
TW.save_toy(b, sys.argv[1])
"""


@pytest.mark.slow
def test_a_kill_during_the_final_weight_write_keeps_the_previous_weights(tmp_path):
    folder, flag = tmp_path / "toy", tmp_path / "flag"
    TW.save_toy(TW.build_toy(seed=0, num_layers=1), folder)
    before = {k: v.clone() for k, v in TW.load_toy(folder).transformer.state_dict().items()}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(folder), str(flag)], cwd=ROOT)
    try:
        for _ in range(600):
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert flag.exists(), "the writer never reached its write"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    after = TW.load_toy(folder).transformer.state_dict()  # loads, and is the previous model
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert list(tmp_path.glob("toy/.transformer.tmp-*")), "the half-written copy should sit beside it"
    TW.save_toy(TW.build_toy(seed=2, num_layers=1), folder)  # the next save cleans it up
    assert not list(tmp_path.glob("toy/.transformer.*"))


def test_atomic_folder_replaces_whole_folders(tmp_path):
    target = tmp_path / "part"
    atomic_folder(target, lambda d: (d / "a.txt").write_text("1"))
    atomic_folder(target, lambda d: (d / "b.txt").write_text("2"))
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]

    def boom(d):
        (d / "c.txt").write_text("3")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        atomic_folder(target, boom)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"] and len(list(tmp_path.iterdir())) == 1
