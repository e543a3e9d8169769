"""Appearance-invariant reference augmentation (training only, reference only).

If the reference is a frame of the clip itself, the cheapest way to denoise the clip is to
copy the reference's pixels: same background, same place, same pose. These operations deny
that shortcut, so identity has to travel through identity features:

* **re-layout** – cut the face (box from a detector, or the renderer) and paste it at a
  random place and scale on a new canvas;
* **affine** – rotation, scale, translation;
* **flip** – horizontal;
* **colour jitter / grayscale** – brightness, contrast, saturation; off by default for the toy
  world, where skin and hair *colour* are identity attributes;
* **blur and noise**.

All operations are batched on ``(B, 3, H, W)`` tensors in ``[−1, 1]`` and drawn from an explicit
``torch.Generator``, so a seed reproduces them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    p_relayout: float = 0.8
    relayout_scale: tuple[float, float] = (0.7, 1.3)
    p_affine: float = 0.3
    max_rotation_deg: float = 15.0
    affine_scale: tuple[float, float] = (0.9, 1.1)
    max_translate: float = 0.1
    p_flip: float = 0.5
    p_colour: float = 0.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.3
    p_grayscale: float = 0.0
    p_blur: float = 0.2
    p_noise: float = 0.2
    noise_std: float = 0.05

    def __post_init__(self) -> None:
        for k, v in self.__dict__.items():
            if k.startswith("p_") and not 0 <= v <= 1:
                raise ValueError(f"`{k}` must be a probability in [0, 1], got {v!r}.")


NO_AUGMENT = AugmentConfig(p_relayout=0, p_affine=0, p_flip=0, p_colour=0, p_grayscale=0, p_blur=0, p_noise=0)


def _coin(p: float, b: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(b, generator=g) < p


def _u(lo: float, hi: float, b: int, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=g)


def relayout(
    x: torch.Tensor, boxes: torch.Tensor, g: torch.Generator, scale=(0.7, 1.3), margin: float = 1.45, new_boxes=None
):
    """Paste each face (box ``(cx, cy, w, h)`` in canvas fractions, enlarged by ``margin`` to take
    the hair) at a random position and scale on a plain random-colour canvas.

    If ``new_boxes`` (a list) is given, the pasted faces' boxes are appended to it."""
    b, _, h, w = x.shape
    k = _u(*scale, b, g)  # size change
    bw, bh = boxes[:, 2] * margin, boxes[:, 3] * margin
    half_w, half_h = (bw * k / 2).clamp(max=0.5), (bh * k / 2).clamp(max=0.5)
    ncx = half_w + torch.rand(b, generator=g) * (1 - 2 * half_w)
    ncy = half_h + torch.rand(b, generator=g) * (1 - 2 * half_h)
    # output coord o (in [-1, 1]) → source s = (o − c') / k + c, in affine_grid's normalised units
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1 / k
    theta[:, 1, 1] = 1 / k
    theta[:, 0, 2] = (boxes[:, 0] * 2 - 1) - (ncx * 2 - 1) / k
    theta[:, 1, 2] = (boxes[:, 1] * 2 - 1) - (ncy * 2 - 1) / k
    grid = F.affine_grid(theta, (b, 3, h, w), align_corners=False)  # (B, H, W, 2) source coords
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    sx, sy = (grid[..., 0] + 1) / 2, (grid[..., 1] + 1) / 2  # source position in canvas fractions
    inside = ((sx - boxes[:, 0, None, None]).abs() <= bw[:, None, None] / 2) & (
        (sy - boxes[:, 1, None, None]).abs() <= bh[:, None, None] / 2
    )
    canvas = (torch.rand(b, 3, 1, 1, generator=g) * 2 - 1).expand(-1, -1, h, w)
    if new_boxes is not None:
        new_boxes.append(torch.stack([ncx, ncy, boxes[:, 2] * k, boxes[:, 3] * k], 1))
    return torch.where(inside[:, None], moved, canvas)


