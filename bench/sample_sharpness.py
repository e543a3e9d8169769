"""Are the toy model's samples sharp? Training identities, the clip's own frame as reference, with and without guidance.

Usage: python bench/sample_sharpness.py [--out docs/img/samples_in_distribution.png]

Rows: the true clip, then samples at (s_ref, s_txt, steps) = (1, 1, 20), (2, 3, 20) and (1, 1, 50), each
starting with the reference. If even these easiest cases come out as blurry blobs, the model is underfit for
faces, and no guidance setting can bring identity out of it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from stdrc_lib import viz
from stdrc_lib.core import guidance as G
from stdrc_lib.pipeline import generate
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/img/samples_in_distribution.png")
    args = ap.parse_args()
    b = TW.toy_backbone()
    items = [SynthFaces("train", 2, seed=21, look=b.extra["look"])[i] for i in range(2)]
    refs = [((it["reference"].permute(1, 2, 0) + 1) * 127.5).byte().numpy() for it in items]
    rows, labels = [], []
    for it, r in zip(items, refs):
        rows.append(np.concatenate([r[None] / 255, ((it["video"].permute(1, 2, 3, 0) + 1) / 2).numpy()[::4]]))
        labels.append("truth")
    for s_ref, s_txt, steps in [(1, 1, 20), (2, 3, 20), (1, 1, 50)]:
        out = generate(
            b, [it["prompt"] for it in items], refs, num_steps=steps, guidance=G.GuidanceConfig(s_ref, s_txt),
            generator=torch.Generator().manual_seed(0), progress=False,
        )  # fmt: skip
        for r, f in zip(refs, out.frames):
            rows.append(np.concatenate([r[None] / 255, f.numpy()[::4] / 255]))
            labels.append(f"s_ref {s_ref}, s_txt {s_txt}, {steps} steps")
    viz.save_image(args.out, viz.contact_sheet(rows, labels, upscale=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
