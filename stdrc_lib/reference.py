"""From a reference image to clean in-context tokens.

The reference goes through the same video VAE as the clip. Because LTX-2's encoder is causal
and encodes the first frame alone, a single image becomes a 1-frame latent that lives in the
same space as frame 0 of a video latent:

    image (H, W, 3) ─► pixels (1, 3, 1, H, W) in [−1, 1] ─► z = (mode(E(x)) − μ) / σ_c
                     ─► tokens (1, Hr·Wr, C)

The tokens are appended to the noisy video tokens, ``[video | reference]``. They carry timestep
0 (clean), are never noised, and the model output at their positions is thrown away.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .validation import check_finite


# --------------------------------------------------------------------------- images
def image_to_tensor(image, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Any common image to a float tensor ``(3, H, W)`` in ``[−1, 1]``.

    Args:
        image: a ``PIL.Image`` (any mode), a numpy array or a torch tensor; 2-D grey, or
            3-D with 1, 3 or 4 channels in HWC or CHW order. Integer arrays are read as
            8-bit (uint8) or 16-bit (uint16); float arrays must lie in ``[0, 1]``.
            An alpha channel is composited over white.
        size: optional ``(H, W)`` to resize to (bilinear, antialiased).
    """
    arr = _to_hwc_float(image)  # (H, W, C) in [0, 1]
    check_finite(arr, "image")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"`image` must be at least 1×1 pixels, got {tuple(arr.shape[:2])}.")
    c = arr.shape[-1]
    if c == 4:  # composite over white
        alpha = arr[..., 3:4]
        arr = arr[..., :3] * alpha + (1 - alpha)
    elif c == 1:
        arr = arr.expand(-1, -1, 3)
    x = arr.permute(2, 0, 1).contiguous()  # (3, H, W)
    if size is not None:
        x = resize(x, size)
    return x * 2 - 1


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(C, H, W)`` to ``size`` with antialiasing."""
    h, w = size
    if h < 1 or w < 1:
        raise ValueError(f"`size` must be positive (H, W), got {size}.")
    if tuple(x.shape[-2:]) == (h, w):
        return x
    return F.interpolate(x[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0]


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


MAX_IMAGE_SIDE = 8192  # larger references are almost always a mistake, and cost GBs as float


def _check_side(h: int, w: int) -> None:
    if max(h, w) > MAX_IMAGE_SIDE:
        raise ValueError(
            f"`image` is {h}×{w} pixels; references may be at most {MAX_IMAGE_SIDE} pixels per side. "
            "Resize it first (it is scaled to the video size anyway)."
        )


def _to_hwc_float(image) -> torch.Tensor:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        from PIL import ImageOps

        _check_side(image.height, image.width)
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = np.asarray(image).astype(np.uint16 if image.mode != "I" else np.int64)
        else:
            image = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
        return _to_hwc_float(image)
    if isinstance(image, np.ndarray):
        layout_hint = "hwc"
        t = torch.from_numpy(np.array(image, copy=True))
    elif isinstance(image, torch.Tensor):
        layout_hint = "chw"
        t = image.detach().cpu()
    else:
        raise TypeError(
            f"`image` must be a PIL.Image, numpy array or torch tensor, got {type(image).__name__}. "
            "Load files with PIL.Image.open(path) first."
        )
    if t.ndim in (2, 3):
        dims = sorted(t.shape, reverse=True)[:2]
        _check_side(dims[0], dims[1])
    t = _to_unit_float(t)
    if t.ndim == 2:
        return t[..., None]
    if t.ndim != 3:
        raise ValueError(
            f"`image` must have 2 (H, W) or 3 (H, W, C / C, H, W) dimensions, got {t.ndim} with shape {tuple(t.shape)}."
        )
    ok = (1, 3, 4)
    first, last = t.shape[0] in ok, t.shape[-1] in ok
    if not (first or last):
        raise ValueError(f"`image` must have 1, 3 or 4 channels in HWC or CHW order, got shape {tuple(t.shape)}.")
    if last and (layout_hint == "hwc" or not first):
        return t
    return t.permute(1, 2, 0)


def _to_unit_float(t: torch.Tensor) -> torch.Tensor:
    if t.dtype == torch.bool:
        return t.float()
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    if t.dtype in (torch.uint16, torch.int32, torch.int64, torch.int16):
        return t.double().div(65535.0).clamp(0, 1).float()
    if t.is_floating_point():
        t = t.float()
        finite = t[torch.isfinite(t)]
        if finite.numel() and (finite.min() < -1e-3 or finite.max() > 1 + 1e-3):
            raise ValueError(
                f"`image` as floats must lie in [0, 1], got values in [{finite.min():.3g}, {finite.max():.3g}]. "
                "Divide 8-bit data by 255."
            )
        return t.clamp(0, 1) if finite.numel() == t.numel() else t
    raise TypeError(f"`image` has unsupported dtype {t.dtype}.")


# --------------------------------------------------------------------------- VAE
def vae_factors(vae) -> tuple[int, int]:
    """(temporal, spatial) compression of an ``AutoencoderKLLTX2Video``."""
    return int(vae.temporal_compression_ratio), int(vae.spatial_compression_ratio)


def check_video_shape(pixels: torch.Tensor, vae, name: str = "video") -> None:
    """Raise a clear error unless ``pixels`` is ``(B, 3, k·T+1, H, W)`` with H, W multiples of S."""
    if pixels.ndim != 5:
        raise ValueError(f"`{name}` must be 5-D (B, 3, F, H, W), got {pixels.ndim}-D with shape {tuple(pixels.shape)}.")
    b, c, f, h, w = pixels.shape
    t, s = vae_factors(vae)
    if c != vae.config.in_channels:
        raise ValueError(f"`{name}` must have {vae.config.in_channels} channels (dim 1), got {c}.")
    if (f - 1) % t != 0:
        raise ValueError(
            f"`{name}` has {f} frames; the VAE's temporal factor is {t}, so the frame count must be k·{t}+1 "
            f"(e.g. {t + 1}, {2 * t + 1}, {4 * t + 1})."
        )
    if h % s or w % s:
        raise ValueError(f"`{name}` is {h}×{w}; height and width must be multiples of the VAE's spatial factor {s}.")
    check_finite(pixels, name)


def normalize_latents(z: torch.Tensor, vae) -> torch.Tensor:
    """Per-channel ``(z − μ_c) / σ_c`` with the VAE's ``latents_mean`` / ``latents_std``."""
    mu = vae.latents_mean.view(1, -1, 1, 1, 1).to(z)
    sd = vae.latents_std.view(1, -1, 1, 1, 1).to(z)
    return (z - mu) / sd


