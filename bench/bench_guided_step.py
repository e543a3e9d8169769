"""Time guided sampling: separate forwards, batched streams, reference K/V cache, guidance interval.

Usage: python bench/bench_guided_step.py [--clips 1 4] [--steps 20] [--repeats 5] [--layers 4]

Every mode runs the whole ``sampling.sample`` loop (``--steps`` Euler steps, three-stream guidance
``s_ref = 2``, ``s_txt = 3``) on the toy architecture (17×64×64 clip → 320 video + 64 reference
tokens); the table gives median wall times and their ratio to the first mode, all measured in
this run. Timing does not depend on the weights, so random ones are used; quality per mode comes
from ``bench/ablate.py`` (isolated vs joint model) and ``bench/bench_guidance_interval.py``.

Modes:
  separate         three forwards per step, one per stream (Phantom style)
  batched          one forward per step with the three streams stacked on the batch
  isolated         batched, model with the reference in its own pass, recomputed every step
  isolated+cache   the same model, reference keys/values computed once per run
  +interval        isolated+cache with guidance only for σ ≥ 0.7 (one stream below)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stdrc_lib.core import guidance as G
from stdrc_lib.core import positions as P
from stdrc_lib.core import sampling as S
from stdrc_lib.toy import weights as TW

MODES = {
    "separate": dict(batched=False),
    "batched": dict(batched=True),
    "isolated": dict(isolated_reference=True, cache_reference=False),
    "isolated+cache": dict(isolated_reference=True),
    "+interval": dict(isolated_reference=True, interval=(0.7, 1.0)),
}


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def measure(b, n: int, grid, ref_grid, steps: int, repeats: int) -> dict[str, float]:
    """Median seconds of one ``sample()`` run per mode for ``n`` clips."""
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(n, ref_grid[0] * ref_grid[1], 16, generator=g)
    text, tm = b.text_encoder.encode(["a person smiling in a forest moving left"] * n)
    null, nm = b.text_encoder.encode([""] * n)
    cond = S.Conditioning(text, tm, null, nm, [ref], [ref_grid])
    pos = P.PositionConfig(fps=b.fps)
    out = {}
    for name, kw in MODES.items():
        kw = dict(kw)
        iv = kw.pop("interval", None)
        guidance = G.GuidanceConfig(2.0, 3.0, ref_interval=iv, txt_interval=iv)

        def run(kw=kw, guidance=guidance):
            S.sample(b.transformer, cond, grid, steps, guidance, pos, torch.Generator().manual_seed(1),
                     progress=False, **kw)  # fmt: skip

        out[name] = timeit(run, repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--steps", type=int, default=20, help="sampling steps per run (default 20)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = TW.build_toy(seed=0, num_layers=args.layers)
    grid, ref_grid = b.latent_grid(17, 64, 64), (8, 8)
    print(
        f"toy transformer: {args.layers} layers, width 128; {grid[0] * grid[1] * grid[2]} video + 64 ref tokens; "
        f"{args.steps} steps; {args.threads} threads; median of {args.repeats} runs"
    )
    print(f"{'clips':>5} " + " ".join(f"{m:>16}" for m in MODES))
    for n in args.clips:
        t = measure(b, n, grid, ref_grid, args.steps, args.repeats)
        base = t["separate"]
        print(f"{n:>5} " + " ".join(f"{t[m]:>7.2f}s {t[m] / base:>5.2f}×" for m in MODES), flush=True)


if __name__ == "__main__":
    main()
