"""Draw what a face cut-out model sees: references as rendered, and the same references cut out.

Usage: python bench/show_cutouts.py [--n 8] [--out docs/img/cutout_references.png]

Rows: training references (a frame of the clip), their cut-outs, evaluation references (another pose, place,
scale, light and background), their cut-outs. The cut-out keeps the person (the renderer's coverage mask, as a
face parser would give it) on mid grey and crops the square around the face (``reference.cutout_face``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stdrc_lib import viz
from stdrc_lib.core import reference as R
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.evaluate import model_references


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="references per row (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/img/cutout_references.png")
    args = ap.parse_args()
    if args.n < 1:
        raise SystemExit(f"show_cutouts: `--n` must be at least 1, got {args.n}.")
    rows, labels = [], []
    for mode, name in (("clip", "training reference (clip frame)"), ("eval", "evaluation reference")):
        ds = SynthFaces("eval", args.n, seed=args.seed, ref_mode=mode)
        items = [ds[i] for i in range(args.n)]
        for px, label in ((torch.stack([it["reference"] for it in items]), name), (None, "its face cut-out")):
            px = model_references(items, face_cutout=True) if px is None else px
            rows.append(R.to_uint8(px.permute(0, 2, 3, 1)).numpy())
            labels.append(label)
    path = viz.save_image(Path(args.out), viz.contact_sheet(rows, labels, upscale=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
