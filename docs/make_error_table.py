"""Regenerate docs/ERRORS.md: every bad input we test, and the message a user actually gets.

    python docs/make_error_table.py            # rewrites docs/ERRORS.md
    python docs/make_error_table.py --check    # exit 1 if docs/ERRORS.md is out of date (used by the tests)

Each case calls the public API with one bad input and records the exception type and message.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "ERRORS.md"


def cases(tmp: Path):
    from PIL import Image

    from stdrc_lib.cli import main
    from stdrc_lib.core import backbone as bb
    from stdrc_lib.core import guidance as G
    from stdrc_lib.core import positions as P
    from stdrc_lib.core import reference as R
    from stdrc_lib.core import sampling as S
    from stdrc_lib.pipeline import generate, pipeline_from_backbone
    from stdrc_lib.prep import crop as PC
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.render import relight, render_eval_reference
    from stdrc_lib.toy.text import ToyTextEncoder
    from stdrc_lib.toy.train import ToyTrainConfig
    from stdrc_lib.toy.world import Identity, Prompt, light_in_prompt
    from stdrc_lib.train import checkpoint as C

    toy = TW.build_toy(seed=0, num_layers=1)
    te = tmp / "te"
    shutil.copytree(TW.BASE_DIR / "text_encoder", te)
    cfg = json.loads((te / "config.json").read_text())
    cfg["hidden_size"] = 7
    (te / "config.json").write_text(json.dumps(cfg))
    trunc = tmp / "toy"
    shutil.copytree(TW.BASE_DIR, trunc)
    f = trunc / "text_encoder" / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    notimg = tmp / "notes.png"
    notimg.write_text("not an image")
    nan_img = np.random.rand(8, 8, 3).astype(np.float32)
    nan_img[0, 0, 0] = np.nan
    z_inf = torch.zeros(1, 16, 2, 4, 4)
    z_inf[0, 0, 0, 0, 0] = float("inf")
    e, m = toy.text_encoder.encode(["a", "b"])
    ref1 = torch.zeros(1, 16, 16)
    e_inf = e.clone()
    e_inf[0, 0, 0] = float("inf")
    face = tmp / "face.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(face)
    mine = tmp / "mine.mp4"
    mine.write_bytes(b"someone's video")
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "demo.mp4").write_bytes(b"someone's video")
    broken = tmp / "broken"
    shutil.copytree(TW.BASE_DIR, broken, ignore=shutil.ignore_patterns("readout"))
    (broken / "manifest.json").write_text("{ not json")

    yield "image: not an image (a file name)", lambda: R.image_to_tensor("face.png")
    yield (
        "image: not an image (a text file, CLI)",
        lambda: main(["generate", "--model", "m", "--reference", str(notimg), "--prompt", "x"]),
    )
    yield "image: 5 channels", lambda: R.image_to_tensor(np.zeros((8, 8, 5), np.uint8))
    yield "image: 4-D array", lambda: R.image_to_tensor(np.zeros((2, 8, 8, 3), np.uint8))
    yield "image: 0×4 pixels", lambda: R.image_to_tensor(np.zeros((0, 4, 3), np.uint8))
    yield "image: 9000×16 pixels (very large)", lambda: R.image_to_tensor(np.zeros((9000, 16, 3), np.uint8))
    yield "image: float values outside [0, 1]", lambda: R.image_to_tensor(np.full((4, 4, 3), 3.0, np.float32))
    yield "image: contains NaN", lambda: R.image_to_tensor(nan_img)
    yield "faces: no face in the picture", lambda: _no_face()
    yield "latents: contain Inf", lambda: R.decode(toy.vae, z_inf)
    yield "video: 4-D instead of 5-D", lambda: R.encode(toy.vae, torch.zeros(1, 3, 32, 32))
    yield "video: 6 frames (not k·4+1)", lambda: R.encode(toy.vae, torch.zeros(1, 3, 6, 32, 32))
    yield "video: 30×32 pixels (not multiples of 8)", lambda: R.encode(toy.vae, torch.zeros(1, 3, 5, 30, 32))
    yield "generate: num_frames=8", lambda: generate(toy, "a", None, num_frames=8, num_steps=1, progress=False)
    yield "generate: num_steps=0", lambda: generate(toy, "a", None, num_frames=5, num_steps=0, progress=False)
    yield (
        "generate: 3 references for 2 prompts",
        lambda: generate(
            toy, ["a", "b"], [np.zeros((8, 8, 3), np.uint8)] * 3, num_frames=5, num_steps=1, progress=False
        ),
    )
    yield "conditioning: reference batch ≠ prompt batch", lambda: S.Conditioning(e, m, e, m, [ref1], [(4, 4)])
    yield "positions: unknown scheme", lambda: P.PositionConfig(scheme="diagonal")
    yield "guidance: unknown order", lambda: G.GuidanceConfig(order="sideways")
    yield "guidance: s_ref = inf", lambda: G.GuidanceConfig(s_ref=float("inf"))
    yield "guidance: rescale = 1.5", lambda: G.GuidanceConfig(rescale=1.5)
    yield "training: p_text = 1.5", lambda: ToyTrainConfig(p_text=1.5)
    yield "weights: truncated safetensors", lambda: TW.load_toy(trunc)
    yield "config: unknown key", lambda: ToyTextEncoder.load(te)
    yield "weights: LTX-2.3 missing while offline", lambda: bb.load_full(tmp / "no-such-folder")
    yield "pipeline: hub id while offline", lambda: _pipe_offline()
    yield "checkpoint: folder is not a checkpoint", lambda: C.load_checkpoint(tmp, {})
    yield "faces: insightface pack missing", lambda: _missing_pack(tmp)
    yield "fine-tuning (CLI): --preset full without --model / --data", lambda: main(["train", "--preset", "full"])
    yield "fine-tuning: a video without a caption", lambda: _uncaptioned(tmp)
    yield "fine-tuning: --lambda-id with the full preset", lambda: _full_with_id(tmp)
    yield (
        "fine-tuning (CLI): --p-relight with the full preset",
        lambda: main(["train", "--preset", "full", "--p-relight", "0.5"]),
    )
    yield (
        "toy world: re-light with a light index out of range",
        lambda: relight(torch.zeros(1, 3, 8, 8), torch.tensor([0]), torch.tensor([3])),
    )
    yield (
        "toy world: a prompt naming two lights",
        lambda: light_in_prompt("a person in dim light then in warm light"),
    )
    yield (
        "eval: unknown reference light",
        lambda: _evaluate(toy, ref_light="oracle"),
    )
    yield (
        "reference: face crop with one box for two images",
        lambda: PC.crop_face(torch.zeros(2, 3, 8, 8), torch.zeros(1, 4)),
    )
    yield (
        "reference: face cut-out with a mask of the wrong size",
        lambda: PC.cutout_face(torch.zeros(2, 3, 8, 8), torch.zeros(2, 4, 4), torch.zeros(2, 4)),
    )
    yield (
        "reference: a cut-out reference prepared without its mask",
        lambda: PC.prepare_reference(np.zeros((8, 8, 3), np.uint8), "cutout", box=(0.5, 0.5, 0.3, 0.4)),
    )
    yield (
        "fine-tuning (CLI): --p-cross-ref with the full preset",
        lambda: main(["train", "--preset", "full", "--p-cross-ref", "0.5"]),
    )
    yield (
        "toy world: evaluation reference keeping an unknown part of the context",
        lambda: render_eval_reference(Identity.from_index(0), Prompt(), np.random.default_rng(0), keep=("pose",)),
    )
    yield (
        "fine-tuning (CLI): --base a folder without a base model",
        lambda: main(["train", "--base", str(tmp / "no-model-here"), "--out", str(tmp / "adapter")]),
    )
    yield "readout fine-tune: weight for an unknown attribute", lambda: _readout_weights()
    yield "denoising probe: σ outside (0, 1)", lambda: _denoising(toy, sigmas=(0.0, 0.9))
    yield "claims study: a contrast between variants scored on different clips", lambda: _unpaired()
    yield "claims study: a results folder that does not exist", lambda: _claims_folder(tmp)
    pipe = pipeline_from_backbone(toy)
    small = dict(num_frames=5, height=32, width=32, num_inference_steps=1, progress=False)
    yield "pipeline: num_frames=0", lambda: pipe("a person smiling", **{**small, "num_frames": 0})
    yield "pipeline: height given as a string", lambda: pipe("a person smiling", **{**small, "height": "64"})
    yield "pipeline: a seed where a generator goes", lambda: pipe("a person smiling", generator="42", **small)
    yield "pipeline: negative_prompt=None", lambda: pipe("a person smiling", negative_prompt=None, **small)
    yield (
        "pipeline: NaN starting latents",
        lambda: pipe("a", latents=torch.full((1, 16, 2, 4, 4), float("nan")), **small),
    )
    yield "pipeline: Inf in prompt_embeds", lambda: pipe(prompt_embeds=e_inf, negative_prompt_embeds=e, **small)
    yield "pipeline: unknown reference_fit", lambda: pipe("a", reference_image=np.zeros((8, 4, 3), np.uint8),
                                                       reference_fit="squash", **small)  # fmt: skip
    yield "generate: prompt=None", lambda: generate(toy, None, None, num_frames=5, num_steps=1, progress=False)
    yield (
        "prompt: another script (strict; otherwise a warning)",
        lambda: toy.text_encoder.tokenize("一个人", strict=True),
    )
    yield (
        "prompt: words outside the toy vocabulary (strict; else a warning)",
        lambda: toy.text_encoder.tokenize("a purple dragon", strict=True),
    )
    yield (
        "image: fit to size by an unknown rule",
        lambda: R.image_to_tensor(np.zeros((8, 8, 3), np.uint8), (4, 4), "fill"),
    )
    gen_cli = ["generate", "--model", str(tmp / "no-model"), "--reference", str(face), "--prompt", "a"]
    yield "generate (CLI): --out clip.txt", lambda: main([*gen_cli, "--out", str(tmp / "clip.txt")])
    yield "generate (CLI): --out under a file", lambda: main([*gen_cli, "--out", str(notimg / "clip.mp4")])
    yield "generate (CLI): --out exists, not written by stdrc", lambda: main([*gen_cli, "--out", str(mine)])
    yield "generate (CLI): --frames 0", lambda: main([*gen_cli, "--frames", "0", "--out", str(tmp / "c.mp4")])
    yield "demo (CLI): --out holds a demo.mp4 stdrc did not write", lambda: main(["demo", "--out", str(foreign)])
    yield "train (CLI): --out holds files stdrc did not write", lambda: main(["train", "--out", str(foreign)])
    yield "weights: manifest.json is not valid JSON", lambda: TW.load_toy(broken)
    yield "training: resume with other options", lambda: _resume_other(tmp, toy)


def _resume_other(tmp, toy):
    from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy

    cache = build_cache(toy.vae, 2, progress=False)
    cfg = dict(steps=1, batch=2, warmup=1, n_clips=2, sample_every=0, ckpt_every=1)
    train_toy(toy, ToyTrainConfig(**cfg), cache=cache, ckpt_dir=tmp / "ckpt", progress=False)
    train_toy(toy, ToyTrainConfig(**{**cfg, "lr": 0.01}), cache=cache, ckpt_dir=tmp / "ckpt", progress=False)


def _uncaptioned(tmp):
    from stdrc_lib.train.finetune import find_videos

    d = tmp / "videos"
    d.mkdir(exist_ok=True)
    (d / "walk.mp4").write_bytes(b"")
    find_videos(d)


def _full_with_id(tmp):
    from stdrc_lib.train.finetune import finetune
    from stdrc_lib.train.trainer import TrainConfig

    finetune("models/LTX-2.3-Diffusers", tmp, tmp / "out", TrainConfig(lora_rank=32, lambda_id=0.5), 121, 512, 768)


def _readout_weights():
    from stdrc_lib.toy.readout import train_readout

    return train_readout(steps=1, pool_clips=1, loss_weights={"moustache": 2.0})


def _denoising(toy, **kw):
    from stdrc_lib.toy.evaluate import denoising_identity
    from stdrc_lib.toy.readout import Readout

    denoising_identity(toy, Readout().eval(), n=2, **kw)


def _unpaired():
    from stdrc_lib.toy.claims import paired_differences

    scores = {"tass": {0: {"copy_layout": [0.0, 1.0, 0.0]}}, "shared": {0: {"copy_layout": [1.0, 0.0]}}}
    paired_differences(scores, "tass", "shared", "copy_layout")


def _claims_folder(tmp):
    from stdrc_lib.toy.claims import decide

    decide(tmp / "no-claims-here")


def _no_face():
    from skimage.data import coffee

    from stdrc_lib.prep.faces import detect_and_align

    detect_and_align(coffee())


def _pipe_offline():
    from stdrc_lib.pipeline import STDRCPipeline

    STDRCPipeline.from_pretrained("someone/not-a-cached-stdrc-model")


def _missing_pack(tmp):
    from stdrc_lib.prep.faces import InsightFaceEmbedder

    InsightFaceEmbedder(pack="buffalo_l", root=tmp / "insightface")


def table() -> str:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, fn in cases(tmp):
            err = io.StringIO()
            old = sys.stderr
            sys.stderr = err
            try:
                ret = fn()
                msg = err.getvalue().strip() if ret == 2 else None
                kind = "exit code 2" if ret == 2 else None
            except Exception as ex:  # noqa: BLE001 - we record whatever the user would see
                kind, msg = type(ex).__name__, str(ex)
            finally:
                sys.stderr = old
            if msg is None:
                raise SystemExit(f"case {name!r} raised nothing")
            msg = msg.replace(str(tmp), "<tmp>").replace(str(Path.home()), "~").replace("|", "\\|")
            msg = " ".join(msg.split())
            rows.append(f"| {name} | `{kind}` | {msg} |")
    head = [
        "# Bad input → error message",
        "",
        "Generated by `python docs/make_error_table.py` (do not edit by hand; `tests/test_reliability.py`",
        "checks that this file is current). Each row calls the public API with one bad input.",
        "",
        "| input | raises | message |",
        "|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def _evaluate(toy, **kw):
    from stdrc_lib.toy.evaluate import evaluate
    from stdrc_lib.toy.readout import Readout

    return evaluate(toy, Readout().eval(), n=2, progress=False, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = table()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print("docs/ERRORS.md is out of date; run python docs/make_error_table.py")
            sys.exit(1)
        print("docs/ERRORS.md is current")
        return
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10)) - 7} rows)")


if __name__ == "__main__":
    main()
