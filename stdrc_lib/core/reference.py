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
FITS = ("crop", "pad", "stretch")


def image_to_tensor(image, size: tuple[int, int] | None = None, fit: str = "crop") -> torch.Tensor:
    """Any common image to a float tensor ``(3, H, W)`` in ``[−1, 1]``.

    Args:
        image: a ``PIL.Image`` (any mode), a numpy array or a torch tensor; 2-D grey, or
            3-D with 1, 3 or 4 channels in HWC or CHW order. Integer arrays are read as
            8-bit (uint8) or 16-bit (uint16); float arrays must lie in ``[0, 1]``.
            An alpha channel is composited over white.
        size: optional ``(H, W)`` to bring it to (bilinear, antialiased).
        fit: how an image of another aspect ratio meets ``size``: ``"crop"`` (scale to cover, cut the centre;
            the default: no bars the model never saw), ``"pad"`` (scale to fit, letterbox on mid grey) or
            ``"stretch"`` (distort to ``size``).
    """
    if fit not in FITS:
        raise ValueError(f"`fit` must be one of {FITS}, got {fit!r}.")
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
        x = fit_to(x, size, fit)
    return x * 2 - 1


def fit_to(x: torch.Tensor, size: tuple[int, int], fit: str = "crop") -> torch.Tensor:
    """``(C, H, W)`` in ``[0, 1]`` brought to ``size`` keeping its aspect ratio (``crop``, ``pad``) or not."""
    h, w = size
    if fit == "stretch" or tuple(x.shape[-2:]) == (h, w):
        return resize(x, size)
    ih, iw = x.shape[-2:]
    scale = max(h / ih, w / iw) if fit == "crop" else min(h / ih, w / iw)
    sh, sw = max(1, round(ih * scale)), max(1, round(iw * scale))
    x = resize(x, (sh, sw))  # (C, sh, sw)
    if fit == "crop":
        top, left = (sh - h) // 2, (sw - w) // 2
        return x[:, top : top + h, left : left + w]
    out = torch.full((x.shape[0], h, w), 0.5, dtype=x.dtype)  # mid grey, 0 in the model's [−1, 1]
    top, left = (h - sh) // 2, (w - sw) // 2
    out[:, top : top + sh, left : left + sw] = x
    return out


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(C, H, W)`` to ``size`` with antialiasing."""
    h, w = size
    if h < 1 or w < 1:
        raise ValueError(f"`size` must be positive (H, W), got {size}.")
    if tuple(x.shape[-2:]) == (h, w):
        return x
    return F.interpolate(x[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0]


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


def latent_grid(
    num_frames: int,
    height: int,
    width: int,
    factors: tuple[int, int],
    names=("`num_frames`", "`height`", "`width`"),
) -> tuple[int, int, int]:
    """Pixel clip size → latent grid ``(F, H, W)`` for VAE ``factors`` (temporal T, spatial S).

    The one frame-count check: LTX-2's causal VAE encodes frame 0 alone and then T frames per latent
    frame, so a clip must have ``k·T + 1`` frames, and its height and width must be multiples of S.
    ``names`` are how the error message names the three sizes.
    """
    t, s = factors
    nf, nh, nw = names
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % t:
        raise ValueError(
            f"{nf} must be k·{t}+1 (e.g. {t + 1}, {2 * t + 1}, {4 * t + 1}): the VAE's temporal factor is {t}, "
            f"got {num_frames!r}."
        )
    for name, v in ((nh, height), (nw, width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < s or v % s:
            raise ValueError(f"{name} must be a positive multiple of the VAE's spatial factor {s}, got {v!r}.")
    return (num_frames - 1) // t + 1, height // s, width // s


def check_video_shape(pixels: torch.Tensor, vae, name: str = "video") -> None:
    """Raise a clear error unless ``pixels`` is ``(B, 3, k·T+1, H, W)`` with H, W multiples of S."""
    if pixels.ndim != 5:
        raise ValueError(f"`{name}` must be 5-D (B, 3, F, H, W), got {pixels.ndim}-D with shape {tuple(pixels.shape)}.")
    b, c, f, h, w = pixels.shape
    if c != vae.config.in_channels:
        raise ValueError(f"`{name}` must have {vae.config.in_channels} channels (dim 1), got {c}.")
    dims = (f"the frame count of `{name}` (dim 2)", f"the height of `{name}` (dim 3)", f"the width of `{name}` (dim 4)")
    latent_grid(f, h, w, vae_factors(vae), dims)
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


def to_uint8(pixels, value_range: tuple[float, float] = (-1.0, 1.0)):
    """The one conversion to 8-bit: values in ``value_range`` (any layout) → uint8 in ``[0, 255]``.

    A tensor gives a tensor, a numpy array an array; uint8 input is returned as it is. Pixels are in
    ``[−1, 1]`` (the VAE's range) unless ``value_range`` says otherwise, e.g. ``(0, 1)`` for pipeline frames.
    """
    if isinstance(pixels, np.ndarray):
        return pixels if pixels.dtype == np.uint8 else to_uint8(torch.from_numpy(pixels), value_range).numpy()
    if pixels.dtype == torch.uint8:
        return pixels
    lo, hi = value_range
    return ((pixels - lo) * (255 / (hi - lo))).round().clamp(0, 255).to(torch.uint8)


def encode_reference(vae, image, size: tuple[int, int] | None = None, fit: str = "crop") -> torch.Tensor:
    """One reference image → normalized 1-frame latent ``(1, C, 1, Hr, Wr)``; ``fit`` as in :func:`image_to_tensor`."""
    x = image_to_tensor(image, size, fit)  # (3, H, W)
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


def token_timesteps(
    sigma: torch.Tensor, n_video: int, n_ref: int, clean_video: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-token noise level ``(B, N_v + N_r)``: σ for video tokens, 0 for the clean reference.

    ``clean_video`` ``(B, N_v)`` marks video tokens that are given clean (timestep 0), as LTX-2's image-to-video
    gives frame 0 (:func:`first_frame_tokens`)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1, 1)
    vid = sigma.expand(-1, n_video)
    if clean_video is not None:
        vid = torch.where(clean_video.to(vid.device), torch.zeros_like(vid), vid)
    ref = torch.zeros(sigma.shape[0], n_ref, dtype=sigma.dtype, device=sigma.device)
    return torch.cat([vid, ref], dim=1)


def first_frame_tokens(rows: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """``(B, F·H·W)`` booleans: the tokens of latent frame 0, in the rows where ``rows`` ``(B,)`` is True.

    LTX-2's image-to-video: frame 0's latent is given clean at its own positions with timestep 0, carries no
    loss, and the model continues it. Tokens are packed frame first, so frame 0 is the first ``H·W`` tokens."""
    f, h, w = grid
    mask = torch.zeros(len(rows), f * h * w, dtype=torch.bool, device=rows.device)
    mask[:, : h * w] = rows.bool().view(-1, 1)
    return mask


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
