"""Train a toy ``AutoencoderKLLTX2Video`` on SynthFaces clips, resumably.

    python -m stdrc_lib.toy.train_vae --steps 2400 --out data/toy/vae                  # the first (classic) VAE
    python -m stdrc_lib.toy.train_vae --preset base --out runs/base/vae               # the base model's VAE

Loss: ``|x̂ − x|₁ + |x̂ − x|₂² + β·KL`` with the decoder fed the posterior mean (the same
``latent_dist.mode()`` that sampling uses); ``face_weight`` adds the same reconstruction terms again
inside each frame's face box, times that weight (training data only: the boxes come from the renderer).
``frames`` sets the training clips' length. Short clips are cheaper, but they do not transfer to 17 frames as well
as one would hope: in a 5-frame clip every latent frame is at an end of the sequence, while the middle latents of
a 17-frame clip have neighbours on both sides in the temporal convolutions (measured on the base VAE after 5-frame
training: frame 0 at 27 dB, the middle frames near 19 dB, the last group near 22 dB). The reported PSNR is on
held-out 17-frame clips. After training, per-channel latent statistics are written
into the VAE's ``latents_mean`` / ``latents_std`` buffers so the transformer sees unit-variance latents.
With ``ckpt_dir`` the run saves checkpoints and resumes from the newest one, to the same result.
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
from ..train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ..train.schedule import warmup_cosine
from .dataset import SynthFaces
from .weights import BASE_VAE_CONFIG, TOY_VAE_CONFIG

PRESETS = {
    "classic": dict(config=TOY_VAE_CONFIG, look="classic"),
    "base": dict(config=BASE_VAE_CONFIG, look="bold"),
}


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per clip for pixels in [−1, 1] (peak-to-peak 2)."""
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def _clips(ds: SynthFaces, start: int, stop: int) -> torch.Tensor:
    return torch.stack([ds[j]["video"] for j in range(start, stop)])


@torch.no_grad()
def evaluate(vae, n: int = 32, seed: int = 1, batch: int = 8, look: str = "classic") -> dict:
    ds = SynthFaces("eval", n, seed=seed, look=look)
    vals = []
    for i in range(0, n, batch):
        x = _clips(ds, i, min(n, i + batch))
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        vals.append(psnr(y, x))
    v = torch.cat(vals)
    return {"psnr_mean": v.mean().item(), "psnr_ci95": 1.96 * v.std().item() / math.sqrt(len(v)), "clips": n}


@torch.no_grad()
def latent_stats(vae, n: int = 64, seed: int = 2, batch: int = 8, look: str = "classic"):
    ds = SynthFaces("train", n, seed=seed, look=look)
    zs = [vae.encode(_clips(ds, i, min(n, i + batch))).latent_dist.mode() for i in range(0, n, batch)]
    z = torch.cat(zs).transpose(0, 1).flatten(1)  # (C, everything)
    return z.mean(1), z.std(1)


def face_weights(boxes: torch.Tensor, frames: int, size: int, margin: float = 1.3) -> torch.Tensor:
    """``(B, 1, F, H, W)`` masks of 1 inside each frame's face box (``boxes`` ``(B, F, 4)`` as cx, cy, w, h
    canvas fractions), widened by ``margin``, else 0."""
    g = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    cx, cy, w, h = (boxes[..., i, None, None] for i in range(4))  # (B, F, 1, 1)
    inside = ((g[None, None, None, :] - cx).abs() <= w * margin / 2) & (
        (g[None, None, :, None] - cy).abs() <= h * margin / 2
    )
    return inside[:, None, :frames].float()