def affine(x: torch.Tensor, g: torch.Generator, max_rot: float, scale, max_t: float, boxes=None, new_boxes=None):
    """Random rotation, scale and translation. With ``boxes`` and a list ``new_boxes``, the moved
    boxes (centre mapped exactly, size scaled) are appended to it."""
    b = x.shape[0]
    a = _u(-max_rot, max_rot, b, g) * math.pi / 180
    s = _u(*scale, b, g)
    tx, ty = _u(-max_t, max_t, b, g) * 2, _u(-max_t, max_t, b, g) * 2
    theta = torch.stack(
        [torch.stack([a.cos() / s, -a.sin() / s, tx], 1), torch.stack([a.sin() / s, a.cos() / s, ty], 1)], 1
    )  # (B, 2, 3)
    grid = F.affine_grid(theta, tuple(x.shape), align_corners=False)
    if boxes is not None and new_boxes is not None:
        # output o ↦ source A·o + t (normalised coords), so a source centre c lands at A⁻¹(c − t)
        c = torch.stack([boxes[:, 0] * 2 - 1 - tx, boxes[:, 1] * 2 - 1 - ty], 1)
        o = torch.linalg.solve(theta[:, :, :2], c)
        new_boxes.append(torch.cat([(o + 1) / 2, boxes[:, 2:] * s[:, None]], 1))
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour(x: torch.Tensor, g: torch.Generator, brightness: float, contrast: float, saturation: float):
    b = x.shape[0]
    y = (x + 1) / 2
    y = y * _u(1 - brightness, 1 + brightness, b, g)[:, None, None, None]
    m = y.mean((1, 2, 3), keepdim=True)
    y = (y - m) * _u(1 - contrast, 1 + contrast, b, g)[:, None, None, None] + m
    grey = y.mean(1, keepdim=True)
    y = (y - grey) * _u(1 - saturation, 1 + saturation, b, g)[:, None, None, None] + grey
    return y.clamp(0, 1) * 2 - 1


def grayscale(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True).expand_as(x)


def blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    k2 = (k[:, None] * k[None, :]).expand(x.shape[1], 1, 5, 5).to(x)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k2, groups=x.shape[1])


def augment(
    x: torch.Tensor,
    boxes: torch.Tensor | None,
    cfg: AugmentConfig,
    generator: torch.Generator,
    return_boxes: bool = False,
):
    """Apply the configured operations, each to a random subset of the batch.

    Args:
        x: references ``(B, 3, H, W)`` in ``[−1, 1]``.
        boxes: face boxes ``(B, 4)`` (cx, cy, w, h) in canvas fractions; needed for re-layout.
        return_boxes: also return where each face ended up, ``(B, 4)`` (for training readouts on
            augmented images). Tracking boxes draws no random numbers, so the images are the same.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"`x` must be (B, 3, H, W), got {tuple(x.shape)}.")
    b, g = x.shape[0], generator

    def where(mask, y, x):
        return torch.where(mask[:, None, None, None], y, x)

    if (cfg.p_relayout > 0 or return_boxes) and (boxes is None or boxes.shape != (b, 4)):
        what = "re-layout" if cfg.p_relayout > 0 else "`return_boxes=True`"
        raise ValueError(f"`boxes` must be (B={b}, 4) for {what}, got {None if boxes is None else tuple(boxes.shape)}.")
    track = [] if return_boxes else None

    def moved(mask):  # keep the boxes of the items an operation touched
        nonlocal boxes
        if track:
            boxes = torch.where(mask[:, None], track.pop(), boxes)

    if cfg.p_relayout > 0:
        m = _coin(cfg.p_relayout, b, g)
        x = where(m, relayout(x, boxes, g, cfg.relayout_scale, new_boxes=track), x)
        moved(m)
    if cfg.p_affine > 0:
        m = _coin(cfg.p_affine, b, g)
        a = affine(x, g, cfg.max_rotation_deg, cfg.affine_scale, cfg.max_translate, boxes=boxes, new_boxes=track)
        x = where(m, a, x)
        moved(m)
    if cfg.p_flip > 0:
        m = _coin(cfg.p_flip, b, g)
        x = where(m, x.flip(-1), x)
        if return_boxes:
            boxes = torch.where(m[:, None], torch.cat([1 - boxes[:, :1], boxes[:, 1:]], 1), boxes)
    if cfg.p_colour > 0:
        x = where(_coin(cfg.p_colour, b, g), colour(x, g, cfg.brightness, cfg.contrast, cfg.saturation), x)
    if cfg.p_grayscale > 0:
        x = where(_coin(cfg.p_grayscale, b, g), grayscale(x), x)
    if cfg.p_blur > 0:
        x = where(_coin(cfg.p_blur, b, g), blur(x), x)
    if cfg.p_noise > 0:
        noise = torch.randn(x.shape, generator=g) * cfg.noise_std
        x = where(_coin(cfg.p_noise, b, g), (x + noise).clamp(-1, 1), x)
    return (x, boxes) if return_boxes else x
