"""The one trainer: a base model or an ST-DRC fine-tune, full or LoRA, on any device.

One step, for a batch of clips ``x₀`` (VAE latents), references ``r`` and prompts ``c``:

1. draw σ (logit-normal, its mean ``sigma_mean``) and ε; ``x_σ = (1 − σ)·x₀ + σ·ε``; target ``v = ε − x₀``;
2. prepare the reference pixels with the reference transform (augmentation and any face crop) and
   encode them with the frozen VAE into clean tokens (timestep 0); a dataset without references
   trains a plain text-to-video model;
3. optionally (``p_first_frame``) image-to-video rows, LTX-2's way: frame 0's latent given clean at its own
   positions with timestep 0, and no loss on it (a base model learns to continue a first frame); and
   (``p_keyframe``) keyframe rows, LTX-2's other way: a frame of the clip, encoded as an image, appended clean
   at that frame's own positions with every noisy frame kept (a base model learns to read extra clean tokens);
4. condition dropout: with probability ``p_text`` the prompt becomes the null prompt, with
   ``p_ref`` the reference is removed (masked out), with ``p_both`` both, so
   ``v(∅,∅)``, ``v(r,∅)`` and ``v(r,c)`` are all trained;
5. ``L_fm = ‖v̂ − v‖²`` over video tokens only (reference outputs are discarded);
6. optionally (``lambda_id > 0``) the face-guided identity loss of :mod:`stdrc_lib.core.losses` on rows
   with σ ≤ ``sigma_id``: ``L = L_fm + λ_id·L_id``.

The VAE is frozen; the text encoder trains with the transformer (or its LoRA adapter) unless
``train_text_encoder`` is off. Every module and tensor is moved to the accelerator's device.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core import losses as L
from ..core import positions as P
from ..core import reference as R
from ..core.io import atomic_write
from ..core.validation import check_choice
from ..prep.augment import AugmentConfig, augment
from . import checkpoint as C
from .lora import add_lora, lora_parameters
from .lowmem import OPTIMIZERS, QUANTIZATIONS, make_optimizer, quantize_frozen
from .schedule import warmup_cosine


@dataclass
class TrainConfig:
    """Options of :func:`train`; ``asdict`` of it is what a manifest records."""

    steps: int = 2500
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 100
    seed: int = 0
    scheme: str = "tass"
    p_text: float = 0.1
    p_ref: float = 0.1
    p_both: float = 0.1
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    log_every: int = 50
    sample_every: int = 500
    lambda_id: float = 0.0
    sigma_id: float = 0.5
    ema_decay: float = 0.0
    lora_rank: int = 0  # 0 = full fine-tuning
    gradient_checkpointing: bool = False
    ckpt_every: int = 0
    isolated_reference: bool = False  # reference tokens in their own pass (σ = 0): K/V-cacheable, see refcache
    face_loss_weight: float = 1.0  # weight of face tokens in the flow-matching loss (1 = plain mean)
    train_text_encoder: bool = True
    p_first_frame: float = 0.0  # share of rows trained as image-to-video: frame 0 given clean, no loss on it
    p_keyframe: float = 0.0  # share of rows whose reference is their clip's own frame, at that frame's positions
    # mean of the logit-normal σ: > 0 trains more high-noise rows, where the clip is still undecided (LTX-2's
    # trainer shifts it up with the token count, to about 2 at its working sizes)
    sigma_mean: float = 0.0
    optimizer: str = "adamw"  # or "adamw8bit": 8-bit moments (torchao; train/lowmem.py)
    quantize_base: str = "none"  # or "int8" / "fp8": weight-only quantization of the frozen base (LoRA only)

    def __post_init__(self) -> None:
        P.check_scheme(self.scheme)
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.augment.items()})
        for k in ("steps", "batch"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 1:
                raise ValueError(f"`{k}` must be a positive integer, got {getattr(self, k)!r}.")
        for k in ("p_text", "p_ref", "p_both", "p_first_frame", "p_keyframe"):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"`{k}` must be in [0, 1], got {getattr(self, k)!r}.")
        checks = (
            ("lambda_id", self.lambda_id >= 0, "≥ 0"),
            ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1) (0 = off)"),
            ("lora_rank", self.lora_rank >= 0, "≥ 0 (0 = full fine-tuning)"),
            ("ckpt_every", self.ckpt_every >= 0, "≥ 0 (0 = off)"),
            ("sigma_id", 0 < self.sigma_id <= 1, "in (0, 1]"),
            ("face_loss_weight", self.face_loss_weight > 0, "> 0 (1 = off)"),
            ("lr", self.lr > 0, "> 0"),
            ("warmup", self.warmup >= 0, "≥ 0"),
            ("sigma_mean", -4 <= self.sigma_mean <= 4, "in [−4, 4] (0 = the plain logit-normal)"),
        )
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"`{name}` must be {want}, got {getattr(self, name)!r}.")
        if self.isolated_reference and self.p_keyframe > 0:
            raise ValueError("`p_keyframe` > 0 cannot be combined with `isolated_reference`.")
        if self.isolated_reference and self.gradient_checkpointing:
            raise ValueError(
                "`isolated_reference` cannot be combined with `gradient_checkpointing`: the recomputed forward "
                "would run without the reference keys and values."
            )
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        check_choice(self.quantize_base, QUANTIZATIONS, "quantize_base")
        if self.quantize_base != "none" and self.lora_rank == 0:
            raise ValueError(
                f"`quantize_base={self.quantize_base!r}` needs a LoRA (`lora_rank` ≥ 1): quantized weights do not "
                "train, so full fine-tuning cannot use it."
            )


@dataclass
class ClipCache:
    """Pre-encoded training clips.

    Attributes:
        latents: ``(N, C, F, H, W)`` normalized VAE latents.
        prompts: one caption per clip.
        refs: ``(N, 3, H, W)`` reference pixels in ``[−1, 1]``, or None for a dataset without references.
        ref_boxes: ``(N, 4)`` face boxes ``(cx, cy, w, h)`` of the references (for re-layout), or None.
        face_boxes: ``(N, frames, 4)`` face boxes per pixel frame (for ``face_loss_weight``), or None.
        ref_frames: ``(N,)`` the pixel frame of the clip each reference is (−1: not a frame of the clip), for
            keyframe rows (``p_keyframe``), or None.
    """

    latents: torch.Tensor
    prompts: list[str]
    refs: torch.Tensor | None = None
    ref_boxes: torch.Tensor | None = None
    face_boxes: torch.Tensor | None = None
    ref_frames: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.latents)


# A reference transform: (cache, clip indices (B,), generator) -> reference pixels (B, 3, H, W) in [−1, 1].
ReferenceTransform = Callable[[ClipCache, torch.Tensor, torch.Generator], torch.Tensor]


def augmented(cfg: AugmentConfig) -> ReferenceTransform:
    """The default reference transform: :func:`~stdrc_lib.prep.augment.augment` on the cached references."""

    def transform(cache: ClipCache, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        boxes = None if cache.ref_boxes is None else cache.ref_boxes[idx]
        return augment(cache.refs[idx], boxes, cfg, g)

    return transform


def sample_sigma(b: int, g: torch.Generator, mean: float = 0.0) -> torch.Tensor:
    """Logit-normal σ ∈ (0, 1): ``sigmoid(N(mean, 1))``, as in SD3 / LTX training (LTX-2's trainer shifts the
    mean with the sequence length)."""
    return torch.sigmoid(torch.randn(b, generator=g) + mean)


def dropout_masks(b: int, cfg: TrainConfig, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep_text, keep_ref) booleans per row, from one uniform draw per row."""
    u = torch.rand(b, generator=g)
    drop_text = u < cfg.p_text
    drop_ref = (u >= cfg.p_text) & (u < cfg.p_text + cfg.p_ref)
    drop_both = (u >= cfg.p_text + cfg.p_ref) & (u < cfg.p_text + cfg.p_ref + cfg.p_both)
    return ~(drop_text | drop_both), ~(drop_ref | drop_both)


