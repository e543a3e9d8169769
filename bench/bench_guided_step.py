"""Time one guided sampling step: three separate forwards (Phantom style) vs one batched 3-stream forward.

Usage: python bench/bench_guided_step.py [--clips 1 4] [--repeats 20] [--layers 4]

Prints per-step wall times and their ratio to a single forward, all measured in this run on the
toy preset (17×64×64 clip → 320 video tokens + 64 reference tokens).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stdrc_lib import backbone as bb
from stdrc_lib import guidance as G
from stdrc_lib import positions as P
from stdrc_lib import sampling as S


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = bb.build_toy(seed=0, num_layers=args.layers)
    grid, ref_grid = b.latent_grid(17, 64, 64), (8, 8)
    print(
        f"toy transformer: {args.layers} layers, width 128; {grid[0] * grid[1] * grid[2]} video + 64 ref tokens; "
        f"{args.threads} threads; median of {args.repeats}"
    )
    print(
        f"{'clips':>5} {'1 forward ms':>13} {'3 separate ms':>14} {'batched ms':>11} {'sep/1':>6} {'bat/1':>6} "
        f"{'bat/sep':>8}"
    )
    for n in args.clips:
        one, sep, bat = measure(b, n, grid, ref_grid, args.repeats)
        print(
            f"{n:>5} {one * 1e3:>13.1f} {sep * 1e3:>14.1f} {bat * 1e3:>11.1f} {sep / one:>6.2f} {bat / one:>6.2f} "
            f"{bat / sep:>8.2f}"
        )


def measure(b, n: int, grid, ref_grid, repeats: int) -> tuple[float, float, float]:
    """Median seconds of (1 conditional forward, 3 separate forwards, 1 batched 3-stream forward)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, grid[0] * grid[1] * grid[2], 16, generator=g)
    ref = torch.randn(n, ref_grid[0] * ref_grid[1], 16, generator=g)
    text, tm = b.text_encoder.encode(["a person smiling in a forest moving left"] * n)
    null, nm = b.text_encoder.encode([""] * n)
    cond = S.Conditioning(text, tm, null, nm, [ref], [ref_grid])
    coords = P.build_coords(b.transformer.rope, n, grid, [ref_grid])
    streams = G.STREAMS["ref_first"]

    def run(which, batched):
        return S.stream_velocities(b.transformer, x, 0.5, cond, coords, which, batched=batched)

    with torch.no_grad():
        return (
            timeit(lambda: run([(True, True)], True), repeats),
            timeit(lambda: run(streams, False), repeats),
            timeit(lambda: run(streams, True), repeats),
        )


if __name__ == "__main__":
    main()
