"""Training ST-DRC on the toy preset (SynthFaces).

One step, for a batch of clips ``x₀`` (VAE latents), references ``r`` and prompts ``c``:

1. draw σ (logit-normal) and ε; ``x_σ = (1 − σ)·x₀ + σ·ε``; target ``v = ε − x₀``;
2. augment the reference pixels (re-layout, affine, flip, blur, noise) and encode them with
   the frozen VAE into clean tokens (timestep 0);
3. condition dropout: with probability ``p_text`` the prompt becomes the null prompt, with
   ``p_ref`` the reference is removed (masked out), with ``p_both`` both — so
   ``v(∅,∅)``, ``v(r,∅)`` and ``v(r,c)`` are all trained;
4. ``L_fm = ‖v̂ − v‖²`` over video tokens only (reference outputs are discarded).

The text encoder trains jointly; the VAE is frozen. Clips are rendered and VAE-encoded once
into an in-memory cache; references are augmented and encoded on the fly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import losses
from . import positions as P
from . import reference as R
from .augment import AugmentConfig, augment
from .backbone import Backbone, transformer_forward


@dataclass
class ToyTrainConfig:
    steps: int = 2500
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 100
    seed: int = 0
    scheme: str = "tass"
    p_text: float = 0.1
    p_ref: float = 0.1
    p_both: float = 0.1
    n_clips: int = 6000
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    log_every: int = 50
    sample_every: int = 500

    def __post_init__(self) -> None:
        P.check_scheme(self.scheme)
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.augment.items()})
        for k in ("p_text", "p_ref", "p_both"):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"`{k}` must be in [0, 1], got {getattr(self, k)!r}.")


@dataclass
class ClipCache:
    """Pre-encoded training clips: latents ``(N, C, F, H, W)``, reference pixels and boxes, prompts."""

    latents: torch.Tensor
    refs: torch.Tensor
    ref_boxes: torch.Tensor
    prompts: list[str]
    identity: torch.Tensor
    prompt_attrs: torch.Tensor


@torch.no_grad()
def build_cache(
    vae, n_clips: int, seed: int = 0, batch: int = 16, split: str = "train", ref_mode=None, progress: bool = True
) -> ClipCache:
    from .toyworld.dataset import SynthFaces

    ds = SynthFaces(split, n_clips, seed=seed, ref_mode=ref_mode)
    lat, refs, boxes, prompts, ident, pattr = [], [], [], [], [], []
    for i in tqdm(range(0, n_clips, batch), desc=f"encoding {split} clips", disable=not progress):
        items = [ds[j] for j in range(i, min(n_clips, i + batch))]
        lat.append(R.encode(vae, torch.stack([it["video"] for it in items])))
        refs.append(torch.stack([it["reference"] for it in items]))
        boxes.append(torch.stack([it["ref_box"] for it in items]))
        prompts += [it["prompt"] for it in items]
        ident.append(torch.stack([it["identity"] for it in items]))
        pattr.append(torch.stack([it["prompt_attrs"] for it in items]))
    return ClipCache(torch.cat(lat), torch.cat(refs), torch.cat(boxes), prompts, torch.cat(ident), torch.cat(pattr))


def sample_sigma(b: int, g: torch.Generator) -> torch.Tensor:
    """Logit-normal σ ∈ (0, 1) (mean 0, std 1), as in SD3 / LTX training."""
    return torch.sigmoid(torch.randn(b, generator=g))


def dropout_masks(b: int, cfg: ToyTrainConfig, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep_text, keep_ref) booleans per row, from one uniform draw per row."""
    u = torch.rand(b, generator=g)
    drop_text = u < cfg.p_text
    drop_ref = (u >= cfg.p_text) & (u < cfg.p_text + cfg.p_ref)
    drop_both = (u >= cfg.p_text + cfg.p_ref) & (u < cfg.p_text + cfg.p_ref + cfg.p_both)
    return ~(drop_text | drop_both), ~(drop_ref | drop_both)


