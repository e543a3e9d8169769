"""The toy preset of the trainer: SynthFaces clips, and the toy world's ways to prepare a reference.

:func:`train_toy` renders and VAE-encodes the training clips once (:func:`build_cache`) and runs the one
trainer, :func:`stdrc_lib.train.trainer.train`, with :class:`ToyReferences` as its reference transform.
The toy-only options live here, not in the trainer:

* ``p_cross_ref``: a share of references rendered apart from the clip (another pose, place, light and
  background of the same identity), as evaluation references are;
* ``p_relight``: a share of references re-lit by another of the world's lights;
* ``face_crop``: the square around the face (from the renderer's box);
* ``face_cutout``: the person alone on a random plain colour (the renderer's coverage mask), then that square.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core import reference as R
from ..prep import crop as PC
from ..prep.augment import augment
from ..train.trainer import ClipCache, TrainConfig, check_options, train
from .dataset import SynthFaces
from .render import CLASSIC, Look, relight
from .world import PROMPT_ATTRS


@dataclass
class ToyTrainConfig(TrainConfig):
    """:class:`~stdrc_lib.train.trainer.TrainConfig` plus the toy world's data and reference options."""

    n_clips: int = 6000
    p_cross_ref: float = 0.0
    p_relight: float = 0.0  # share of references re-lit by another of the world's lights
    face_crop: bool = False  # references cut to a square around the face before encoding (crop.crop_face)
    face_cutout: bool = False  # the person kept on a plain random colour, then cut to that square (crop.cutout_face)

    def __post_init__(self) -> None:
        super().__post_init__()
        for k in ("p_cross_ref", "p_relight"):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"`{k}` must be in [0, 1], got {getattr(self, k)!r}.")
        if self.face_crop and self.face_cutout:
            raise ValueError("`face_crop` and `face_cutout` are two ways to prepare the reference; choose one.")

    @property
    def reference_prep(self) -> str:
        return "cutout" if self.face_cutout else "crop" if self.face_crop else "whole"


@dataclass
class ToyClipCache(ClipCache):
    """A :class:`ClipCache` with what the toy world knows of each clip."""

    identity: torch.Tensor | None = None  # (N, identity attributes)
    prompt_attrs: torch.Tensor | None = None  # (N, prompt attributes)
    cross_refs: torch.Tensor | None = None  # (N, 3, H, W) references rendered apart from the clip
    cross_ref_boxes: torch.Tensor | None = None
    ref_masks: torch.Tensor | None = None  # (N, H, W) the person's coverage in each reference, for face cut-outs
    cross_ref_masks: torch.Tensor | None = None


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
    look: str | Look = CLASSIC,
) -> ToyClipCache:
    """Render ``n_clips`` SynthFaces clips in ``look`` and encode them with ``vae``."""
    ds = SynthFaces(split, n_clips, seed=seed, ref_mode=ref_mode, cross_reference=cross_reference, look=look)
    keys = ["reference", "ref_box", "ref_mask", "ref_frame", "boxes", "identity", "prompt_attrs"]
    if cross_reference:
        keys += ["cross_reference", "cross_ref_box", "cross_ref_mask"]
    cols: dict[str, list] = {k: [] for k in keys + ["latents"]}
    prompts = []
    for i in tqdm(range(0, n_clips, batch), desc=f"encoding {split} clips", disable=not progress):
        items = [ds[j] for j in range(i, min(n_clips, i + batch))]
        cols["latents"].append(R.encode(vae, torch.stack([it["video"] for it in items])))
        for k in keys:
            t = torch.stack([it[k] for it in items])
            cols[k].append(t.to(torch.float16) if k.endswith("mask") else t)  # halves the cache
        prompts += [it["prompt"] for it in items]
    c = {k: torch.cat(v) for k, v in cols.items()}
    return ToyClipCache(
        c["latents"],
        prompts,
        refs=c["reference"],
        ref_boxes=c["ref_box"],
        face_boxes=c["boxes"],
        ref_frames=c["ref_frame"],
        identity=c["identity"],
        prompt_attrs=c["prompt_attrs"],
        cross_refs=c.get("cross_reference"),
        cross_ref_boxes=c.get("cross_ref_box"),
        ref_masks=c["ref_mask"],
        cross_ref_masks=c.get("cross_ref_mask"),
    )


