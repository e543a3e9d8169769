"""Augmentation grid for the docs, and how much identity the toy readout still reads after each operation.

Usage: python bench/augment_report.py [--clips 400] [--out docs/img/augment_grid.png]

Rows of the picture: clean references, then each operation alone (probability 1), then the default mix
(`AugmentConfig()`, what training uses). The table gives the readout's identity attribute accuracy (mean over
the 9 attributes) on --clips held-out references, clean and after each operation, with the ratio to clean.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stdrc_lib import viz
from stdrc_lib.prep.augment import AugmentConfig, augment
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.readout import Readout
from stdrc_lib.toy.world import IDENTITY_ATTRS

OFF = dict(p_relayout=0, p_affine=0, p_flip=0, p_colour=0, p_grayscale=0, p_blur=0, p_noise=0)
OPS = {
    "re-layout": AugmentConfig(**{**OFF, "p_relayout": 1.0}),
    "affine": AugmentConfig(**{**OFF, "p_affine": 1.0}),
    "flip": AugmentConfig(**{**OFF, "p_flip": 1.0}),
    "colour jitter": AugmentConfig(**{**OFF, "p_colour": 1.0}),
    "grayscale": AugmentConfig(**{**OFF, "p_grayscale": 1.0}),
    "blur": AugmentConfig(**{**OFF, "p_blur": 1.0}),
    "noise": AugmentConfig(**{**OFF, "p_noise": 1.0}),
    "default mix": AugmentConfig(),
}


def references(n: int, seed: int = 5, look: str = "bold"):
    ds = SynthFaces("eval", n, seed=seed, ref_mode="clip", look=look)
    items = [ds[i] for i in range(n)]
    x = torch.stack([it["reference"] for it in items])
    return x, torch.stack([it["ref_box"] for it in items]), torch.stack([it["identity"] for it in items])


def identity_accuracy(readout: Readout, x: torch.Tensor, ident: torch.Tensor) -> float:
    p = readout.predict(x)
    return sum(float((p[k] == ident[:, i]).float().mean()) for i, k in enumerate(IDENTITY_ATTRS)) / len(IDENTITY_ATTRS)


def report(n: int = 400) -> dict[str, float]:
    readout = Readout.load(TW.scorer_dir(TW.BASE_DIR))
    x, boxes, ident = references(n, look=TW.look_of(TW.BASE_DIR))
    acc = {"clean": identity_accuracy(readout, x, ident)}
    for name, cfg in OPS.items():
        acc[name] = identity_accuracy(readout, augment(x, boxes, cfg, torch.Generator().manual_seed(0)), ident)
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=400)
    ap.add_argument("--out", default="docs/img/augment_grid.png")
    args = ap.parse_args()
    x, boxes, _ = references(6)
    rows = [((x.permute(0, 2, 3, 1) + 1) / 2).numpy()]
    for cfg in OPS.values():
        y = augment(x, boxes, cfg, torch.Generator().manual_seed(1))
        rows.append(((y.permute(0, 2, 3, 1) + 1) / 2).numpy())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    viz.save_image(args.out, viz.contact_sheet(rows, ["clean", *OPS], upscale=2))
    print(f"wrote {args.out}")
    acc = report(args.clips)
    print(f"| augmentation | identity accuracy ({args.clips} refs) | ratio to clean |\n|---|---:|---:|")
    for name, a in acc.items():
        print(f"| {name} | {a:.3f} | {a / acc['clean']:.2f} |")


if __name__ == "__main__":
    main()
