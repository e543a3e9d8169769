"""SynthFaces rendering speed: clips per second on one core (17 frames, 64×64).

Usage: python bench/bench_render.py [--clips 300]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from stdrc_lib.toyworld import NUM_IDENTITIES, NUM_PROMPTS, Identity, Prompt, render_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=300)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    jobs = [
        (Identity.from_index(int(rng.integers(NUM_IDENTITIES))), Prompt.from_index(int(rng.integers(NUM_PROMPTS))))
        for _ in range(args.clips)
    ]
    render_clip(*jobs[0], rng)  # warm-up
    t = time.perf_counter()
    for ident, prompt in jobs:
        render_clip(ident, prompt, rng)
    dt = time.perf_counter() - t
    print(
        f"{args.clips} clips of 17×64×64 in {dt:.2f} s on one core: {args.clips / dt:.0f} clips/s "
        f"({args.clips * 17 / dt:.0f} frames/s)"
    )


if __name__ == "__main__":
    main()