@dataclass
class Batch:
    """One step's inputs, all on one device: what :func:`batch_loss` consumes."""

    idx: torch.Tensor  # (b,) clip indices (CPU)
    x0: torch.Tensor  # (b, C, F, H, W)
    refs: torch.Tensor | None  # (b, 3, H, W) prepared references
    raw_refs: torch.Tensor | None  # (b, 3, H, W) un-augmented references (identity loss target)
    prompts: list[str]
    keep_text: torch.Tensor  # (b,) bool, on the CPU: it picks the prompts
    keep_ref: torch.Tensor  # (b,) bool, on the CPU: it builds the attention mask
    sigma: torch.Tensor  # (b,)
    noise: torch.Tensor  # (b, C, F, H, W)
    token_weights: torch.Tensor | None  # (b, N_v)
    first_frame: torch.Tensor | None = None  # (b,) bool, on the CPU: rows trained as image-to-video
    keyframe: torch.Tensor | None = None  # (b,) long, on the CPU: the reference's pixel frame, −1 = not a keyframe


def draw_batch(
    cache: ClipCache,
    cfg: TrainConfig,
    transform: ReferenceTransform,
    g: torch.Generator,
    rows: slice,
    device,
    temporal_factor: int,
) -> Batch:
    """The global batch's randomness, drawn in the same order in every process; this process keeps ``rows``."""
    idx = torch.randint(len(cache), (cfg.batch,), generator=g)
    refs = transform(cache, idx, g) if cache.refs is not None else None
    keep_text, keep_ref = dropout_masks(cfg.batch, cfg, g)
    sigma = sample_sigma(cfg.batch, g, cfg.sigma_mean)
    noise = torch.randn(cache.latents[idx].shape, generator=g)
    first = torch.rand(cfg.batch, generator=g) < cfg.p_first_frame if cfg.p_first_frame > 0 else None
    keyframe = None
    if cfg.p_keyframe > 0:  # drawn only then, so runs without keyframes keep their random stream
        on = (torch.rand(cfg.batch, generator=g) < cfg.p_keyframe) & (cache.ref_frames[idx] >= 0)
        keyframe = torch.where(on, cache.ref_frames[idx], -1)
        refs = torch.where(on.view(-1, 1, 1, 1), cache.refs[idx], refs)  # the frame itself, unaugmented
        keep_ref = keep_ref | on  # a keyframe is never dropped
    idx = idx[rows]
    weights = None
    if cfg.face_loss_weight != 1.0:
        grid = tuple(cache.latents.shape[2:])
        weights = R.face_token_weights(cache.face_boxes[idx], grid, temporal_factor, cfg.face_loss_weight).to(device)
    return Batch(
        idx,
        cache.latents[idx].to(device),
        None if refs is None else refs[rows].to(device),
        None if refs is None else cache.refs[idx].to(device),
        [cache.prompts[i] for i in idx],
        keep_text[rows],
        keep_ref[rows],
        sigma[rows].to(device),
        noise[rows].to(device),
        weights,
        None if first is None else first[rows],
        None if keyframe is None else keyframe[rows],
    )


