"""ST-DRC LoRA fine-tuning on your own videos: ``stdrc train --preset full``.

The same trainer as the toy preset (:func:`stdrc_lib.train.trainer.train`: accelerate, condition
dropout, reference augmentation, TASS positions, atomic checkpoints with exact resume), fed from
a folder of videos and run on any diffusers-format ST-DRC pipeline folder: LTX-2.3
(``models/LTX-2.3-Diffusers``) or a toy pipeline saved with ``save_pretrained``.

What happens, in order:

1. **Data.** ``DATA/*.mp4`` (any format mediapy reads), each with a caption in ``DATA/<name>.txt``
   or in ``DATA/captions.jsonl`` (``{"video": "<name>.mp4", "caption": "..."}`` per line). Every clip
   is resized and centre-cropped to ``height × width`` and cut to ``frames`` frames (k·T+1).
2. **Reference.** A seeded random frame of the clip (the training distribution of the paper); the
   face box for re-layout augmentation comes from the offline detector (insightface when its pack
   is on disk, MTCNN otherwise), or is the whole frame when no face is found.
3. **Caches.** Latents from the VAE, and prompt embeddings (Gemma 3 + connectors for LTX-2.3)
   computed once and kept in :class:`PromptEmbeddingCache`, so the text encoder can be freed.
4. **Training.** peft LoRA on the LTX-2 trainer's targets; the base weights stay frozen.
5. **Output.** ``OUT/pytorch_lora_weights.safetensors`` (diffusers' LoRA layout, loads with
   ``pipe.load_lora_weights``) and ``OUT/train_log.json``; checkpoints in ``OUT/ckpt``.

Tested on CPU with a toy pipeline folder and SynthFaces videos (``tests/test_finetune.py``). The
LTX-2.3 path is the same code with bigger tensors; it has **not been run** on these machines (no
GPU). The face-embedding loss is not wired here: on real faces it needs boxes on decoded frames
and an aligned ArcFace crop, which the toy trainer's whole-frame identity loss does not do.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core import reference as R
from ..core.backbone import Backbone
from ..core.io import atomic_write
from ..pipeline import STDRCPipeline
from ..prep.faces import NoFaceFoundError, default_detector
from ..viz import _mediapy
from .lora import save_lora
from .trainer import ClipCache, TrainConfig, train

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")


class PromptEmbeddingCache(torch.nn.Module):
    """A frozen stand-in for the text encoder: each known prompt maps to its cached embeddings.

    It has the toy encoder's interface (``tokenize`` → ids, ``forward(ids, mask)`` → embeddings,
    ``encode``), so the trainer uses it unchanged; asking for an unknown prompt is an error.
    """

    def __init__(self, prompts: list[str], embeds: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        if embeds.ndim != 3 or mask.shape != embeds.shape[:2] or len(prompts) != embeds.shape[0]:
            raise ValueError(
                f"need one (L, D) embedding and (L,) mask per prompt: {len(prompts)} prompts, "
                f"embeds {tuple(embeds.shape)}, mask {tuple(mask.shape)}."
            )
        self.index = {p: i for i, p in enumerate(prompts)}
        self.register_buffer("embeds", embeds.detach().float(), persistent=False)
        self.register_buffer("mask", mask.detach().long(), persistent=False)

    @classmethod
    def from_pipeline(cls, pipe, prompts: list[str], device="cpu", batch: int = 8) -> PromptEmbeddingCache:
        """Encode ``prompts`` (and the empty prompt, used by condition dropout) once with ``pipe``."""
        prompts = sorted(set(prompts) | {""})
        embs, masks = [], []
        with torch.no_grad():
            for i in tqdm(range(0, len(prompts), batch), desc="caching prompts", leave=False):
                e, m = pipe.encode_prompt(prompts[i : i + batch], device)
                e, m = pipe._to_transformer_text(e, m)
                embs.append(e.float().cpu())
                masks.append(m.cpu())
        length = max(e.shape[1] for e in embs)
        embs = [torch.nn.functional.pad(e, (0, 0, 0, length - e.shape[1])) for e in embs]
        masks = [torch.nn.functional.pad(m, (0, length - m.shape[1])) for m in masks]
        return cls(prompts, torch.cat(embs), torch.cat(masks))

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [t for t in texts if t not in self.index]
        if missing:
            raise KeyError(f"prompt not in the embedding cache: {missing[0]!r}; build the cache with every caption.")
        ids = torch.tensor([self.index[t] for t in texts], device=self.embeds.device)
        return ids, self.mask[ids]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.embeds[ids]

    def encode(self, texts: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.tokenize(list(texts))
        return self(ids).to(device or self.embeds.device), mask.to(device or self.embeds.device)


def find_videos(data: str | Path) -> list[tuple[Path, str]]:
    """``(video, caption)`` pairs of a data folder (see the module docstring for the layout)."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"`data` must be a folder of videos with captions, got {str(data)!r}.")
    captions: dict[str, str] = {}
    jsonl = data / "captions.jsonl"
    if jsonl.is_file():
        for n, line in enumerate(jsonl.read_text().splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    captions[Path(row["video"]).name] = str(row["caption"])
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise ValueError(
                        f"{jsonl}:{n} must be a JSON object with 'video' and 'caption', got {line[:80]!r}."
                    ) from e
    pairs = []
    for v in sorted(p for p in data.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
        txt = v.with_suffix(".txt")
        cap = captions.get(v.name) or (txt.read_text().strip() if txt.is_file() else None)
        if not cap:
            raise ValueError(f"no caption for {v.name}: add {txt.name} or a line in captions.jsonl.")
        pairs.append((v, cap))
    if not pairs:
        raise FileNotFoundError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {str(data)!r}.")
    return pairs


def load_clip(path: Path, frames: int, height: int, width: int) -> torch.Tensor:
    """A video file → ``(3, frames, height, width)`` in ``[−1, 1]`` (resize to cover, centre crop)."""
    video = np.asarray(_mediapy().read_video(str(path)))
    if video.ndim != 4 or video.shape[-1] < 3:
        raise ValueError(f"{path.name}: expected an RGB video, got an array of shape {video.shape}.")
    if len(video) < frames:
        raise ValueError(f"{path.name} has {len(video)} frames; `frames` asks for {frames}.")
    x = torch.from_numpy(video[:frames, ..., :3].copy()).permute(0, 3, 1, 2).float() / 127.5 - 1  # (F, 3, h, w)
    h, w = x.shape[-2:]
    s = max(height / h, width / w)
    x = torch.nn.functional.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear", antialias=True)
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width].permute(1, 0, 2, 3).clamp(-1, 1)


def face_box(frame: torch.Tensor, detector) -> torch.Tensor:
    """Face box ``(cx, cy, w, h)`` in canvas fractions of a ``(3, H, W)`` frame; the whole frame if none."""
    if detector is None:
        return torch.tensor([0.5, 0.5, 1.0, 1.0])
    img = R.to_uint8(frame.permute(1, 2, 0)).numpy()
    try:
        dets = detector.detect(img)
    except NoFaceFoundError:
        dets = []
    if len(dets) == 0:
        return torch.tensor([0.5, 0.5, 1.0, 1.0])
    x0, y0, x1, y1 = (float(v) for v in dets[0]["box"])
    h, w = img.shape[:2]
    return torch.tensor([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h])


@torch.no_grad()
def build_video_cache(pipe, pairs, frames: int, height: int, width: int, seed: int = 0, detector=None) -> ClipCache:
    """Encode every clip with ``pipe.vae`` and pick its reference frame (seeded) and face box."""
    g = np.random.default_rng(seed)
    vae = pipe.vae
    p = next(vae.parameters())
    lat, refs, boxes, prompts = [], [], [], []
    for path, cap in tqdm(pairs, desc="encoding videos", leave=False):
        clip = load_clip(path, frames, height, width)  # (3, F, H, W)
        lat.append(R.encode(vae, clip[None].to(p.device, p.dtype)).float().cpu())
        ref = clip[:, int(g.integers(frames))]
        refs.append(ref)
        boxes.append(face_box(ref, detector))
        prompts.append(cap)
    return ClipCache(torch.cat(lat), prompts, refs=torch.stack(refs), ref_boxes=torch.stack(boxes))


def finetune(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    frames: int,
    height: int,
    width: int,
    dtype: torch.dtype = torch.float32,
    detect_faces: bool = True,
    progress: bool = True,
) -> dict:
    """LoRA fine-tuning of the pipeline in ``model`` on the videos in ``data``; see the module docstring."""
    if cfg.lora_rank < 1:
        raise ValueError(f"`lora_rank` must be ≥ 1 for the full preset (LoRA only), got {cfg.lora_rank}.")
    if cfg.lambda_id > 0:
        raise ValueError(
            f"`lambda_id` (--lambda-id) must be 0 for the full preset, got {cfg.lambda_id}: the face-embedding loss "
            "is not wired for real videos yet (see stdrc_lib.train.finetune)."
        )
    if cfg.face_loss_weight != 1.0:
        raise ValueError(
            f"`face_loss_weight` (--face-loss-weight) must be 1 for the full preset, got {cfg.face_loss_weight}: "
            "it needs per-frame face boxes, which are only known in SynthFaces."
        )
    out = Path(out)
    t0 = time.time()
    pairs = find_videos(data)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe = STDRCPipeline.from_pretrained(str(model), torch_dtype=dtype).to(device)
    R.latent_grid(
        frames, height, width, (pipe.vae_temporal_factor, pipe.vae_spatial_factor), ("`frames`", "`height`", "`width`")
    )
    detector = None
    if detect_faces:
        detector = default_detector()
    cache = build_video_cache(pipe, pairs, frames, height, width, cfg.seed, detector)
    text = PromptEmbeddingCache.from_pipeline(pipe, cache.prompts, device)
    pipe.text_encoder = None  # the prompts are cached: free Gemma
    backbone = Backbone(pipe.transformer, pipe.vae, text.to(device), source=str(model))
    log = train(backbone, cache, cfg, out=out, ckpt_dir=out / "ckpt", progress=progress)
    save_lora(pipe.transformer, out)
    info = {
        "model": str(model),
        "data": str(data),
        "clips": len(pairs),
        "frames": frames,
        "height": height,
        "width": width,
        "config": asdict(cfg),
        "minutes": (time.time() - t0) / 60,
        "final_loss": log["losses"][-1] if log["losses"] else None,
    }
    atomic_write(out / "finetune.json", lambda p: p.write_text(json.dumps(info, indent=2, default=str)))
    return info
