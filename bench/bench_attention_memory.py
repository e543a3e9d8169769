"""Peak memory of capturing video→reference attention at the full LTX-2.3 token count, against no capture.

Usage: python bench/bench_attention_memory.py [--layers 1] [--chunk 64]

LTX-2.3 at 121 frames × 512×768 has a 16×16×24 latent: 6,144 video tokens, plus 384 reference tokens.
This builds a `LTX2VideoTransformer3DModel` with that token count but a shrunk width (the toy config,
4 heads × 32) and --layers layers, and runs one forward (no grad) in a fresh process per mode:

* plain:   the model's own attention processors;
* capture: stdrc_lib.core.attention.capture_attention on every layer (chunked over queries).

Peak memory is the process's peak resident set size (ru_maxrss) minus its resident size just before the
forward, so model construction is not counted. The children run with MALLOC_MMAP_THRESHOLD_=131072: with
glibc's adaptive threshold, freed multi-MB tensors stay in the heap and the resident size counts memory
that is no longer live (we saw 5× "peaks" that were only fragmentation). Prints both and their ratio
(target ≤ 1.2×). Runs are repeated in fresh processes: the capture peak is bimodal on the
development machine (some runs add ~550 MiB that we have not traced), so the medians and all values are
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, layers: int, chunk: int) -> None:
    import gc

    import torch

    from stdrc_lib.core import attention as A
    from stdrc_lib.core import backbone as bb
    from stdrc_lib.core import positions as P
    from stdrc_lib.core import reference as R
    from stdrc_lib.toy import weights as TW

    torch.set_num_threads(2)
    b = TW.build_toy(seed=0, num_layers=layers)
    tr = b.transformer.eval()
    grid, ref_grid = (16, 16, 24), (16, 24)
    n_v, n_r = 16 * 16 * 24, 16 * 24
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, n_v + n_r, tr.config.in_channels, generator=g)
    text = torch.randn(1, 16, tr.config.caption_channels, generator=g)
    tmask = torch.ones(1, 16, dtype=torch.long)
    coords = P.build_coords(tr.rope, 1, grid, [ref_grid], P.PositionConfig(fps=24.0))
    sigma = torch.tensor([0.7])
    ts = R.token_timesteps(sigma, n_v, n_r)
    gc.collect()
    before = _rss_mb()
    with torch.no_grad():
        if mode == "capture":
            with A.capture_attention(tr, n_video=n_v, chunk_size=chunk) as store:
                bb.transformer_forward(tr, x, text, ts, sigma, coords, tmask)
            shape = tuple(store.maps[0].shape)
        else:
            bb.transformer_forward(tr, x, text, ts, sigma, coords, tmask)
            shape = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB on Linux
    print(json.dumps({"mode": mode, "extra_mb": peak - before, "map_shape": shape, "tokens": n_v + n_r}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per mode (default 5)")
    ap.add_argument("--child", choices=["plain", "capture"])
    args = ap.parse_args()
    if args.child:
        child(args.child, args.layers, args.chunk)
        return
    runs: dict[str, list[dict]] = {"plain": [], "capture": []}
    for _ in range(args.repeats):
        for mode in runs:
            out = (
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        mode,
                        "--layers",
                        str(args.layers),
                        "--chunk",
                        str(args.chunk),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "1"},
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            runs[mode].append(json.loads(out))
    p = sorted(r["extra_mb"] for r in runs["plain"])
    c = sorted(r["extra_mb"] for r in runs["capture"])
    med_p, med_c = p[len(p) // 2], c[len(c) // 2]
    print(
        f"tokens {runs['plain'][0]['tokens']} (6144 video + 384 reference), {args.layers} layer(s), chunk {args.chunk}"
    )
    print(
        f"forward peak extra memory, {args.repeats} fresh processes each (MiB): plain {[round(v) for v in p]}, "
        f"with capture {[round(v) for v in c]}"
    )
    print(f"medians: plain {med_p:.0f} MiB, capture {med_c:.0f} MiB, ratio {med_c / med_p:.2f}×; "
          f"best runs: ratio {c[0] / p[0]:.2f}×")  # fmt: skip
    print(f"captured map per layer: {runs['capture'][0]['map_shape']} (batch, video tokens, reference tokens)")


if __name__ == "__main__":
    main()
