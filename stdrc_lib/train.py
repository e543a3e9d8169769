"""Training ST-DRC on the toy preset (SynthFaces).

One step, for a batch of clips ``x₀`` (VAE latents), references ``r`` and prompts ``c``:

1. draw σ (logit-normal) and ε; ``x_σ = (1 − σ)·x₀ + σ·ε``; target ``v = ε − x₀``;
2. augment the reference pixels (re-layout, affine, flip, blur, noise) and encode them with
   the frozen VAE into clean tokens (timestep 0);
3. condition dropout: with probability ``p_text`` the prompt becomes the null prompt, with
   ``p_ref`` the reference is removed (masked out), with ``p_both`` both — so
   ``v(∅,∅)``, ``v(r,∅)`` and ``v(r,c)`` are all trained;
4. ``L_fm = ‖v̂ − v‖²`` over video tokens only (reference outputs are discarded);
5. optionally (``lambda_id > 0``) the face-guided identity loss of :mod:`stdrc_lib.losses` on rows
   with σ ≤ ``sigma_id``: ``x̂₀ = x_σ − σ·v̂``, its first latent frame decoded by the frozen VAE,
   embedded by a frozen differentiable face embedder and compared with the embedding of the
   un-augmented reference: ``L = L_fm + λ_id·L_id``.

The text encoder trains jointly; the VAE is frozen. Clips are rendered and VAE-encoded once
into an in-memory cache; references are augmented and encoded on the fly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import losses as L
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
    lambda_id: float = 0.0
    sigma_id: float = 0.5
    ema_decay: float = 0.0
    p_cross_ref: float = 0.0
    p_relight: float = 0.0  # toy: share of references re-lit by another of the world's lights
    lora_rank: int = 0
    gradient_checkpointing: bool = False
    ckpt_every: int = 0
    isolated_reference: bool = False  # reference tokens in their own pass (σ = 0): K/V-cacheable, see refcache
    face_loss_weight: float = 1.0  # weight of face tokens in the flow-matching loss (1 = plain mean)
    face_crop: bool = False  # references cut to a square around the face before encoding (R.crop_face)
    face_cutout: bool = False  # the person kept on a plain random colour, then cut to that square (R.cutout_face)

    def __post_init__(self) -> None:
        P.check_scheme(self.scheme)
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.augment.items()})
        for k in ("p_text", "p_ref", "p_both", "p_cross_ref", "p_relight"):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"`{k}` must be in [0, 1], got {getattr(self, k)!r}.")
        if self.lambda_id < 0:
            raise ValueError(f"`lambda_id` must be ≥ 0, got {self.lambda_id!r}.")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"`ema_decay` must be in [0, 1) (0 = off), got {self.ema_decay!r}.")
        if self.lora_rank < 0:
            raise ValueError(f"`lora_rank` must be ≥ 0 (0 = full fine-tuning), got {self.lora_rank!r}.")
        if self.ckpt_every < 0:
            raise ValueError(f"`ckpt_every` must be ≥ 0 (0 = off), got {self.ckpt_every!r}.")
        if not 0 < self.sigma_id <= 1:
            raise ValueError(f"`sigma_id` must be in (0, 1], got {self.sigma_id!r}.")
        if not self.face_loss_weight > 0:
            raise ValueError(f"`face_loss_weight` must be > 0 (1 = off), got {self.face_loss_weight!r}.")
        if self.face_crop and self.face_cutout:
            raise ValueError("`face_crop` and `face_cutout` are two ways to prepare the reference; choose one.")
        if self.isolated_reference and self.gradient_checkpointing:
            raise ValueError(
                "`isolated_reference` cannot be combined with `gradient_checkpointing`: the recomputed forward "
                "would run without the reference keys and values."
            )


@dataclass
class ClipCache:
    """Pre-encoded training clips: latents ``(N, C, F, H, W)``, reference pixels and boxes, prompts."""

    latents: torch.Tensor
    refs: torch.Tensor
    ref_boxes: torch.Tensor
    prompts: list[str]
    identity: torch.Tensor
    prompt_attrs: torch.Tensor
    cross_refs: torch.Tensor | None = None
    cross_ref_boxes: torch.Tensor | None = None
    ref_masks: torch.Tensor | None = None  # (N, H, W) the person's coverage in each reference, for face cut-outs
    cross_ref_masks: torch.Tensor | None = None
    face_boxes: torch.Tensor | None = None  # (N, frames, 4) per pixel frame, for the face-weighted loss


@torch.no_grad()
def build_cache(
    vae,
    n_clips: int,
    seed: int = 0,
    batch: int = 16,
    split: str = "train",
    ref_mode=None,
    progress: bool = True,
    cross_reference: bool = False,
) -> ClipCache:
    from .toyworld.dataset import SynthFaces

    ds = SynthFaces(split, n_clips, seed=seed, ref_mode=ref_mode, cross_reference=cross_reference)
    lat, refs, boxes, prompts, ident, pattr, xrefs, xboxes, fboxes = [], [], [], [], [], [], [], [], []
    masks, xmasks = [], []
    for i in tqdm(range(0, n_clips, batch), desc=f"encoding {split} clips", disable=not progress):
        items = [ds[j] for j in range(i, min(n_clips, i + batch))]
        lat.append(R.encode(vae, torch.stack([it["video"] for it in items])))
        refs.append(torch.stack([it["reference"] for it in items]))
        boxes.append(torch.stack([it["ref_box"] for it in items]))
        masks.append(torch.stack([it["ref_mask"] for it in items]).to(torch.float16))  # halves the cache
        fboxes.append(torch.stack([it["boxes"] for it in items]))
        prompts += [it["prompt"] for it in items]
        ident.append(torch.stack([it["identity"] for it in items]))
        pattr.append(torch.stack([it["prompt_attrs"] for it in items]))
        if cross_reference:
            xrefs.append(torch.stack([it["cross_reference"] for it in items]))
            xboxes.append(torch.stack([it["cross_ref_box"] for it in items]))
            xmasks.append(torch.stack([it["cross_ref_mask"] for it in items]).to(torch.float16))
    cross = (torch.cat(xrefs), torch.cat(xboxes)) if cross_reference else (None, None)
    return ClipCache(
        torch.cat(lat),
        torch.cat(refs),
        torch.cat(boxes),
        prompts,
        torch.cat(ident),
        torch.cat(pattr),
        *cross,
        ref_masks=torch.cat(masks),
        cross_ref_masks=torch.cat(xmasks) if cross_reference else None,
        face_boxes=torch.cat(fboxes),
    )


def _relight_some(
    ref_px: torch.Tensor, prompt_attrs: torch.Tensor, p: float, g: torch.Generator, cross: torch.Tensor | None = None
) -> torch.Tensor:
    """Re-light a random share ``p`` of the clip-frame references by one of the world's other lights. References
    marked in ``cross`` ``(B, 1, 1, 1)`` were rendered in another context, under a light the clip's prompt does
    not name, so they are left as they are."""
    from .toyworld.render import relight
    from .toyworld.world import PROMPT_ATTRS

    n = len(PROMPT_ATTRS["lighting"])
    light = prompt_attrs[:, list(PROMPT_ATTRS).index("lighting")]
    other = (light + torch.randint(1, n, light.shape, generator=g)) % n
    on = (torch.rand(len(light), generator=g) < p).view(-1, 1, 1, 1)
    if cross is not None:
        on &= ~cross
    return torch.where(on, relight(ref_px, light, other), ref_px)


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
    return_x0_estimate: bool = False,
    transformer=None,
    text_encoder=None,
    isolated_reference: bool = False,
    token_weights: torch.Tensor | None = None,
):
    """``‖v̂ − (ε − x₀)‖²`` over video tokens for latents ``x0`` ``(B, C, F, H, W)``.

    With ``return_x0_estimate`` also returns ``x̂₀ = x_σ − σ·v̂`` in the latent shape ``(B, C, F, H, W)``
    (with gradient), which the identity loss decodes.
    ``transformer`` / ``text_encoder`` override the backbone's modules for the forward call (the
    DDP-wrapped ones under accelerate); shapes and positions still come from ``backbone``.
    With ``isolated_reference`` the reference tokens run in their own pass at σ = 0 and the video
    tokens read their keys and values (:mod:`stdrc_lib.refcache`), exactly as cached sampling does.
    ``token_weights`` ``(B, N_v)`` weight the per-token errors (e.g. :func:`reference.face_token_weights`).
    """
    b = x0.shape[0]
    grid = tuple(x0.shape[2:])
    with torch.no_grad():
        z_ref = R.encode(backbone.vae, ref_pixels[:, :, None])  # (B, C, 1, Hr, Wr)
    ref_tok = R.pack(z_ref)
    s = sigma.view(b, 1, 1, 1, 1)
    x_sigma = (1 - s) * x0 + s * noise
    n_v, n_r = grid[0] * grid[1] * grid[2], ref_tok.shape[1]
    texts = [p if k else "" for p, k in zip(prompts, keep_text.tolist())]
    ids, tmask = backbone.text_encoder.tokenize(texts)
    emb = (backbone.text_encoder if text_encoder is None else text_encoder)(ids, tmask)
    coords = P.build_coords(backbone.transformer.rope, b, grid, [tuple(z_ref.shape[-2:])], positions)
    transformer = backbone.transformer if transformer is None else transformer
    if isolated_reference:
        from .refcache import record_reference, reference_kv_cache, video_forward

        rows = torch.where(keep_ref, torch.arange(b), -1)
        with reference_kv_cache(transformer) as state:
            # the reference pass uses the unwrapped module: DDP allows one wrapped forward per backward
            record_reference(
                getattr(transformer, "module", transformer), state, ref_tok, emb, tmask, coords[:, :, n_v:]
            )
            v_video = video_forward(transformer, state, R.pack(x_sigma), emb, tmask, sigma, coords[:, :, :n_v], rows)
    else:
        tokens = R.concat_tokens(R.pack(x_sigma), [ref_tok])
        mask = None if keep_ref.all() else R.reference_mask(n_v, n_r, keep_ref)
        ts = R.token_timesteps(sigma, n_v, n_r)
        v = transformer_forward(transformer, tokens, emb, ts, sigma, coords, tmask, mask)
        v_video = R.strip_tokens(v, n_v)
    loss = L.flow_matching(v_video, R.pack(noise), R.pack(x0), token_weights)
    if return_x0_estimate:
        return loss, L.x0_estimate(x_sigma, R.unpack(v_video, grid), sigma)
    return loss


def _lr_lambda(cfg: ToyTrainConfig):
    def f(s: int) -> float:
        return min(1.0, (s + 1) / cfg.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))

    return f


def train_toy(
    backbone: Backbone,
    cfg: ToyTrainConfig,
    out: Path | None = None,
    cache: ClipCache | None = None,
    progress: bool = True,
    on_sample=None,
    embedder=None,
    ckpt_dir: str | Path | None = None,
    resume: bool = True,
) -> dict:
    """Train ``backbone.transformer`` and ``backbone.text_encoder`` in place; returns a log dict.

    Runs through :class:`accelerate.Accelerator`, so the same code runs as one process or under
    ``accelerate launch --num_processes N --cpu``. Every process draws the *global* batch's
    randomness from the same seeded generator and trains on its own slice of it, so N processes
    follow the trajectory of one process with the same ``cfg.batch`` (up to float rounding of the
    gradient all-reduce).

    Args:
        embedder: a differentiable :class:`~stdrc_lib.faces.FaceEmbedder` (e.g. the toy readout's),
            required when ``cfg.lambda_id > 0``; it stays frozen.
        ckpt_dir: with ``cfg.ckpt_every > 0``, checkpoints go here (see :mod:`stdrc_lib.checkpoint`).
        resume: continue from the latest checkpoint in ``ckpt_dir`` if there is one. Model,
            optimizer, scheduler, EMA, RNG states and the data position are restored, so a killed and
            resumed run ends with bitwise the same weights as an uninterrupted one (on CPU).
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    from . import checkpoint as C

    if cfg.lambda_id > 0 and (embedder is None or not getattr(embedder, "differentiable", False)):
        raise ValueError("`embedder` must be a differentiable FaceEmbedder when `cfg.lambda_id` > 0.")
    if cfg.ckpt_every and ckpt_dir is None:
        raise ValueError("`ckpt_dir` is required when `cfg.ckpt_every` > 0.")
    # cpu=True on machines without CUDA lets accelerate pick its multi-CPU (gloo) mode under a launcher
    acc = Accelerator(
        cpu=not torch.cuda.is_available(),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    world, rank = acc.num_processes, acc.process_index
    if cfg.batch % world:
        raise ValueError(f"`cfg.batch` ({cfg.batch}) must be divisible by the number of processes ({world}).")
    per = cfg.batch // world
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    backbone.vae.eval().requires_grad_(False)
    if embedder is not None and isinstance(getattr(embedder, "readout", None), torch.nn.Module):
        embedder.readout.eval().requires_grad_(False)
    if cache is None:
        cache = build_cache(
            backbone.vae,
            cfg.n_clips,
            cfg.seed,
            progress=progress and acc.is_main_process,
            cross_reference=cfg.p_cross_ref > 0,
        )
    if cfg.p_cross_ref > 0 and cache.cross_refs is None:
        raise ValueError("`cfg.p_cross_ref` > 0 needs a cache built with `cross_reference=True`.")
    if cfg.face_cutout and (cache.ref_masks is None or (cfg.p_cross_ref > 0 and cache.cross_ref_masks is None)):
        raise ValueError("`cfg.face_cutout` needs a cache with reference masks; rebuild it with build_cache.")
    t_cache = time.time() - t_start
    if cfg.gradient_checkpointing:
        backbone.transformer.enable_gradient_checkpointing()
    if cfg.lora_rank:  # peft LoRA on the LTX-2 trainer's targets; the base transformer stays frozen
        from .lora import add_lora, lora_parameters

        if not any("lora_" in n for n, _ in backbone.transformer.named_parameters()):
            add_lora(backbone.transformer, rank=cfg.lora_rank)
        model_params = lora_parameters(backbone.transformer) + list(backbone.text_encoder.parameters())
    else:
        model_params = list(backbone.transformer.parameters()) + list(backbone.text_encoder.parameters())
    opt = torch.optim.AdamW(model_params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    ema = None
    if cfg.ema_decay > 0:
        from diffusers.training_utils import EMAModel

        ema_params = [p for p in backbone.transformer.parameters() if p.requires_grad]
        ema = EMAModel(ema_params, decay=cfg.ema_decay)
    transformer, text_encoder, opt = acc.prepare(backbone.transformer, backbone.text_encoder, opt)
    positions = P.PositionConfig(scheme=cfg.scheme, fps=backbone.fps)
    losses, id_losses, start = [], [], 0
    ckpt_modules = {"transformer": backbone.transformer, "text_encoder": backbone.text_encoder}
    if ema is not None:
        ckpt_modules["ema"] = ema
    if ckpt_dir is not None and resume and (folder := C.latest_checkpoint(ckpt_dir)) is not None:
        state = C.load_checkpoint(folder, ckpt_modules, opt, sched, {"data": g})
        start = state["step"]
        losses, id_losses = state["extra"]["losses"], state["extra"]["id_losses"]
        if acc.is_main_process and progress:
            print(f"resumed from {folder} at step {start}")
    backbone.transformer.train()
    backbone.text_encoder.train()
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), desc="train", disable=not (progress and acc.is_main_process), initial=start)
    bar.total = cfg.steps
    for step in bar:
        # the global batch's randomness, identical in every process; each trains on its slice
        idx = torch.randint(len(cache.latents), (cfg.batch,), generator=g)
        ref_px, ref_box, cross = cache.refs[idx], cache.ref_boxes[idx], None
        ref_mask = cache.ref_masks[idx].float() if cfg.face_cutout else None
        if cfg.p_cross_ref > 0:  # some references come from "another video" of the same identity
            cross = (torch.rand(cfg.batch, generator=g) < cfg.p_cross_ref).view(-1, 1, 1, 1)
            ref_px = torch.where(cross, cache.cross_refs[idx], ref_px)
            ref_box = torch.where(cross.view(-1, 1), cache.cross_ref_boxes[idx], ref_box)
            if ref_mask is not None:
                ref_mask = torch.where(cross.view(-1, 1, 1), cache.cross_ref_masks[idx].float(), ref_mask)
        if cfg.p_relight > 0:  # some references re-lit by another light, as evaluation references are
            ref_px = _relight_some(ref_px, cache.prompt_attrs[idx], cfg.p_relight, g, cross)
        if cfg.face_crop:  # place and scale are gone after the crop, so re-layout has nothing left to do
            refs = augment(R.crop_face(ref_px, ref_box), None, replace(cfg.augment, p_relayout=0.0), g)
        elif cfg.face_cutout:  # the person alone on a random plain colour, then the same square
            fill = torch.rand(cfg.batch, 3, generator=g) * 2 - 1
            cut = R.cutout_face(ref_px, ref_mask, ref_box, fill)
            refs = augment(cut, None, replace(cfg.augment, p_relayout=0.0), g)
        else:
            refs = augment(ref_px, ref_box, cfg.augment, g)
        keep_text, keep_ref = dropout_masks(cfg.batch, cfg, g)
        sigma = sample_sigma(cfg.batch, g)
        noise = torch.randn(cache.latents[idx].shape, generator=g)
        sl = slice(rank * per, (rank + 1) * per)
        idx, refs, keep_text, keep_ref, sigma, noise = (
            idx[sl],
            refs[sl],
            keep_text[sl],
            keep_ref[sl],
            sigma[sl],
            noise[sl],
        )
        x0 = cache.latents[idx]
        weights = None
        if cfg.face_loss_weight != 1.0:
            if cache.face_boxes is None:
                raise ValueError("`face_loss_weight` needs a cache built with face boxes (build_cache does this).")
            f_t = getattr(backbone.transformer, "module", backbone.transformer).config.vae_scale_factors[0]
            weights = R.face_token_weights(cache.face_boxes[idx], tuple(x0.shape[2:]), f_t, cfg.face_loss_weight)
        loss, x0_hat = flow_matching_loss(
            backbone,
            x0,
            refs,
            [cache.prompts[i] for i in idx],
            keep_text,
            keep_ref,
            sigma,
            noise,
            positions,
            True,
            transformer=transformer,
            text_encoder=text_encoder,
            isolated_reference=cfg.isolated_reference,
            token_weights=weights,
        )
        losses.append(acc.reduce(loss.detach(), "mean").item())
        if cfg.lambda_id > 0:
            with torch.no_grad():
                ref_emb = embedder.embed(cache.refs[idx])
            # only rows that saw their reference are pulled towards its identity
            gate_sigma = torch.where(keep_ref, sigma, torch.ones_like(sigma) * 2)
            l_id = L.identity_loss(
                backbone.vae,
                embedder.embed,
                x0_hat,
                ref_emb,
                gate_sigma,
                sigma_id=cfg.sigma_id,
                frames=1,
                generator=g,
                first_frame_only=True,
            )
            id_losses.append(acc.reduce(l_id.detach(), "mean").item())
            loss = loss + cfg.lambda_id * l_id
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(model_params, 1.0)
        opt.step()
        sched.step()
        if ema is not None:
            ema.step(ema_params)
        if step % cfg.log_every == 0:
            post = {"loss": f"{sum(losses[-cfg.log_every :]) / len(losses[-cfg.log_every :]):.4f}"}
            if id_losses:
                post["id"] = f"{sum(id_losses[-cfg.log_every :]) / len(id_losses[-cfg.log_every :]):.3f}"
            bar.set_postfix(post)
        if on_sample is not None and cfg.sample_every and (step + 1) % cfg.sample_every == 0 and acc.is_main_process:
            backbone.transformer.eval()
            backbone.text_encoder.eval()
            on_sample(step + 1, backbone)
            backbone.transformer.train()
            backbone.text_encoder.train()
        if cfg.ckpt_every and ((step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps):
            if acc.is_main_process:
                extra = {"losses": losses, "id_losses": id_losses}
                C.save_checkpoint(ckpt_dir, step + 1, ckpt_modules, opt, sched, {"data": g}, extra)
            acc.wait_for_everyone()
    if ema is not None:
        ema.copy_to(ema_params)  # the returned model carries the EMA weights
    backbone.transformer.eval()
    backbone.text_encoder.eval()
    log = {
        "config": asdict(cfg),
        "losses": losses,
        "id_losses": id_losses,
        "processes": world,
        "train_minutes": (time.time() - t0) / 60,
        "cache_minutes": t_cache / 60,
        "sec_per_step": (time.time() - t0) / max(1, cfg.steps - start),
    }
    if out is not None and acc.is_main_process:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "train_log.json").write_text(json.dumps(log))
    return log