def batch_loss(backbone, batch: Batch, cfg: TrainConfig, modules=(None, None), embedder=None, g=None) -> tuple:
    """``(L, L_fm, L_id)`` of one batch; ``modules`` = the (wrapped) ``(transformer, text_encoder)`` to call."""
    positions = P.PositionConfig(scheme=cfg.scheme, fps=backbone.fps)
    fm, x0_hat = L.flow_matching_loss(
        backbone,
        batch.x0,
        batch.refs,
        batch.prompts,
        batch.keep_text,
        batch.keep_ref,
        batch.sigma,
        batch.noise,
        positions,
        transformer=modules[0],
        text_encoder=modules[1],
        isolated_reference=cfg.isolated_reference,
        token_weights=batch.token_weights,
        clean_first_frame=batch.first_frame,
        keyframe=batch.keyframe,
    )
    if cfg.lambda_id <= 0:
        return fm, fm, None
    with torch.no_grad():
        ref_emb = embedder.embed(batch.raw_refs)
    # only rows that saw their reference, and were not given their frame 0, are pulled towards its identity
    pulled = batch.keep_ref if batch.first_frame is None else batch.keep_ref & ~batch.first_frame
    gate = torch.where(pulled.to(batch.sigma.device), batch.sigma, torch.full_like(batch.sigma, 2.0))
    l_id = L.identity_loss(
        backbone.vae, embedder.embed, x0_hat, ref_emb, gate, cfg.sigma_id, frames=1, generator=g, first_frame_only=True
    )
    return fm + cfg.lambda_id * l_id, fm, l_id


def check_options(cfg: TrainConfig, embedder=None, ckpt_dir=None) -> None:
    """The checks that need no data: call them before building a cache (:func:`train` calls them too)."""
    if cfg.lambda_id > 0 and (embedder is None or not getattr(embedder, "differentiable", False)):
        raise ValueError("`embedder` must be a differentiable FaceEmbedder when `cfg.lambda_id` > 0.")
    if cfg.ckpt_every and ckpt_dir is None:
        raise ValueError("`ckpt_dir` is required when `cfg.ckpt_every` > 0.")


def _check(cfg: TrainConfig, cache: ClipCache, embedder, ckpt_dir) -> None:
    check_options(cfg, embedder, ckpt_dir)
    if cfg.lambda_id > 0 and cache.refs is None:
        raise ValueError("`cfg.lambda_id` > 0 needs references; the cache has none.")
    if cfg.p_keyframe > 0 and (cache.refs is None or cache.ref_frames is None):
        raise ValueError("`cfg.p_keyframe` > 0 needs a cache whose references are frames of the clips (`ref_frames`).")
    if cfg.face_loss_weight != 1.0 and cache.face_boxes is None:
        raise ValueError("`face_loss_weight` needs a cache with per-frame `face_boxes`.")
    if len(cache) < 1 or len(cache.prompts) != len(cache):
        raise ValueError(f"the cache needs one prompt per clip: {len(cache)} clips, {len(cache.prompts)} prompts.")


