"""Guidance interval: sampling time against quality on held-out clips (shipped toy model).

Usage: python bench/bench_guidance_interval.py [--clips 32] [--steps 12]

Both guidance terms are applied only for σ in [σ_lo, 1]; below σ_lo both scales are 1, so only the fully
conditional stream v(r,c) is run there (stdrc skips streams whose weight is 0). Each setting generates the
same held-out clips with the same noise; time is the wall time of generation + scoring, measured in this run,
and the ratio is to guidance at every step.
"""

from __future__ import annotations

import argparse
import time

from stdrc_lib import backbone as bb
from stdrc_lib import guidance as G
from stdrc_lib.evaluate import evaluate
from stdrc_lib.toyworld.readout import Readout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    b = bb.load_toy()
    readout = Readout.load(bb.TOY_DIR / "readout")
    rows = []
    for lo in (None, 0.3, 0.5, 0.7):
        iv = None if lo is None else (lo, 1.0)
        cfg = G.GuidanceConfig(2.0, 3.0, ref_interval=iv, txt_interval=iv)
        t = time.perf_counter()
        rep = evaluate(
            b, readout, n=args.clips, batch=8, steps=args.steps, guidance=cfg, rows=("model",), progress=False
        )
        rows.append((lo, time.perf_counter() - t, rep["results"]["model"]))
    base = rows[0][1]
    print(f"{args.clips} held-out clips, {args.steps} steps, s_ref 2, s_txt 3")
    print("| guidance applied for | time | vs every step | identity | text adherence | temporal consistency |")
    print("|---|---:|---:|---:|---:|---:|")
    for lo, sec, m in rows:
        span = "every step" if lo is None else f"σ ≥ {lo}"
        cells = " | ".join(
            f"{m[k]['mean']:.3f} ± {m[k]['ci95']:.3f}"
            for k in ("identity_accuracy", "text_adherence", "temporal_consistency")
        )
        print(f"| {span} | {sec:.1f} s | {sec / base:.2f}× | {cells} |")


if __name__ == "__main__":
    main()