def train_vae(
    steps: int,
    out: Path,
    batch: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    frames: int = 5,
    kl_weight: float = 1e-7,
    threads: int | None = None,
    preset: str = "classic",
    face_weight: float = 0.0,
    ckpt_dir: Path | None = None,
    ckpt_every: int = 200,
    eval_clips: int = 32,
    init: Path | None = None,
    crop: int | None = None,
    stop_after: int | None = None,
    bf16: bool = False,
) -> dict:
    """Train (or, from ``init``, continue training) a VAE; ``crop`` trains on random ``crop``×``crop`` windows of
    the clips (the VAE is convolutional), which makes a step about (64 / crop)² times cheaper; ``stop_after``
    ends the run after that many steps of a ``steps``-step schedule. ``bf16`` runs the forward pass under bfloat16
    autocast (about twice as fast on CPUs with AMX or AVX-512 BF16; the weights and the loss stay float32)."""
    from diffusers import AutoencoderKLLTX2Video

    if preset not in PRESETS:
        raise ValueError(f"`preset` must be one of {tuple(PRESETS)}, got {preset!r}.")
    if crop is not None and (crop < 16 or crop > 64 or crop % 16):
        raise ValueError(f"`crop` must be a multiple of 16 in [16, 64], got {crop!r}.")
    if init is not None and not (Path(init) / "config.json").is_file():
        raise FileNotFoundError(f"`init` must be a VAE folder written by save_pretrained, got {str(init)!r}.")
    config, look = PRESETS[preset]["config"], PRESETS[preset]["look"]
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if init is None:
        vae = AutoencoderKLLTX2Video(**config)
    else:
        vae = AutoencoderKLLTX2Video.from_pretrained(init, local_files_only=True, torch_dtype=torch.float32).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps, warmup=50))
    ds = SynthFaces("train", steps * batch, seed=seed, frames=frames, look=look)
    start, minutes = 0, 0.0
    if ckpt_dir is not None and (last := latest_checkpoint(ckpt_dir)) is not None:
        state = load_checkpoint(last, {"vae": vae}, opt, sched)
        start, minutes = state["step"], state["extra"]["minutes"]
    t0 = time.time()
    end = steps if stop_after is None else min(steps, stop_after)
    bar = tqdm(range(start, end), desc="vae", initial=start, total=end)
    for step in bar:
        items = [ds[step * batch + j] for j in range(batch)]
        x = torch.stack([it["video"] for it in items])
        w = face_weights(torch.stack([it["boxes"] for it in items]), frames, x.shape[-1]) if face_weight else None
        if crop is not None:  # one window per step, the same for every clip and frame
            y0, x0 = (int(v) for v in torch.randint(0, x.shape[-1] - crop + 1, (2,)))
            x = x[..., y0 : y0 + crop, x0 : x0 + crop]
            w = None if w is None else w[..., y0 : y0 + crop, x0 : x0 + crop]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            post = vae.encode(x).latent_dist
            y = vae.decode(post.mode()).sample.float()
        err = (y - x).abs() + (y - x) ** 2
        if w is not None:
            err = err * (1 + face_weight * w)
        rec = err.mean()
        kl = post.kl().mean() / x[0].numel()
        loss = rec + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{rec.item():.4f}", psnr=f"{psnr(y.detach().clamp(-1, 1), x).mean():.1f}")
        if ckpt_dir is not None and (step + 1) % ckpt_every == 0 and step + 1 < end:
            extra = {"minutes": minutes + (time.time() - t0) / 60}
            save_checkpoint(ckpt_dir, step + 1, {"vae": vae}, opt, sched, extra=extra)
    minutes += (time.time() - t0) / 60
    vae.eval()
    mean, std = latent_stats(vae, look=look)
    vae.latents_mean.copy_(mean)
    vae.latents_std.copy_(std)
    metrics = evaluate(vae, n=eval_clips, look=look)
    metrics.update(
        preset=preset,
        look=look,
        steps=steps,
        batch=batch,
        lr=lr,
        seed=seed,
        train_frames=frames,
        face_weight=face_weight,
        minutes=minutes,
        init=None if init is None else str(init),
        crop=crop,
        stopped_after=end,
        bf16=bf16,
    )

    def write(d: Path) -> None:
        vae.save_pretrained(d, safe_serialization=True)
        (d / "metrics.json").write_text(json.dumps(metrics, indent=2))

    atomic_folder(out, write)  # the folder appears whole or not at all
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train a toy LTX-2 VAE on SynthFaces.")
    ap.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="classic",
        help="'classic': the first toy VAE; 'base': the base model's VAE, on the bold look",
    )
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--frames", type=int, default=5, help="frames per training clip, 4k+1 (default: 5)")
    ap.add_argument("--face-weight", type=float, default=0.0, help="extra loss weight inside face boxes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ckpt-dir", type=Path, default=None, help="save checkpoints here and resume from them")
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--eval-clips", type=int, default=32)
    ap.add_argument("--init", type=Path, default=None, help="continue from this trained VAE folder")
    ap.add_argument("--crop", type=int, default=None, help="train on random crop×crop windows (multiple of 16)")
    ap.add_argument("--stop-after", type=int, default=None, help="end after this many steps of the --steps schedule")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast in training (float32 weights and loss)")
    ap.add_argument("--out", type=Path, default=Path("runs/vae"))
    a = ap.parse_args(argv)
    m = train_vae(
        a.steps,
        a.out,
        a.batch,
        a.lr,
        a.seed,
        frames=a.frames,
        threads=a.threads,
        preset=a.preset,
        face_weight=a.face_weight,
        ckpt_dir=a.ckpt_dir,
        ckpt_every=a.ckpt_every,
        eval_clips=a.eval_clips,
        init=a.init,
        crop=a.crop,
        stop_after=a.stop_after,
        bf16=a.bf16,
    )
    print(json.dumps(m, indent=2))


if __name__ == "__main__":
    main()
