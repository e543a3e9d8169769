"""Pictures: contact sheets and videos (mediapy), position diagrams and attention maps (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .core import reference as R
from .core.io import atomic_write


def _mediapy():
    import imageio_ffmpeg
    import mediapy

    # imageio-ffmpeg ships the binary; mediapy would otherwise look for ffmpeg on PATH.
    mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
    return mediapy


def show_video(frames, fps: float = 8.0, upscale: int = 4, title: str | None = None) -> None:
    """Play ``(F, H, W, 3)`` frames inline in a notebook (an HTML5 video through mediapy), upscaled so tiny clips
    are visible."""
    a = to_uint8(frames)
    _mediapy().show_video(a.repeat(upscale, axis=1).repeat(upscale, axis=2), fps=fps, title=title)


def to_uint8(frames) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 from a tensor or array (uint8, or float in [0, 1]), through
    :func:`stdrc_lib.core.reference.to_uint8`."""
    a = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    a = R.to_uint8(a, (0.0, 1.0))
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"`frames` must be (F, H, W, 3), got {a.shape}.")
    return a


VIDEO_SUFFIXES = (".mp4", ".gif")


def write_video(path: str | Path, frames, fps: float = 24.0, upscale: int = 4) -> Path:
    """Write an H.264 MP4 (or a GIF for ``*.gif``), nearest-neighbour upscaled so tiny clips are visible.

    The file appears whole or not at all (written beside it, then renamed into place)."""
    a = to_uint8(frames)
    if upscale > 1:
        a = a.repeat(upscale, axis=1).repeat(upscale, axis=2)
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"`path` must end in {' or '.join(VIDEO_SUFFIXES)}, got {str(path)!r}.")
    kw = {"codec": "gif"} if path.suffix.lower() == ".gif" else {}
    return atomic_write(path, lambda tmp: _mediapy().write_video(str(tmp), a, fps=fps, **kw))


def read_video(path: str | Path) -> np.ndarray:
    return np.asarray(_mediapy().read_video(str(path)))


def contact_sheet(rows: list, labels: list[str] | None = None, upscale: int = 2, pad: int = 2) -> np.ndarray:
    """Grid image: one row per clip (or single image), frames left to right, white padding."""
    rows = [to_uint8(r if (hasattr(r, "ndim") and r.ndim == 4) else np.asarray(r)[None]) for r in rows]
    h, w = rows[0].shape[1:3]
    ncol = max(r.shape[0] for r in rows)
    sheet = np.full(((h + pad) * len(rows) + pad, (w + pad) * ncol + pad, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, fr in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            sheet[y : y + h, x : x + w] = fr
    if upscale > 1:
        sheet = sheet.repeat(upscale, 0).repeat(upscale, 1)
    if labels:
        sheet = _label_rows(sheet, labels, (h + pad) * upscale, pad * upscale)
    return sheet


def _label_rows(sheet: np.ndarray, labels: list[str], row_h: int, pad: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    margin = 8 + 7 * max(len(s) for s in labels)
    im = Image.new("RGB", (sheet.shape[1] + margin, sheet.shape[0]), (255, 255, 255))
    im.paste(Image.fromarray(sheet), (margin, 0))
    d = ImageDraw.Draw(im)
    for i, s in enumerate(labels):
        d.text((4, pad + i * row_h + row_h // 2 - 6), s, fill=(0, 0, 0))
    return np.asarray(im)


def save_image(path: str | Path, image: np.ndarray) -> Path:
    from PIL import Image

    return atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp))


# (label, x, y, colour) of each box in the pipeline diagram, in axes units
_BOXES = {
    "ref": ("reference image", 0.07, 0.78, "#f4d6c6"),
    "vae_r": ("VAE encoder", 0.27, 0.78, "#d9e7f5"),
    "z_r": ("reference tokens\nclean, timestep 0", 0.49, 0.78, "#f6b7a8"),
    "noise": ("noise ε", 0.07, 0.45, "#e6e6e6"),
    "x_s": ("video tokens x_σ\ntimestep σ", 0.49, 0.45, "#cfcfcf"),
    "text": ("prompt", 0.07, 0.05, "#e7f0d5"),
    "enc": ("text encoder", 0.27, 0.05, "#d9e7f5"),
    "dit": ("LTX-2 transformer\n[video | reference]\nTASS-RoPE positions", 0.73, 0.55, "#c9dcf0"),
    "strip": ("keep the video\ntokens' v̂", 0.93, 0.55, "#cfcfcf"),
}
_ARROWS = (("ref", "vae_r"), ("vae_r", "z_r"), ("z_r", "dit"), ("noise", "x_s"), ("x_s", "dit"), ("text", "enc"),
           ("enc", "dit"), ("dit", "strip"))  # fmt: skip


def pipeline_diagram():
    """ST-DRC's generation step as a figure (matplotlib): what enters the transformer, and what leaves it."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_xlim(0, 1.02)
    ax.set_ylim(-0.05, 1)
    ax.axis("off")
    for label, x, y, colour in _BOXES.values():
        ax.text(x, y, label, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.5", fc=colour, ec="0.35"))  # fmt: skip
    for a, b in _ARROWS:
        (_, xa, ya, _), (_, xb, yb, _) = _BOXES[a], _BOXES[b]
        ax.annotate("", (xb - 0.07, yb), (xa + 0.07, ya), arrowprops=dict(arrowstyle="->", color="0.3", lw=1.3))
    _, x, y, _ = _BOXES["strip"]
    ax.annotate("Euler step: x_σ ← x_σ + (σ' − σ)·v̂,\nwith three-stream guidance", (x, y - 0.16), (x, y - 0.42),
                ha="center", fontsize=8.5, arrowprops=dict(arrowstyle="<-", color="0.3"))  # fmt: skip
    ax.text(0.49, 0.62, "the same VAE: a 1-frame latent\nin frame 0's space", ha="center", fontsize=8, color="0.35")
    ax.set_title("One denoising step of ST-DRC: the reference joins the video as clean in-context tokens", fontsize=10)
    fig.tight_layout()
    return fig
