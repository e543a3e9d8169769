"""Toy training throughput as a fraction of this machine's fp32 matmul ceiling, and where the time goes.

Usage: python bench/bench_train_throughput.py [--steps 10] [--batch 16] [--profile] [--compile] [--compile-blocks]

1. Ceiling: the best GFLOP/s of square fp32 `torch.mm` at sizes 256–2048, measured in this run.
2. One training step of the shipped toy recipe (flow matching, batch 16, 320 video + 64 reference tokens,
   augmentation on): FLOPs counted by `torch.utils.flop_counter.FlopCounterMode` over forward + backward,
   wall time averaged over --steps steps after two warm-up steps.
3. Achieved GFLOP/s = FLOPs / time, and the ratio to the ceiling (target ≥ 0.5).
With --profile, the 15 ops with the most self CPU time over 3 steps (torch.profiler), the same time grouped
into matrix multiplies, attention, convolution (the frozen VAE encoding the references), elementwise and
other work, and one attention call timed with SDPA's flash kernel and with its math path.
With --compile-blocks, diffusers' regional compilation (`compile_repeated_blocks`, inductor) of the
transformer blocks is timed against eager in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from stdrc_lib.core import positions as P
from stdrc_lib.core.losses import flow_matching_loss
from stdrc_lib.prep.augment import AugmentConfig, augment
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.train import ToyTrainConfig, build_cache
from stdrc_lib.train.trainer import dropout_masks, sample_sigma


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


CATEGORIES = {
    "matrix multiplies": ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul"),
    "attention (SDPA)": ("aten::_scaled_dot_product", "aten::scaled_dot_product"),
    "convolution (VAE encode)": ("aten::mkldnn_convolution", "aten::convolution", "aten::_convolution"),
    "elementwise": (
        "aten::mul", "aten::add", "aten::sub", "aten::div", "aten::copy_", "aten::gelu", "aten::silu",
        "aten::pow", "aten::sin", "aten::cos", "aten::neg", "aten::rsqrt", "aten::sqrt", "aten::exp", "aten::fill_",
        "aten::addcmul", "aten::addcdiv", "aten::lerp", "aten::where", "aten::sigmoid", "aten::tanh",
        "aten::_to_copy", "aten::clamp", "aten::mean", "aten::sum", "aten::cat", "aten::zero_",
    ),
}  # fmt: skip


def categorise(averages) -> dict[str, float]:
    """Self CPU time (ms) per category from ``prof.key_averages()``; each op counted once."""
    out = dict.fromkeys([*CATEGORIES, "other"], 0.0)
    for e in averages:
        if not e.key.startswith("aten::"):
            continue
        cat = next((c for c, pre in CATEGORIES.items() if any(e.key.startswith(p) for p in pre)), "other")
        out[cat] += e.self_cpu_time_total / 1000
    return out


def sdpa_backends(batch: int, heads: int = 4, tokens: int = 384, head_dim: int = 32, repeats: int = 5) -> dict:
    """Forward + backward time (ms) of one attention call at the training shape, flash kernel vs math path."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = (torch.randn(batch, heads, tokens, head_dim, requires_grad=True) for _ in range(3))
    out = {}
    for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("math", SDPBackend.MATH)):
        with sdpa_kernel([backend]):
            for i in range(repeats + 2):
                if i == 2:
                    t = time.perf_counter()
                F.scaled_dot_product_attention(q, k, v).sum().backward()
            out[name] = (time.perf_counter() - t) / repeats * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the transformer first")
    ap.add_argument(
        "--compile-blocks",
        action="store_true",
        help="also time diffusers' compile_repeated_blocks (regional inductor compilation) against eager",
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    b = TW.toy_backbone()
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
        loss, _ = flow_matching_loss(b, x0, refs, [cache.prompts[i] for i in idx], kt, kr, sigma, noise, pos)
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
        avg = prof.key_averages()
        print(avg.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40))
        cats = categorise(avg)
        total = sum(cats.values())
        print("| where the time goes (self CPU, 3 steps) | ms | share |\n|---|---:|---:|")
        for c, ms in cats.items():
            print(f"| {c} | {ms:.0f} | {ms / total:.0%} |")
    if args.profile:
        sd = sdpa_backends(args.batch)
        ratio = sd["math"] / sd["flash"]
        print(f"one attention call (B={args.batch}, 4 heads, 384 tokens), forward + backward: "
              f"flash {sd['flash']:.0f} ms, math {sd['math']:.0f} ms ({ratio:.1f}× flash)")  # fmt: skip
    if args.compile_blocks:
        b.transformer.compile_repeated_blocks(fullgraph=False)
        for _ in range(3):  # compile (and the masked / unmasked variants) outside the timing
            step()
        t = time.perf_counter()
        for _ in range(args.steps):
            step()
        sec_c = (time.perf_counter() - t) / args.steps
        print(f"compile_repeated_blocks: {sec_c * 1000:.0f} ms per step = {sec_c / sec:.2f}× eager "
              f"({flops / sec_c / 1e9 / ceiling:.2f} of the ceiling)")  # fmt: skip


if __name__ == "__main__":
    main()