# options that do not change the trajectory, so a resume may change them
RESUMABLE_CHANGES = ("log_every", "sample_every", "ckpt_every")


def check_same_config(saved: dict | None, cfg: TrainConfig, folder) -> None:
    """Refuse to resume a checkpoint made with other options: the restored optimizer, schedule and data position
    would continue a different run than ``cfg`` describes (and the manifest would record options the weights
    were not trained with). Checkpoints that did not record their options pass."""
    if saved is None:
        return
    now = json.loads(json.dumps(asdict(cfg)))  # tuples → lists, as the checkpoint stored them
    diff = {k: (saved.get(k), now[k]) for k in now if k not in RESUMABLE_CHANGES and saved.get(k, now[k]) != now[k]}
    if diff:
        changes = ", ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, (a, b) in sorted(diff.items()))
        raise ValueError(
            f"cannot resume {folder} with other options ({changes}). Resume with the checkpoint's options, or "
            "start a fresh run: another checkpoint folder, or `resume=False` (`stdrc train --no-resume`)."
        )


def _trainable(backbone, cfg: TrainConfig, device) -> list[torch.nn.Parameter]:
    """Freeze what stays frozen, add the LoRA adapter, move every module to ``device``; the trained parameters."""
    backbone.vae.to(device).eval().requires_grad_(False)
    backbone.transformer.to(device)
    backbone.text_encoder.to(device)
    if cfg.gradient_checkpointing:
        backbone.transformer.enable_gradient_checkpointing()
    if cfg.lora_rank:  # peft LoRA on the LTX-2 trainer's targets; the base transformer stays frozen
        if not any("lora_" in n for n, _ in backbone.transformer.named_parameters()):
            quantize_frozen(backbone.transformer, cfg.quantize_base)  # weight-only 8 bits, or as it is
            add_lora(backbone.transformer, rank=cfg.lora_rank)
        params = lora_parameters(backbone.transformer)
    else:
        params = list(backbone.transformer.parameters())
    text = [p for p in backbone.text_encoder.parameters() if p.requires_grad]
    if cfg.train_text_encoder and text:
        params += text
    else:
        backbone.text_encoder.requires_grad_(False)
    return params


def _set_train(backbone, on: bool) -> None:
    backbone.transformer.train(on)
    backbone.text_encoder.train(on)


