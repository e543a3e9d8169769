"""SynthFaces rendering speed: clips per second on one core (17 frames, 64×64).

Usage: python bench/bench_render.py [--clips 300] [--repeats 5]

Prints the median and the best of the repeats: this machine's speed drifts by ±15 % between runs of
a few seconds, so one run says little.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from stdrc_lib.toyworld import NUM_IDENTITIES, NUM_PROMPTS, Identity, Prompt, render_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    jobs = [
        (Identity.from_index(int(rng.integers(NUM_IDENTITIES))), Prompt.from_index(int(rng.integers(NUM_PROMPTS))))
        for _ in range(args.clips)
    ]
    render_clip(*jobs[0], rng)  # warm-up
    rates = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for ident, prompt in jobs:
            render_clip(ident, prompt, rng)
        rates.append(args.clips / (time.perf_counter() - t))
    med, best = statistics.median(rates), max(rates)
    print(
        f"{args.clips} clips of 17×64×64 on one core, {args.repeats} runs: median {med:.0f} clips/s "
        f"({med * 17:.0f} frames/s), best {best:.0f} clips/s"
    )


if __name__ == "__main__":
    main()