def relight_some(
    ref_px: torch.Tensor, prompt_attrs: torch.Tensor, p: float, g: torch.Generator, cross: torch.Tensor | None = None
) -> torch.Tensor:
    """Re-light a random share ``p`` of the clip-frame references by one of the world's other lights. References
    marked in ``cross`` ``(B, 1, 1, 1)`` were rendered in another context, under a light the clip's prompt does
    not name, so they are left as they are."""
    n = len(PROMPT_ATTRS["lighting"])
    light = prompt_attrs[:, list(PROMPT_ATTRS).index("lighting")]
    other = (light + torch.randint(1, n, light.shape, generator=g)) % n
    on = (torch.rand(len(light), generator=g) < p).view(-1, 1, 1, 1)
    if cross is not None:
        on &= ~cross
    return torch.where(on, relight(ref_px, light, other), ref_px)


class ToyReferences:
    """The toy preset's reference transform: cross references, re-lighting, face crop or cut-out, augmentation."""

    def __init__(self, cfg: ToyTrainConfig):
        self.cfg = cfg

    def __call__(self, cache: ToyClipCache, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        cfg, b = self.cfg, len(idx)
        ref_px, ref_box, cross = cache.refs[idx], cache.ref_boxes[idx], None
        ref_mask = cache.ref_masks[idx].float() if cfg.face_cutout else None
        if cfg.p_cross_ref > 0:  # some references come from "another video" of the same identity
            cross = (torch.rand(b, generator=g) < cfg.p_cross_ref).view(-1, 1, 1, 1)
            ref_px = torch.where(cross, cache.cross_refs[idx], ref_px)
            ref_box = torch.where(cross.view(-1, 1), cache.cross_ref_boxes[idx], ref_box)
            if ref_mask is not None:
                ref_mask = torch.where(cross.view(-1, 1, 1), cache.cross_ref_masks[idx].float(), ref_mask)
        if cfg.p_relight > 0:  # some references re-lit by another light, as evaluation references are
            ref_px = relight_some(ref_px, cache.prompt_attrs[idx], cfg.p_relight, g, cross)
        if cfg.face_crop:  # place and scale are gone after the crop, so re-layout has nothing left to do
            return augment(PC.crop_face(ref_px, ref_box), None, replace(cfg.augment, p_relayout=0.0), g)
        if cfg.face_cutout:  # the person alone on a random plain colour, then the same square
            fill = torch.rand(b, 3, generator=g) * 2 - 1
            cut = PC.cutout_face(ref_px, ref_mask, ref_box, fill)
            return augment(cut, None, replace(cfg.augment, p_relayout=0.0), g)
        return augment(ref_px, ref_box, cfg.augment, g)


def train_toy(
    backbone,
    cfg: ToyTrainConfig,
    out: Path | None = None,
    cache: ToyClipCache | None = None,
    progress: bool = True,
    on_sample=None,
    embedder=None,
    ckpt_dir: str | Path | None = None,
    resume: bool = True,
) -> dict:
    """Train the toy ``backbone`` on SynthFaces (built into a cache first unless ``cache`` is given)."""
    check_options(cfg, embedder, ckpt_dir)  # before the cache: rendering 6,000 clips takes minutes
    t0 = time.time()
    if cache is None:
        torch.manual_seed(cfg.seed)
        cache = build_cache(backbone.vae, cfg.n_clips, cfg.seed, progress=progress, cross_reference=cfg.p_cross_ref > 0)
    if cfg.p_cross_ref > 0 and cache.cross_refs is None:
        raise ValueError("`cfg.p_cross_ref` > 0 needs a cache built with `cross_reference=True`.")
    if cfg.face_cutout and (cache.ref_masks is None or (cfg.p_cross_ref > 0 and cache.cross_ref_masks is None)):
        raise ValueError("`cfg.face_cutout` needs a cache with reference masks; rebuild it with build_cache.")
    t_cache = time.time() - t0
    log = train(backbone, cache, cfg, ToyReferences(cfg), embedder, out, ckpt_dir, resume, on_sample, progress)
    return log | {"cache_minutes": t_cache / 60}
