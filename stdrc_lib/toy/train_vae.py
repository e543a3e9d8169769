"""Train the toy ``AutoencoderKLLTX2Video`` on SynthFaces clips.

    python -m stdrc_lib.toy.train_vae --steps 2400 --out data/toy/vae

Loss: ``|x̂ − x|₁ + |x̂ − x|₂² + β·KL`` with the decoder fed the posterior mean (the same
``latent_dist.mode()`` that sampling uses). Training uses 5-frame clips (the VAE is
convolutional and causal, so it transfers to 17 frames); the reported PSNR is on held-out
17-frame clips. After training, per-channel latent statistics are written into the VAE's
``latents_mean`` / ``latents_std`` buffers so the transformer sees unit-variance latents.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core.io import atomic_folder
from ..train.schedule import warmup_cosine
from .dataset import SynthFaces
from .weights import TOY_VAE_CONFIG


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per clip for pixels in [−1, 1] (peak-to-peak 2)."""
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


@torch.no_grad()
def evaluate(vae, n: int = 32, seed: int = 1, batch: int = 8) -> dict:
    ds = SynthFaces("eval", n, seed=seed)
    vals = []
    for i in range(0, n, batch):
        x = torch.stack([ds[j]["video"] for j in range(i, min(n, i + batch))])
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        vals.append(psnr(y, x))
    v = torch.cat(vals)
    return {"psnr_mean": v.mean().item(), "psnr_ci95": 1.96 * v.std().item() / math.sqrt(len(v)), "clips": n}


@torch.no_grad()
def latent_stats(vae, n: int = 64, seed: int = 2, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    ds = SynthFaces("train", n, seed=seed)
    zs = []
    for i in range(0, n, batch):
        x = torch.stack([ds[j]["video"] for j in range(i, min(n, i + batch))])
        zs.append(vae.encode(x).latent_dist.mode())
    z = torch.cat(zs).transpose(0, 1).flatten(1)  # (C, everything)
    return z.mean(1), z.std(1)


def train_vae(
    steps: int,
    out: Path,
    batch: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    frames: int = 5,
    kl_weight: float = 1e-7,
    threads: int | None = None,
) -> dict:
    from diffusers import AutoencoderKLLTX2Video

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    vae = AutoencoderKLLTX2Video(**TOY_VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps, warmup=50))
    ds = SynthFaces("train", steps * batch, seed=seed, frames=frames)
    t0 = time.time()
    bar = tqdm(range(steps), desc="vae")
    for step in bar:
        x = torch.stack([ds[step * batch + j]["video"] for j in range(batch)])
        post = vae.encode(x).latent_dist
        y = vae.decode(post.mode()).sample
        rec = (y - x).abs().mean() + ((y - x) ** 2).mean()
        kl = post.kl().mean() / x[0].numel()
        loss = rec + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{rec.item():.4f}", psnr=f"{psnr(y.detach().clamp(-1, 1), x).mean():.1f}")
    vae.eval()
    mean, std = latent_stats(vae)
    vae.latents_mean.copy_(mean)
    vae.latents_std.copy_(std)
    metrics = evaluate(vae)
    metrics.update(steps=steps, batch=batch, lr=lr, seed=seed, train_frames=frames, minutes=(time.time() - t0) / 60)

    def write(d: Path) -> None:
        vae.save_pretrained(d, safe_serialization=True)
        (d / "metrics.json").write_text(json.dumps(metrics, indent=2))

    atomic_folder(out, write)  # the folder appears whole or not at all
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train the toy LTX-2 VAE on SynthFaces.")
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--frames", type=int, default=5, help="frames per training clip, 4k+1 (default: 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("data/toy/vae"))
    a = ap.parse_args(argv)
    print(json.dumps(train_vae(a.steps, a.out, a.batch, a.lr, a.seed, frames=a.frames, threads=a.threads), indent=2))


if __name__ == "__main__":
    main()
