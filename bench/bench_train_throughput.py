"""Toy training throughput as a fraction of this machine's fp32 matmul ceiling, and where the time goes.

Usage: python bench/bench_train_throughput.py [--steps 10] [--batch 16] [--profile] [--compile]

1. Ceiling: the best GFLOP/s of square fp32 `torch.mm` at sizes 256–2048, measured in this run.
2. One training step of the shipped toy recipe (flow matching, batch 16, 320 video + 64 reference tokens,
   augmentation on): FLOPs counted by `torch.utils.flop_counter.FlopCounterMode` over forward + backward,
   wall time averaged over --steps steps after two warm-up steps.
3. Achieved GFLOP/s = FLOPs / time, and the ratio to the ceiling (target ≥ 0.5).
With --profile, the 15 ops with the most self CPU time over 3 steps (torch.profiler).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from stdrc_lib import backbone as bb
from stdrc_lib import positions as P
from stdrc_lib.augment import AugmentConfig, augment
from stdrc_lib.train import ToyTrainConfig, build_cache, dropout_masks, flow_matching_loss, sample_sigma


def matmul_ceiling(sizes=(256, 512, 1024, 2048), repeats: int = 5) -> float:
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the transformer first")
    args = ap.parse_args()
    torch.manual_seed(0)
    b = bb.load_toy()
    b.vae.requires_grad_(False)
    cfg = ToyTrainConfig(batch=args.batch)
    cache = build_cache(b.vae, 64, progress=False)
    params = list(b.transformer.parameters()) + list(b.text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    pos = P.PositionConfig(fps=b.fps)
    g = torch.Generator().manual_seed(0)
    b.transformer.train()
    if args.compile:
        b.transformer = torch.compile(b.transformer)

    def step():
        idx = torch.randint(len(cache.latents), (args.batch,), generator=g)
        refs = augment(cache.refs[idx], cache.ref_boxes[idx], AugmentConfig(), g)
        kt, kr = dropout_masks(args.batch, cfg, g)
        sigma = sample_sigma(args.batch, g)
        x0 = cache.latents[idx]
        noise = torch.randn(x0.shape, generator=g)
        loss = flow_matching_loss(b, x0, refs, [cache.prompts[i] for i in idx], kt, kr, sigma, noise, pos)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    step()
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    sec = (time.perf_counter() - t) / args.steps
    ceiling = matmul_ceiling()
    achieved = flops / sec / 1e9
    print(f"threads {torch.get_num_threads()}, batch {args.batch}, 384 tokens per clip")
    print(f"matmul ceiling (fp32 torch.mm, best of sizes 256–2048): {ceiling:.1f} GFLOP/s")
    print(f"training step: {flops / 1e9:.2f} GFLOP (forward + backward), {sec * 1000:.0f} ms")
    print(f"achieved: {achieved:.1f} GFLOP/s = {achieved / ceiling:.2f} of the ceiling (target 0.50)")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40))


if __name__ == "__main__":
    main()
