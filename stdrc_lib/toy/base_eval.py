"""Score the toy base model on held-out identities × held-out prompts, by its independent scoring readout.

    python -m stdrc_lib.toy.base_eval --n 200 --out docs/results/base
    python -m stdrc_lib.toy.base_eval --sheet docs/img/base_samples.png      # the contact sheet only

Rows (every one on the same clips; the generated ones with the same noise):

* ``ground_truth``: the renderer's clip, the ceiling of every readout metric;
* ``vae_reconstruction``: the clip through the VAE (encode → decode), with its PSNR;
* ``image_to_video``: the clip's true frame 0 given clean, the prompt, and the model continues it; scored on
  frames 1–16 (frame 0 is the input);
* ``text_to_video``: the prompt alone. Its person is the model's choice, so identity accuracy against the
  clip's identity means nothing here; ``temporal_consistency`` says whether every frame shows the same person.

Metrics (per clip, mean and 95 % CI): see :mod:`stdrc_lib.toy.metrics`. ``eval.json`` keeps the per-clip values
and the provenance (command, git revision, weights' sha256).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import pipeline as PL
from .. import viz
from ..core import guidance as G
from ..core import reference as R
from ..core.io import atomic_write
from ..outputs import check_outputs, provenance, record_path, write_record
from . import weights as TW
from .dataset import SynthFaces
from .evaluate import format_table
from .metrics import clip_metrics, summarize
from .readout import Readout
from .train_vae import psnr

ROWS = ("ground_truth", "vae_reconstruction", "image_to_video", "text_to_video")
REPORTED = ("identity_accuracy", "embedding_cosine", "text_adherence", "temporal_consistency")
TARGETS = {  # the numbers the base model is built to reach
    "vae_reconstruction": {"psnr": 30.0, "identity_accuracy": 0.93, "text_adherence": 0.97},
    "image_to_video": {"identity_accuracy": 0.90, "temporal_consistency": 0.90},
    "text_to_video": {"text_adherence": 0.90, "temporal_consistency": 0.90},
}


def load_base(folder: str | Path | None = None):
    """The base backbone and its scoring readout from ``folder`` (default: the shipped ``toy/base``)."""
    folder = Path(folder) if folder is not None else TW.TOY_DIR / "base"
    if not (folder / "transformer").is_dir() or not (folder / "scorer").is_dir():
        raise FileNotFoundError(
            f"no base model in {folder}. Build it with `python -m stdrc_lib.toy.base --out {folder}` "
            "(hours on 2 cores), or install stdrc, which ships it."
        )
    return TW.load_toy(folder), Readout.load(folder / "scorer")


@torch.no_grad()
def evaluate_base(
    backbone, scorer, n: int = 200, seed: int = 0, batch: int = 8, steps: int = 20, s_txt: float = 3.0,
    rows=ROWS, progress: bool = True, keep_examples: int = 6,
) -> dict:  # fmt: skip
    """Per-row mean ± 95 % CI, per-clip values and a few examples, on ``n`` held-out clips."""
    if n < 2:
        raise ValueError(f"`n` must be at least 2 for a confidence interval, got {n}.")
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise ValueError(f"`rows` must be drawn from {ROWS}, got unknown {unknown}.")
    ds = SynthFaces("eval", n, seed=seed, look=backbone.extra.get("look", "classic"))
    guidance = G.GuidanceConfig(1.0, s_txt, "ref_first")  # no reference: text guidance only
    per_row: dict[str, dict[str, list]] = {r: {} for r in rows}
    examples: list[dict] = []
    t0 = time.time()
    for start in tqdm(range(0, n, batch), desc="base eval", disable=not progress):
        items = [ds[i] for i in range(start, min(n, start + batch))]
        video = torch.stack([it["video"] for it in items])  # (B, 3, F, H, W)
        truth = R.to_uint8(video.permute(0, 2, 3, 4, 1))  # (B, F, H, W, 3)
        prompts = [it["prompt"] for it in items]
        clips, extra = {}, {}

        def generate(first=None, prompts=prompts, noise_seed=seed * 100_003 + start):  # the same noise for both
            return PL.generate(
                backbone, prompts, None, num_steps=steps, guidance=guidance, first_frame_image=first,
                generator=torch.Generator().manual_seed(noise_seed), progress=False,
            ).frames  # fmt: skip

        if "ground_truth" in rows:
            clips["ground_truth"] = truth
        if "vae_reconstruction" in rows:
            rec = R.decode(backbone.vae, R.encode(backbone.vae, video)).clamp(-1, 1)
            clips["vae_reconstruction"] = R.to_uint8(rec.permute(0, 2, 3, 4, 1))
            extra["vae_reconstruction"] = {"psnr": psnr(rec, video)}
        if "image_to_video" in rows:
            clips["image_to_video"] = generate([f.numpy() for f in truth[:, 0]])
        if "text_to_video" in rows:
            clips["text_to_video"] = generate()
        meta = [torch.stack([it[k] for it in items]) for k in ("identity", "prompt_attrs", "ref_box", "boxes")]
        refs = torch.stack([R.to_uint8(it["reference"].permute(1, 2, 0)) for it in items])
        for r, c in clips.items():
            first = 1 if r == "image_to_video" else 0  # frame 0 of image-to-video is its input
            ident, pattr, ref_box, boxes = meta
            m = clip_metrics(scorer, c[:, first:], refs, ident, pattr, ref_box, boxes[:, first:])
            for k in REPORTED:
                per_row[r].setdefault(k, []).append(m[k])
            for k, v in extra.get(r, {}).items():
                per_row[r].setdefault(k, []).append(v)
        for i in range(min(keep_examples - len(examples), len(items))):
            examples.append({"prompt": prompts[i], **{r: clips[r][i] for r in clips}})
    per_clip = {r: {k: torch.cat(v) for k, v in per_row[r].items()} for r in rows}
    results = {r: summarize(per_clip[r]) for r in rows}
    return {
        "results": results,
        "targets": {r: _against(results.get(r, {}), t) for r, t in TARGETS.items() if r in rows},
        "per_clip": {r: {k: v.tolist() for k, v in per_clip[r].items()} for r in rows},
        "n": n,
        "seed": seed,
        "steps": steps,
        "s_txt": s_txt,
        "minutes": (time.time() - t0) / 60,
        "examples": examples,
    }


def _against(summary: dict, targets: dict) -> dict:
    """Each target with the measured mean, its CI's lower end and whether the mean reaches it."""
    out = {}
    for k, want in targets.items():
        if k in summary:
            mean, ci = summary[k]["mean"], summary[k]["ci95"]
            out[k] = {"target": want, "mean": mean, "low": mean - ci, "reached": bool(mean >= want)}
    return out