def flow_matching_loss(
    backbone: Backbone,
    x0: torch.Tensor,
    ref_pixels: torch.Tensor,
    prompts: list[str],
    keep_text: torch.Tensor,
    keep_ref: torch.Tensor,
    sigma: torch.Tensor,
    noise: torch.Tensor,
    positions: P.PositionConfig,
) -> torch.Tensor:
    """``‖v̂ − (ε − x₀)‖²`` over video tokens for latents ``x0`` ``(B, C, F, H, W)``."""
    b = x0.shape[0]
    grid = tuple(x0.shape[2:])
    with torch.no_grad():
        z_ref = R.encode(backbone.vae, ref_pixels[:, :, None])  # (B, C, 1, Hr, Wr)
    ref_tok = R.pack(z_ref)
    s = sigma.view(b, 1, 1, 1, 1)
    x_sigma = (1 - s) * x0 + s * noise
    tokens = R.concat_tokens(R.pack(x_sigma), [ref_tok])
    n_v = tokens.shape[1] - ref_tok.shape[1]
    texts = [p if k else "" for p, k in zip(prompts, keep_text.tolist())]
    ids, tmask = backbone.text_encoder.tokenize(texts)
    emb = backbone.text_encoder(ids, tmask)
    mask = None if keep_ref.all() else R.reference_mask(n_v, ref_tok.shape[1], keep_ref)
    coords = P.build_coords(backbone.transformer.rope, b, grid, [tuple(z_ref.shape[-2:])], positions)
    ts = R.token_timesteps(sigma, n_v, ref_tok.shape[1])
    v = transformer_forward(backbone.transformer, tokens, emb, ts, sigma, coords, tmask, mask)
    return losses.flow_matching(R.strip_tokens(v, n_v), R.pack(noise), R.pack(x0))


def train_toy(
    backbone: Backbone,
    cfg: ToyTrainConfig,
    out: Path | None = None,
    cache: ClipCache | None = None,
    progress: bool = True,
    on_sample=None,
) -> dict:
    """Train ``backbone.transformer`` and ``backbone.text_encoder`` in place; returns a log dict."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    backbone.vae.eval().requires_grad_(False)
    if cache is None:
        cache = build_cache(backbone.vae, cfg.n_clips, cfg.seed, progress=progress)
    t_cache = time.time() - t_start
    model_params = list(backbone.transformer.parameters()) + list(backbone.text_encoder.parameters())
    opt = torch.optim.AdamW(model_params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))
    )
    positions = P.PositionConfig(scheme=cfg.scheme, fps=backbone.fps)
    backbone.transformer.train()
    backbone.text_encoder.train()
    losses, t0 = [], time.time()
    bar = tqdm(range(cfg.steps), desc="train", disable=not progress)
    for step in bar:
        idx = torch.randint(len(cache.latents), (cfg.batch,), generator=g)
        x0 = cache.latents[idx]
        refs = augment(cache.refs[idx], cache.ref_boxes[idx], cfg.augment, g)
        keep_text, keep_ref = dropout_masks(cfg.batch, cfg, g)
        sigma = sample_sigma(cfg.batch, g)
        noise = torch.randn(x0.shape, generator=g)
        loss = flow_matching_loss(
            backbone, x0, refs, [cache.prompts[i] for i in idx], keep_text, keep_ref, sigma, noise, positions
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model_params, 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{sum(losses[-cfg.log_every :]) / len(losses[-cfg.log_every :]):.4f}")
        if on_sample is not None and cfg.sample_every and (step + 1) % cfg.sample_every == 0:
            backbone.transformer.eval()
            backbone.text_encoder.eval()
            on_sample(step + 1, backbone)
            backbone.transformer.train()
            backbone.text_encoder.train()
    backbone.transformer.eval()
    backbone.text_encoder.eval()
    log = {
        "config": asdict(cfg),
        "losses": losses,
        "train_minutes": (time.time() - t0) / 60,
        "cache_minutes": t_cache / 60,
        "sec_per_step": (time.time() - t0) / max(1, cfg.steps),
    }
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "train_log.json").write_text(json.dumps(log))
    return log
