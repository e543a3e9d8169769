"""Does a model read its reference? The flow-matching loss with the reference kept and with it dropped, on the
same clips, σ and noise.

    python bench/reference_use.py                                   # the shipped base, and base + adapter
    python bench/reference_use.py --adapter runs/toy/adapter --schemes tass shared
    python bench/reference_use.py --base runs/base_new --no-adapter --schemes tass keyframe

``keyframe`` puts each reference at the positions of the frame it is (LTX-2's keyframe conditioning, which the
base is trained on), not at a scheme's.

The references are a frame of each clip itself, the easiest reference there is: a model that reads it predicts
the clip better with it than without (a negative "with − without"). A model that has learned to ignore it scores
the same both ways; one that is disturbed by it (the base, which never saw a reference) scores worse with it.
The last column is the share of the video tokens' attention that lands on the reference tokens (mean over
layers and tokens); a model that has learned to ignore the reference has shut it. Prints one row per model and
scheme; nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def reference_use(backbone, cache, scheme: str, sigma: float, batch: int = 8, seed: int = 0) -> dict:
    """Mean flow-matching loss over ``cache`` with the reference kept and dropped (same σ and noise)."""
    from stdrc_lib.core import losses as L
    from stdrc_lib.core import positions as P
    from stdrc_lib.core.attention import capture_attention

    g = torch.Generator().manual_seed(seed)
    keyframe = scheme == "keyframe"
    positions = P.PositionConfig(scheme="tass" if keyframe else scheme, fps=backbone.fps)
    out, mass = {True: [], False: []}, []
    for s in range(0, len(cache), batch):
        x0, refs = cache.latents[s : s + batch], cache.refs[s : s + batch]  # references in [−1, 1]
        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=g)
        prompts = list(cache.prompts[s : s + b])
        frames = cache.ref_frames[s : s + b] if keyframe else None
        n_v = x0[0, 0].numel()
        for keep in (True, False):
            with torch.no_grad(), capture_attention(backbone.transformer, n_v) as store:
                fm, _ = L.flow_matching_loss(
                    backbone, x0, refs, prompts, torch.ones(b, dtype=torch.bool), torch.full((b,), keep),
                    torch.full((b,), sigma), noise, positions, keyframe=frames,
                )  # fmt: skip
            out[keep].append(fm.item() * b)
            if keep:  # the share of each video token's attention that lands on the reference, mean over layers
                mass.append(torch.stack([m.sum(-1).mean() for m in store.maps.values()]).mean().item() * b)
    n = len(cache)
    return {"with": sum(out[True]) / n, "without": sum(out[False]) / n, "attention": sum(mass) / n}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, default=None, help="base model folder (default: the shipped one)")
    ap.add_argument("--adapter", type=Path, default=None, help="adapter folder (default: the shipped one)")
    ap.add_argument("--no-adapter", action="store_true", help="score the base alone")
    ap.add_argument(
        "--schemes",
        nargs="+",
        default=None,
        help="position schemes, or `keyframe`: each reference at its own frame's positions (default: the adapter's)",
    )
    ap.add_argument("--clips", type=int, default=48, help="held-in training clips (default: 48)")
    ap.add_argument("--sigma", type=float, default=0.7, help="noise level σ in (0, 1] (default: 0.7)")
    a = ap.parse_args(argv)
    if a.clips < 1:
        ap.error(f"--clips must be at least 1, got {a.clips}")
    if not 0 < a.sigma <= 1:
        ap.error(f"--sigma must be in (0, 1], got {a.sigma}")
    from stdrc_lib.core.config import SCHEMES
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.train import build_cache

    for s in a.schemes or []:
        if s not in (*SCHEMES, "keyframe"):
            ap.error(f"--schemes: {s!r} is not one of {', '.join(SCHEMES)}, keyframe")
    base = a.base or TW.BASE_DIR
    adapter = a.adapter or TW.ADAPTER_DIR
    models = {"base": TW.load_toy(base)}
    if not a.no_adapter:
        models["base + adapter"] = TW.load_adapter(TW.load_toy(base), adapter)
    schemes = a.schemes or [list(models.values())[-1].extra.get("scheme", "tass")]
    cache = build_cache(models["base"].vae, a.clips, seed=7, look=models["base"].extra["look"], progress=False)
    print(f"flow-matching loss at σ = {a.sigma:g} on {a.clips} clips, each with a frame of itself as the reference")
    print("| model | scheme | with the reference | without | with − without | attention on the reference |")
    print("|---|---|---:|---:|---:|---:|")
    for name, bb in models.items():
        for scheme in schemes:
            r = reference_use(bb, cache, scheme, a.sigma)
            gap, att = r["with"] - r["without"], r["attention"]
            print(f"| {name} | {scheme} | {r['with']:.4f} | {r['without']:.4f} | {gap:+.4f} | {att:.3f} |")


if __name__ == "__main__":
    main()
