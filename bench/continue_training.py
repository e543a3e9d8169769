"""Does more training make the shipped toy model use its reference? Continue it and compare with no reference.

Usage: python bench/continue_training.py [--steps 1000] [--clips 48]

Loads data/toy, trains the transformer + text encoder for --steps more (lr 5e-4, fresh clip cache, seed 1),
saves them to runs/continue/ (data/toy is not touched) and prints identity metrics of the continued model
with and without the reference on --clips held-out clips.
"""

from __future__ import annotations

import argparse
import json

from stdrc_lib import backbone as bb
from stdrc_lib.evaluate import evaluate
from stdrc_lib.toyworld.readout import Readout
from stdrc_lib.train import ToyTrainConfig, train_toy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--out", default="runs/continue")
    args = ap.parse_args()
    b = bb.load_toy()
    cfg = ToyTrainConfig(steps=args.steps, lr=5e-4, warmup=20, n_clips=3000, seed=1, sample_every=0)
    train_toy(b, cfg, out=args.out)
    b.transformer.save_pretrained(f"{args.out}/transformer")
    b.text_encoder.save(f"{args.out}/text_encoder")
    rep = evaluate(
        b,
        Readout.load(bb.TOY_DIR / "readout"),
        n=args.clips,
        batch=8,
        steps=12,
        rows=("model", "no_reference"),
        progress=False,
    )
    res = {
        row: {k: [round(v["mean"], 3), round(v["ci95"], 3)] for k, v in m.items()} for row, m in rep["results"].items()
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