def denormalize_latents(z: torch.Tensor, vae) -> torch.Tensor:
    mu = vae.latents_mean.view(1, -1, 1, 1, 1).to(z)
    sd = vae.latents_std.view(1, -1, 1, 1, 1).to(z)
    return z * sd + mu


def encode(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels ``(B, 3, F, H, W)`` in ``[−1, 1]`` → normalized latents ``(B, C, F', H', W')``."""
    check_video_shape(pixels, vae, "pixels")
    p = next(vae.parameters())
    z = vae.encode(pixels.to(p.device, p.dtype)).latent_dist.mode()
    return normalize_latents(z, vae)


def decode(vae, latents: torch.Tensor) -> torch.Tensor:
    """Normalized latents → pixels ``(B, 3, F, H, W)`` in ``[−1, 1]``."""
    if latents.ndim != 5:
        raise ValueError(f"`latents` must be 5-D (B, C, F, H, W), got shape {tuple(latents.shape)}.")
    check_finite(latents, "latents")
    p = next(vae.parameters())
    x = vae.decode(denormalize_latents(latents.to(p.device, p.dtype), vae)).sample
    return x.clamp(-1, 1)


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in ``[−1, 1]`` (any layout) → uint8 in ``[0, 255]``."""
    return ((pixels + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def encode_reference(vae, image, size: tuple[int, int] | None = None) -> torch.Tensor:
    """One reference image → normalized 1-frame latent ``(1, C, 1, Hr, Wr)``."""
    x = image_to_tensor(image, size)  # (3, H, W)
    return encode(vae, x[None, :, None])  # (1, 3, 1, H, W) → (1, C, 1, Hr, Wr)


# --------------------------------------------------------------------------- tokens
def pack(latents: torch.Tensor) -> torch.Tensor:
    """``(B, C, F, H, W)`` → tokens ``(B, F·H·W, C)`` in frame, height, width order (patch size 1)."""
    if latents.ndim != 5:
        raise ValueError(f"`latents` must be 5-D (B, C, F, H, W), got shape {tuple(latents.shape)}.")
    return latents.flatten(2).transpose(1, 2)  # (B, F*H*W, C)


def unpack(tokens: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Tokens ``(B, F·H·W, C)`` → ``(B, C, F, H, W)``."""
    f, h, w = grid
    if tokens.ndim != 3 or tokens.shape[1] != f * h * w:
        raise ValueError(f"`tokens` must be (B, {f * h * w}, C) for grid {grid}, got {tuple(tokens.shape)}.")
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, f, h, w)


def concat_tokens(video: torch.Tensor, refs: list[torch.Tensor]) -> torch.Tensor:
    """``[video | ref_0 | ref_1 …]`` along the token axis."""
    for i, r in enumerate(refs):
        if r.ndim != 3 or r.shape[0] != video.shape[0] or r.shape[2] != video.shape[2]:
            raise ValueError(
                f"reference tokens {i} must be (B={video.shape[0]}, N, C={video.shape[2]}), got {tuple(r.shape)}."
            )
    return torch.cat([video, *refs], dim=1)


def strip_tokens(tokens: torch.Tensor, n_video: int) -> torch.Tensor:
    """Keep the first ``n_video`` tokens: the model's output at reference positions is discarded."""
    return tokens[:, :n_video]


def token_timesteps(sigma: torch.Tensor, n_video: int, n_ref: int) -> torch.Tensor:
    """Per-token noise level ``(B, N_v + N_r)``: σ for video tokens, 0 for the clean reference."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1, 1)
    vid = sigma.expand(-1, n_video)
    ref = torch.zeros(sigma.shape[0], n_ref, dtype=sigma.dtype, device=sigma.device)
    return torch.cat([vid, ref], dim=1)


def reference_mask(n_video: int, n_ref: int, present: torch.Tensor, ref_self_only: bool = False) -> torch.Tensor:
    """Multiplicative self-attention mask ``(B, N, N)`` (1 = attend, 0 = blocked).

    Rows with ``present[b] = False`` behave as if the reference were removed: no video token
    attends to a reference token (reference tokens still see themselves so their softmax is
    defined; their output is discarded). With ``ref_self_only`` reference tokens attend only to
    reference tokens in every row, which makes their K/V independent of the step.
    """
    present = torch.as_tensor(present, dtype=torch.bool).reshape(-1)
    n = n_video + n_ref
    m = torch.ones(present.shape[0], n, n)
    m[~present, :n_video, n_video:] = 0  # video → reference blocked where absent
    if ref_self_only:
        m[:, n_video:, :n_video] = 0
    elif (~present).any():
        m[~present, n_video:, :n_video] = 0
    return m


def face_token_weights(
    boxes: torch.Tensor,
    latent_grid: tuple[int, int, int],
    temporal_factor: int,
    face_weight: float,
    margin: float = 1.3,
) -> torch.Tensor:
    """Per-token loss weights ``(B, F·H·W)``: ``face_weight`` on video tokens whose centre lies in
    the face box (enlarged by ``margin``, to take hair and beard), 1 elsewhere.

    ``boxes`` ``(B, frames, 4)`` are per pixel frame (cx, cy, w, h, canvas fractions); latent frame
    ``t`` uses pixel frame ``t · temporal_factor`` (the last frame it covers, causal VAE).
    """
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"`boxes` must be (B, frames, 4) = (cx, cy, w, h) per frame, got {tuple(boxes.shape)}.")
    if not face_weight > 0:
        raise ValueError(f"`face_weight` must be > 0, got {face_weight!r}.")
    f, h, w = latent_grid
    frames = boxes.shape[1]
    idx = torch.clamp(torch.arange(f) * temporal_factor, max=frames - 1)
    b = boxes[:, idx]  # (B, F, 4)
    yc = (torch.arange(h, dtype=b.dtype) + 0.5) / h
    xc = (torch.arange(w, dtype=b.dtype) + 0.5) / w
    inx = (xc[None, None, None, :] - b[..., 0, None, None]).abs() <= b[..., 2, None, None] * margin / 2
    iny = (yc[None, None, :, None] - b[..., 1, None, None]).abs() <= b[..., 3, None, None] * margin / 2
    face = inx & iny  # (B, F, H, W)
    return torch.where(face, float(face_weight), 1.0).flatten(1)