def contact_sheet(examples: list[dict], rows=("ground_truth", "image_to_video", "text_to_video"), every: int = 4):
    """A picture of the examples: for each, the truth, image-to-video and text-to-video, every ``every``-th frame."""
    strips, labels = [], []
    for ex in examples:
        for r in rows:
            if r in ex:
                strips.append(ex[r].numpy()[::every])
                labels.append(
                    f"{r.replace('_', ' ')}: {ex['prompt'][9:44]}" if r == "ground_truth" else r.replace("_", " ")
                )
    return viz.contact_sheet(strips, labels, upscale=2)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Score the toy base model (held-out identities and prompts).")
    ap.add_argument("--weights", type=Path, default=None, help="base model folder (default: the shipped one)")
    ap.add_argument("--n", type=int, default=200, help="held-out clips (default: 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20, help="sampling steps")
    ap.add_argument("--s-txt", type=float, default=3.0, help="text guidance scale")
    ap.add_argument("--out", type=Path, default=None, help="write eval.json, eval.md and base_samples.png here")
    ap.add_argument("--sheet", type=Path, default=None, help="only draw a contact sheet of 6 clips to this .png")
    ap.add_argument("--overwrite", action="store_true", help="replace files that stdrc did not write")
    a = ap.parse_args(argv)
    if a.out is None and a.sheet is None:
        ap.error("give --out (a results folder) or --sheet (a .png)")
    if a.n < 2:
        ap.error(f"--n must be at least 2 for a confidence interval, got {a.n}")
    sheet_only = a.out is None
    try:  # before any model is loaded: the files must be ours to write
        if sheet_only:
            check_outputs([a.sheet], record_path(a.sheet), a.overwrite, "--sheet", suffixes=(".png",))
        else:
            files = [a.out / "eval.json", a.out / "eval.md", a.sheet or a.out / "base_samples.png"]
            check_outputs(files, a.out / "eval.json", a.overwrite, "--out")
    except (ValueError, FileExistsError, PermissionError) as e:
        ap.error(str(e))
    backbone, scorer = load_base(a.weights)
    rec = provenance(backbone.source)
    if sheet_only:
        rep = evaluate_base(backbone, scorer, n=6, seed=a.seed, steps=a.steps, s_txt=a.s_txt, batch=6)
        viz.save_image(a.sheet, contact_sheet(rep["examples"]))
        write_record(record_path(a.sheet), rec | {"clips": 6, "seed": a.seed, "steps": a.steps, "s_txt": a.s_txt})
        print(f"wrote {a.sheet}")
        return
    rep = evaluate_base(backbone, scorer, n=a.n, seed=a.seed, steps=a.steps, s_txt=a.s_txt)
    write_record(a.out / "eval.json", {k: v for k, v in rep.items() if k != "examples"} | {"provenance": rec})
    atomic_write(a.out / "eval.md", lambda p: p.write_text(format_table(rep["results"])))
    viz.save_image(a.sheet or a.out / "base_samples.png", contact_sheet(rep["examples"]))
    print(format_table(rep["results"]))
    for r, t in rep["targets"].items():
        for k, v in t.items():
            mark = "reached" if v["reached"] else "missed"
            print(f"{r} {k}: {v['mean']:.3f} (target {v['target']}) {mark}")


if __name__ == "__main__":
    main()
