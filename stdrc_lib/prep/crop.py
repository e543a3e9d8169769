"""Preparing a reference before it is encoded: a square crop around the face, or the person cut out.

The face box comes from a detector (MTCNN or insightface for photos; a learned locator in the toy world);
the coverage mask of a cut-out from a face parser. Both steps remove where the face was, how large it was
and the background, so a reference taken in another place looks like one from the clip.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..core.reference import to_uint8


def crop_face(px: torch.Tensor, boxes: torch.Tensor, margin: float = 1.6) -> torch.Tensor:
    """Cut a square around each face and scale it to fill the canvas: the "face crop" step before encoding.

    ``px`` ``(B, 3, H, W)`` in ``[−1, 1]``; ``boxes`` ``(B, 4)`` face boxes ``(cx, cy, w, h)`` in canvas
    fractions (from a detector, or the toy renderer). The square's side is ``margin`` × the box's longer
    side in pixels, so hair, hats and beard stay in; outside the canvas the border pixels are repeated.
    Returns ``(B, 3, H, W)``. This removes where the face was, how large it was and most of the
    background, so a reference taken in another place and scale looks like one from the clip.
    """
    if px.ndim != 4 or px.shape[1] != 3:
        raise ValueError(f"`px` must be images (B, 3, H, W), got shape {tuple(px.shape)}.")
    b, _, h, w = px.shape
    if boxes.shape != (b, 4):
        raise ValueError(f"`boxes` must be (B={b}, 4) face boxes (cx, cy, w, h), got {tuple(boxes.shape)}.")
    if not margin > 0:
        raise ValueError(f"`margin` must be > 0, got {margin!r}.")
    boxes = boxes.to(px)
    side = margin * torch.maximum(boxes[:, 2] * w, boxes[:, 3] * h)  # pixels
    theta = torch.zeros(b, 2, 3, dtype=px.dtype)
    theta[:, 0, 0] = side / w
    theta[:, 1, 1] = side / h
    theta[:, 0, 2] = boxes[:, 0] * 2 - 1
    theta[:, 1, 2] = boxes[:, 1] * 2 - 1
    grid = F.affine_grid(theta, (b, 3, h, w), align_corners=False)
    return F.grid_sample(px, grid, mode="bilinear", padding_mode="border", align_corners=False)


def cutout_face(
    px: torch.Tensor, mask: torch.Tensor, boxes: torch.Tensor, fill: torch.Tensor | None = None, margin: float = 1.6
) -> torch.Tensor:
    """Keep only the person and cut the square around the face: the "face cut-out" step before encoding.

    Pixels outside ``mask`` ``(B, H, W)`` (the person's coverage in ``[0, 1]``, as a face parser or the toy
    renderer gives it) become the plain colour ``fill`` ``(B, 3)`` in ``[−1, 1]`` (default mid grey), and then
    :func:`crop_face` cuts the square around ``boxes``. Unlike a plain crop, no background is left around the
    hair for the model to copy.
    """
    if px.ndim != 4 or px.shape[1] != 3:
        raise ValueError(f"`px` must be images (B, 3, H, W), got shape {tuple(px.shape)}.")
    b, _, h, w = px.shape
    if mask.shape != (b, h, w):
        raise ValueError(f"`mask` must be (B={b}, H={h}, W={w}) coverage in [0, 1], got {tuple(mask.shape)}.")
    if fill is None:
        fill = torch.zeros(b, 3, dtype=px.dtype)
    if fill.shape != (b, 3):
        raise ValueError(f"`fill` must be (B={b}, 3) colours in [-1, 1], got {tuple(fill.shape)}.")
    a = mask.to(px).clamp(0, 1)[:, None]
    return crop_face(a * px + (1 - a) * fill.to(px)[:, :, None, None], boxes, margin)


PREPS = ("whole", "crop", "cutout")


def prepare(px: torch.Tensor, prep: str, boxes: torch.Tensor | None = None, masks: torch.Tensor | None = None):
    """References ``(B, 3, H, W)`` in ``[−1, 1]`` prepared for a model trained on ``prep`` references: ``"whole"``
    (as they are), ``"crop"`` (:func:`crop_face` around ``boxes``) or ``"cutout"`` (:func:`cutout_face` with the
    person's coverage ``masks`` ``(B, H, W)``, on mid grey)."""
    if prep not in PREPS:
        raise ValueError(f"`prep` must be one of {PREPS}, got {prep!r}.")
    if prep == "whole":
        return px
    if boxes is None or (prep == "cutout" and masks is None):
        need = "`boxes` and `masks`" if prep == "cutout" else "`boxes`"
        one = "`box` and `mask`" if prep == "cutout" else "`box`"
        raise ValueError(
            f"a {prep!r} reference needs {need} ({one} for one image: the face box, and the person's coverage)."
        )
    return crop_face(px, boxes) if prep == "crop" else cutout_face(px, masks, boxes)


def prepare_reference(image, prep: str, box=None, mask=None) -> np.ndarray:
    """:func:`prepare` for one uint8 ``(H, W, 3)`` image, its face ``box`` ``(4,)`` and ``mask`` ``(H, W)``;
    returns uint8 ``(H, W, 3)``."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise ValueError(f"`image` must be uint8 (H, W, 3), got {img.dtype} {img.shape}.")
    if prep == "whole":
        return img
    px = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    boxes = None if box is None else torch.as_tensor(np.asarray(box, np.float32)).reshape(1, 4)
    masks = None if mask is None else torch.as_tensor(np.asarray(mask, np.float32))[None]
    return to_uint8(prepare(px, prep, boxes, masks)[0].permute(1, 2, 0)).numpy()