def train(
    backbone,
    cache: ClipCache,
    cfg: TrainConfig,
    transform: ReferenceTransform | None = None,
    embedder=None,
    out: str | Path | None = None,
    ckpt_dir: str | Path | None = None,
    resume: bool = True,
    on_sample=None,
    progress: bool = True,
) -> dict:
    """Train ``backbone.transformer`` (and its text encoder) in place on ``cache``; returns a log dict.

    Runs through :class:`accelerate.Accelerator`, so the same code runs as one process, on a GPU, or under
    ``accelerate launch --num_processes N --cpu``. Every process draws the global batch's randomness from the
    same seeded generator and trains on its slice, so N processes follow one process's trajectory (up to float
    rounding of the gradient all-reduce). With ``ckpt_dir`` and ``resume`` it continues from the latest
    checkpoint there: model, optimizer, scheduler, EMA, RNG and data position, so a killed and resumed run ends
    with bitwise the same weights as an uninterrupted one (on CPU).

    Args:
        transform: prepares the reference pixels of a batch (default: :func:`augmented` with ``cfg.augment``).
        embedder: a differentiable face embedder (``embed(px) -> (N, D)``), required when ``cfg.lambda_id > 0``.
        on_sample: ``f(step, backbone)``, called every ``cfg.sample_every`` steps in eval mode.
    """
    _check(cfg, cache, embedder, ckpt_dir)
    acc = _accelerator()
    world, rank = acc.num_processes, acc.process_index
    if cfg.batch % world:
        raise ValueError(f"`cfg.batch` ({cfg.batch}) must be divisible by the number of processes ({world}).")
    rows, main = slice(rank * cfg.batch // world, (rank + 1) * cfg.batch // world), acc.is_main_process
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    transform = transform or augmented(cfg.augment)
    params = _trainable(backbone, cfg, acc.device)
    if embedder is not None and isinstance(getattr(embedder, "readout", None), torch.nn.Module):
        embedder.readout.to(acc.device).eval().requires_grad_(False)
    opt = make_optimizer(params, cfg.optimizer, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.steps, cfg.warmup, floor=0.1))
    ema = _ema(backbone, cfg)
    *modules, opt = _prepare(acc, backbone, opt)  # the transformer and text encoder, wrapped where they train
    state = {"transformer": backbone.transformer, "text_encoder": backbone.text_encoder} | ({"ema": ema} if ema else {})
    logs, start, before = {"losses": [], "id_losses": []}, 0, 0.0
    if ckpt_dir is not None and resume and (folder := C.latest_checkpoint(ckpt_dir)) is not None:
        loaded = C.load_checkpoint(folder, state, opt, sched, {"data": g})
        check_same_config(loaded["extra"].get("config"), cfg, folder)
        start, logs = loaded["step"], {k: loaded["extra"][k] for k in ("losses", "id_losses")}
        before = loaded["extra"].get("seconds")  # training time up to the checkpoint (None: not recorded)
        if main and progress:
            print(f"resumed from {folder} at step {start}")
    _set_train(backbone, True)
    t_f = backbone.vae_factors[0]
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), desc="train", disable=not (progress and main), initial=start, total=cfg.steps)
    for step in bar:
        batch = draw_batch(cache, cfg, transform, g, rows, acc.device, t_f)
        loss, fm, l_id = batch_loss(backbone, batch, cfg, modules, embedder, g)
        logs["losses"].append(acc.reduce(fm.detach(), "mean").item())
        if l_id is not None:
            logs["id_losses"].append(acc.reduce(l_id.detach(), "mean").item())
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if ema is not None:
            ema.step([p for p in backbone.transformer.parameters() if p.requires_grad])
        if step % cfg.log_every == 0:
            bar.set_postfix(_postfix(logs, cfg.log_every))
        if on_sample is not None and cfg.sample_every and (step + 1) % cfg.sample_every == 0 and main:
            _set_train(backbone, False)
            on_sample(step + 1, backbone)
            _set_train(backbone, True)
        if cfg.ckpt_every and ((step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps):
            if main:
                spent = None if before is None else before + time.time() - t0
                C.save_checkpoint(
                    ckpt_dir, step + 1, state, opt, sched, {"data": g}, logs | {"config": asdict(cfg), "seconds": spent}
                )
            acc.wait_for_everyone()
    if ema is not None:
        ema.copy_to([p for p in backbone.transformer.parameters() if p.requires_grad])  # return the EMA weights
    _set_train(backbone, False)
    seconds = time.time() - t0
    # train_minutes: every run that led to these weights (resumed runs add up through the checkpoints; work lost
    # after a run's last checkpoint is not counted); None when a checkpoint resumed from did not record it
    total = None if before is None else before + seconds
    log = {"config": asdict(cfg), **logs, "processes": world, "train_minutes": None if total is None else total / 60}
    log |= {"run_minutes": seconds / 60, "resumed_at": start, "sec_per_step": seconds / max(1, cfg.steps - start)}
    if out is not None and main:
        atomic_write(Path(out) / "train_log.json", lambda p: p.write_text(json.dumps(log)))
    return log


def _accelerator():
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    # cpu=True on machines without CUDA lets accelerate pick its multi-CPU (gloo) mode under a launcher
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)]
    return Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=handlers)


def _prepare(acc, backbone, opt) -> tuple:
    """accelerate's wrapping (DDP under a launcher) for the modules that train; a frozen text encoder (a cache of
    prompt embeddings, or ``train_text_encoder=False``) stays as it is, since DDP refuses modules without gradients."""
    if any(p.requires_grad for p in backbone.text_encoder.parameters()):
        return acc.prepare(backbone.transformer, backbone.text_encoder, opt)
    transformer, opt = acc.prepare(backbone.transformer, opt)
    return transformer, backbone.text_encoder, opt


def _ema(backbone, cfg: TrainConfig):
    if cfg.ema_decay <= 0:
        return None
    from diffusers.training_utils import EMAModel

    return EMAModel([p for p in backbone.transformer.parameters() if p.requires_grad], decay=cfg.ema_decay)


def _postfix(logs: dict, n: int) -> dict:
    post = {"loss": f"{sum(logs['losses'][-n:]) / len(logs['losses'][-n:]):.4f}"}
    if logs["id_losses"]:
        post["id"] = f"{sum(logs['id_losses'][-n:]) / len(logs['id_losses'][-n:]):.3f}"
    return post
