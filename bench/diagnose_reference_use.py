"""Does the shipped toy model use its reference? Attention mass on reference tokens, and identity vs s_ref.

Usage: python bench/diagnose_reference_use.py [--clips 32]

Prints, per layer, the share of each video token's self-attention that lands on reference tokens
(last sampling step, mean over tokens and clips) for the three guidance streams, then the toy
eval metrics of the model for s_ref = 1 and s_ref = 5 (s_txt = 3) on the same held-out clips.
"""

from __future__ import annotations

import argparse

import torch

from stdrc_lib.core import attention as A
from stdrc_lib.core import guidance as G
from stdrc_lib.pipeline import generate
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.evaluate import evaluate
from stdrc_lib.toy.readout import Readout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    b = TW.load_toy()
    readout = Readout.load(TW.TOY_DIR / "readout")
    ds = SynthFaces("eval", 4, seed=7)
    items = [ds[i] for i in range(4)]
    refs = [((it["reference"].permute(1, 2, 0) + 1) * 127.5).byte().numpy() for it in items]
    n_video = 5 * 8 * 8
    with A.capture_attention(b.transformer, n_video) as store:
        generate(
            b,
            [it["prompt"] for it in items],
            refs,
            num_steps=8,
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )
    print("video→reference attention mass (last step) for streams v(∅,∅), v(r,∅), v(r,c):")
    for layer in sorted(store.maps):
        m = store.maps[layer].sum(-1).mean(-1)  # (3B,) mass per row
        print(f"  layer {layer}: " + ", ".join(f"{float(m[i * 4 : (i + 1) * 4].mean()):.3f}" for i in range(3)))
    for s_ref in (1.0, 5.0):
        rep = evaluate(
            b,
            readout,
            n=args.clips,
            batch=8,
            steps=args.steps,
            guidance=G.GuidanceConfig(s_ref, 3.0),
            rows=("model",),
            progress=False,
        )
        res = rep["results"]["model"]
        print(f"s_ref={s_ref}: " + ", ".join(f"{k} {v['mean']:.3f} ± {v['ci95']:.3f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
