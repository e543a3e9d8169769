"""Which difference between an evaluation reference and the clip stops the model from using it?

Usage: python bench/diagnose_reference_shift.py [--clips 128] [--json docs/results/reference_shift.json]
       python bench/diagnose_reference_shift.py --ckpt runs/ablation/tass_relight_s0/ckpt/step-000800 --out x.png
       python bench/diagnose_reference_shift.py --face-cutout --weights runs/cutout/weights  (cut-out models)

An evaluation-mode reference differs from the clip in five ways at once: pose (tilt), place, scale, light and
background. The one-step denoising probe (``bench/diagnose_denoising.py``) shows that the shipped model takes
identity from a frame of the clip (+0.09 at σ = 0.9) but not from an evaluation reference. This script takes the
shift apart. For each held-out clip it builds references that differ from the clip in one or some of these ways
(same clip, same noise, same pose and place wherever a pose is drawn), denoises the noised latent in one step
with each, and reports the paired gain in identity accuracy over no reference:

* ``clip frame``: a frame of the clip (the training distribution);
* ``clip frame, re-laid out``: the same frame after the training re-layout (face pasted elsewhere on a plain
  canvas), which the model saw in 80 % of its training references;
* ``clip frame, relit``: the same frame in another of the world's lights (``toyworld.render.relight``);
* ``new pose, clip's scene and light``: the evaluation pose, place and scale, but the prompt's scene and light;
* ``new pose and scene, clip's light``; ``new pose and light, clip's scene``;
* ``evaluation reference``: everything differs (what ``stdrc eval`` uses).

Prints a table (gain ± 95 % CI per σ) and draws one picture: the references of one clip above the gain bars.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from stdrc_lib.core import positions as P
from stdrc_lib.core import reference as R
from stdrc_lib.prep import crop as PC
from stdrc_lib.prep.augment import relayout
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.metrics import clip_metrics, mean_ci
from stdrc_lib.toy.readout import Readout
from stdrc_lib.toy.render import relight, render_clip, render_eval_reference
from stdrc_lib.toy.world import PROMPT_ATTRS, Identity, Prompt, split_indices

CONDITIONS = (
    "clip frame",
    "clip frame, re-laid out",
    "clip frame, relit",
    "new pose, clip's scene and light",
    "new pose and scene, clip's light",
    "new pose and light, clip's scene",
    "evaluation reference",
)
KEEP = {
    "new pose, clip's scene and light": ("scene", "lighting"),
    "new pose and scene, clip's light": ("lighting",),
    "new pose and light, clip's scene": ("scene",),
    "evaluation reference": (),
}


def _px(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1) * 2 - 1


def build_item(index: int, seed: int, frames: int = 17) -> dict:
    """One held-out clip as ``SynthFaces("eval", seed=seed)[index]`` draws it, with every reference condition."""
    rng = np.random.default_rng([seed, 1, index])
    ident = Identity.from_index(int(rng.choice(split_indices("identity", "eval"))))
    prompt = Prompt.from_index(int(rng.choice(split_indices("prompt", "eval"))))
    clip, boxes, alpha = render_clip(ident, prompt, rng, frames, return_alpha=True)
    refs, ref_boxes, masks = {}, {}, {}
    k = int(copy.deepcopy(rng).integers(frames))
    for name in ("clip frame", "clip frame, re-laid out", "clip frame, relit"):
        refs[name], ref_boxes[name], masks[name] = _px(clip[k]), torch.from_numpy(boxes[k]), torch.from_numpy(alpha[k])
    for name, keep in KEEP.items():
        img, box, a = render_eval_reference(ident, prompt, copy.deepcopy(rng), keep=keep, return_alpha=True)
        refs[name], ref_boxes[name], masks[name] = _px(img), torch.from_numpy(box), torch.from_numpy(a)
    lights = PROMPT_ATTRS["lighting"]
    own = int(prompt.lighting)
    other = int(np.random.default_rng([seed, 2, index]).choice([i for i in range(len(lights)) if i != own]))
    return {
        "video": torch.from_numpy(clip).permute(3, 0, 1, 2) * 2 - 1,
        "boxes": torch.from_numpy(boxes),
        "prompt": prompt.text(),
        "identity": torch.from_numpy(ident.as_array()),
        "prompt_attrs": torch.from_numpy(prompt.as_array()),
        "refs": refs,
        "ref_boxes": ref_boxes,
        "ref_masks": masks,
        "light": (own, other),
    }


def conditions(prep: str = "whole") -> tuple[str, ...]:
    """The reference conditions that make sense for a model that sees ``prep`` references: a face cut-out of a
    re-laid-out frame is the cut-out of the frame itself, so that row is left out for cut-out models."""
    return tuple(c for c in CONDITIONS if not (prep == "cutout" and c == "clip frame, re-laid out"))


def model_view(refs: dict, boxes: dict, masks: dict, prep: str) -> dict:
    """What a model trained on ``prep`` references is conditioned on, per condition."""
    return {c: PC.prepare(refs[c], prep, boxes[c], masks.get(c)) for c in refs if prep != "cutout" or c in masks}


def shifted(items: list[dict], g: torch.Generator) -> tuple[dict, dict]:
    """Batched references and face boxes per condition, with the relight and the re-layout applied."""
    refs = {c: torch.stack([it["refs"][c] for it in items]) for c in CONDITIONS}
    boxes = {c: torch.stack([it["ref_boxes"][c] for it in items]) for c in CONDITIONS}
    light = torch.tensor([it["light"] for it in items])
    refs["clip frame, relit"] = relight(refs["clip frame, relit"], light[:, 0], light[:, 1])
    moved = []
    refs["clip frame, re-laid out"] = relayout(
        refs["clip frame, re-laid out"], boxes["clip frame, re-laid out"], g, new_boxes=moved
    )
    boxes["clip frame, re-laid out"] = moved[0]
    return refs, boxes


@torch.no_grad()
def reference_shift(
    backbone, readout, n: int, sigmas, batch: int, seed: int, positions, isolated: bool, prep: str = "whole"
) -> dict:
    from stdrc_lib.core.losses import flow_matching_loss

    conds = conditions(prep)
    acc = {c: {s: [] for s in sigmas} for c in (*conds, "no reference")}
    for start in tqdm(range(0, n, batch), desc="clips", unit="batch"):
        items = [build_item(i, seed) for i in range(start, min(n, start + batch))]
        k = len(items)
        x0 = R.encode(backbone.vae, torch.stack([it["video"] for it in items]))
        meta = [torch.stack([it[key] for it in items]) for key in ("identity", "prompt_attrs")]
        true_boxes = torch.stack([it["boxes"] for it in items])
        refs, boxes = shifted(items, torch.Generator().manual_seed(seed * 7919 + start))
        masks = {c: torch.stack([it["ref_masks"][c] for it in items]) for c in conds if c != "clip frame, re-laid out"}
        seen = model_view(refs, boxes, masks, prep)  # the metrics still get the whole reference
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed * 100_003 + start))
        for cond in (*conds, "no reference"):
            c = cond if cond != "no reference" else "evaluation reference"
            ref, ref_u8, ref_box = seen[c], R.to_uint8(refs[c].permute(0, 2, 3, 1)), boxes[c]
            for s in sigmas:
                _, x0_hat = flow_matching_loss(
                    backbone, x0, ref, [it["prompt"] for it in items], torch.ones(k, dtype=torch.bool),
                    torch.full((k,), cond != "no reference"), torch.full((k,), s), noise, positions,
                    isolated_reference=isolated,
                )  # fmt: skip
                frames = R.to_uint8(R.decode(backbone.vae, x0_hat).permute(0, 2, 3, 4, 1))
                m = clip_metrics(readout, frames, ref_u8, *meta, ref_box, true_boxes)
                acc[cond][s].append(m["identity_accuracy"])
    none = {s: torch.cat(acc["no reference"][s]) for s in sigmas}
    return {
        "sigmas": list(sigmas),
        "clips": n,
        "seed": seed,
        "no reference": [mean_ci(none[s]) for s in sigmas],
        "gain": {c: [mean_ci(torch.cat(acc[c][s]) - none[s]) for s in sigmas] for c in conds},
    }


def draw(rep: dict, example: dict, out: Path, title: str, prep: str = "whole") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = conditions(prep)
    n = len(conds)
    fig = plt.figure(figsize=(1.45 * n, 5.2))
    gs = fig.add_gridspec(2, n, height_ratios=(1, 2.2))
    refs, boxes = shifted([example], torch.Generator().manual_seed(0))
    masks = {c: example["ref_masks"][c][None] for c in conds if c != "clip frame, re-laid out"}
    shown = {c: v[0] for c, v in model_view(refs, boxes, masks, prep).items()}  # what the model sees
    for j, c in enumerate(conds):
        ax = fig.add_subplot(gs[0, j])
        ax.imshow(R.to_uint8(shown[c].permute(1, 2, 0)).numpy())
        ax.set_title(c.replace(", ", ",\n"), fontsize=7)
        ax.axis("off")
    ax = fig.add_subplot(gs[1, :])
    i = len(rep["sigmas"]) - 1  # the highest σ: where identity must come from the reference
    m = [rep["gain"][c][i]["mean"] for c in conds]
    e = [rep["gain"][c][i]["ci95"] for c in conds]
    ax.bar(range(n), m, yerr=e, capsize=3, color=["#4c72b0" if c.startswith("clip") else "#dd8452" for c in conds])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(n), [c.replace(", ", ",\n") for c in conds], fontsize=7)
    ax.set_ylabel(f"identity gain over no reference\n(one-step x̂₀ from σ = {rep['sigmas'][i]:g})")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=128, help="held-out clips (default 128)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.7, 0.9])
    ap.add_argument("--weights", default=str(TW.TOY_DIR), help="toy weights folder (default data/toy)")
    ap.add_argument(
        "--ckpt", help="a training checkpoint folder whose transformer and text encoder replace the shipped ones"
    )
    ap.add_argument(
        "--scheme", default="tass", choices=P.SCHEMES, help="reference positions the model was trained with"
    )
    ap.add_argument("--isolated", action="store_true", help="the model was trained with an isolated reference pass")
    prep = ap.add_mutually_exclusive_group()
    prep.add_argument(
        "--face-crop", action="store_true", help="the model was trained on face-crop references (tass_crop_*)"
    )
    prep.add_argument(
        "--face-cutout",
        action="store_true",
        help="the model was trained on face cut-outs (tass_cutout_*; without either flag, what --weights' manifest "
        "says)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--out", default="docs/img/reference_shift.png")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()
    if args.clips < 2:
        raise SystemExit(f"diagnose_reference_shift: `--clips` must be at least 2, got {args.clips}.")
    if not args.sigmas or any(not 0 < s < 1 for s in args.sigmas):
        raise SystemExit(f"diagnose_reference_shift: `--sigmas` must lie in (0, 1), got {args.sigmas}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    b = TW.load_toy(args.weights)
    if args.ckpt:
        from stdrc_lib.train.checkpoint import load_checkpoint

        load_checkpoint(args.ckpt, {"transformer": b.transformer, "text_encoder": b.text_encoder})
    readout = Readout.load(Path(args.weights) / "readout")
    pos = P.PositionConfig(scheme=args.scheme, fps=b.fps)
    prep = "crop" if args.face_crop else "cutout" if args.face_cutout else b.extra.get("reference_prep", "whole")
    rep = reference_shift(b, readout, args.clips, sorted(args.sigmas), args.batch, args.seed, pos, args.isolated, prep)
    rep["reference_prep"] = prep
    rep["model"] = args.ckpt or ("shipped model (data/toy)" if args.weights == str(TW.TOY_DIR) else args.weights)
    print(f"paired identity gain over no reference, one-step x̂₀ ({args.clips} held-out clips, model {rep['model']})")
    print("| reference | " + " | ".join(f"σ = {s:g}" for s in rep["sigmas"]) + " |")
    print("|---|" + "---:|" * len(rep["sigmas"]))
    print("| (no reference: accuracy) | " + " | ".join(f"{r['mean']:.3f}" for r in rep["no reference"]) + " |")
    for c in conditions(prep):
        print(f"| {c} | " + " | ".join(f"{g['mean']:+.3f} ± {g['ci95']:.3f}" for g in rep["gain"][c]) + " |")
    title = f"{rep['model']}, {args.clips} held-out clips, mean ± 95 % CI"
    title += {"whole": "", "crop": ", face crops", "cutout": ", face cut-outs"}[prep]
    draw(rep, build_item(0, args.seed), Path(args.out), title, prep)
    print(f"wrote {args.out}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rep, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
