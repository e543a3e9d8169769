"""Reference position schemes for LTX-2's 3-D RoPE, expressed as ``video_coords``.

LTX-2 gives every token a box ``[start, end)`` on three axes: time in seconds, height and
width in pixels. The rotary embedding uses the box midpoint ``p`` on each axis, divides it by
``max_pos`` (20 s, 2048 px, 2048 px by default) and rotates query/key channel pairs by

    θ_i(p) = (2 · p / max_pos − 1) · ω_i,      ω_i = θ_base^(i / (n−1)) · π / 2.

Because ``R(θ_a)ᵀ R(θ_b) = R(θ_b − θ_a)``, the attention logit between a query at ``p_q`` and a
key at ``p_k`` depends only on ``p_k − p_q`` ("attention is relative"). Where the reference
tokens sit relative to the video therefore decides what the model can copy. For a video of ``F``
latent frames (its boxes span latent time indices ``0 … F−1``) that is ``H × W`` pixels:

===========  ==============================================================================
scheme       reference box
===========  ==============================================================================
shared       the boxes of frame 0: pixel-aligned, invites copying (IC-LoRA style)
temporal     the time box of latent frame ``F``, right after the video's last latent frame;
             spatially aligned with frame 0
spatial      ``t`` of frame 0, shifted by ``+Δh·H`` px and ``+Δw·W`` px
tass         ST-DRC's TASS-RoPE (default): ``temporal`` *and* ``spatial``, i.e. the time of latent
             frame ``F`` and the box ``[Δh·H, Δh·H + H)`` × ``[Δw·W, Δw·W + W)`` (one video
             height and width with the defaults)
temporal_pre ``t ∈ [−Δt/fps, 0)``, one pixel frame *before* frame 0, spatially aligned
tass_pre     Stand-In's placement: ``temporal_pre`` and the same spatial shift as ``tass``
nope         every reference token at ``p = max_pos / 2`` on all axes, so ``θ = 0``: the
             reference keys carry no rotary phase at all and their layout is invisible
===========  ==============================================================================

With several references, reference ``k`` (0-based) goes to another time index: latent frame
``F + k`` for ``temporal`` and ``tass``, ``t = −(k+1)·Δt`` frames for ``temporal_pre`` and
``tass_pre``; the spatial shift stays one video size (``spatial`` uses ``(k+1)`` times it).
"""

from __future__ import annotations

import warnings

import torch

from .config import SCHEMES, PositionConfig, check_scheme

__all__ = [
    "SCHEMES",
    "PositionConfig",
    "check_scheme",
    "video_coords",
    "reference_coords",
    "keyframe_coords",
    "build_coords",
]


def video_coords(rope, batch_size: int, grid: tuple[int, int, int], fps: float, device=None) -> torch.Tensor:
    """LTX-2's own coordinates for a latent grid ``(F, H, W)``: ``(B, 3, F*H*W, 2)``."""
    f, h, w = grid
    return rope.prepare_video_coords(batch_size, f, h, w, device or "cpu", fps=fps)


def reference_coords(
    rope,
    batch_size: int,
    ref_grid: tuple[int, int],
    video_pixel_size: tuple[int, int],
    cfg: PositionConfig = PositionConfig(),
    index: int = 0,
    device=None,
    video_frames: int | None = None,
) -> torch.Tensor:
    """Coordinates of one reference latent ``(1, Hr, Wr)`` under ``cfg.scheme``.

    Args:
        rope: the transformer's ``LTX2AudioVideoRotaryPosEmbed`` (``transformer.rope``).
        ref_grid: latent height and width of the reference ``(Hr, Wr)``.
        video_pixel_size: the video's size in pixels ``(H_px, W_px)``; spatial shifts are
            multiples of it.
        index: which reference this is (0-based), for distinct offsets.
        video_frames: the video's number of latent frames ``F`` (``temporal`` and ``tass`` put reference
            ``k`` at latent frame ``F + k``); required for those two.

    Returns:
        ``(B, 3, Hr*Wr, 2)`` boxes in seconds and pixels.
    """
    check_scheme(cfg.scheme)
    if index < 0:
        raise ValueError(f"`index` must be >= 0, got {index}.")
    after_video = cfg.scheme in ("temporal", "tass")
    if after_video and (not isinstance(video_frames, int) or video_frames < 1):
        raise ValueError(f"`video_frames` must be the video's latent frame count (≥ 1) here, got {video_frames!r}.")
    hr, wr = ref_grid
    k = index + 1
    h_px, w_px = video_pixel_size
    # on the CPU: positions need no weights, and the range check reads their values
    if after_video:  # LTX-2's own boxes of latent frame F + index, as if the video had more frames
        later = video_coords(rope, batch_size, (video_frames + k, hr, wr), cfg.fps)
        coords = later[:, :, -hr * wr :].clone()
    else:  # frame-0 boxes of a 1-frame latent: t ∈ [0, 1/fps), h/w pixel boxes of the reference grid
        coords = video_coords(rope, batch_size, (1, hr, wr), cfg.fps).clone()  # (B, 3, Hr*Wr, 2)
    if cfg.scheme in ("temporal_pre", "tass_pre"):
        coords[:, 0] = coords[:, 0] - k * cfg.dt_frames / cfg.fps  # t ∈ [−k·Δt/fps, (1−k·Δt)/fps)
    if cfg.scheme == "spatial":
        coords[:, 1] += k * cfg.dh * h_px
        coords[:, 2] += k * cfg.dw * w_px
    if cfg.scheme in ("tass", "tass_pre"):
        coords[:, 1] += cfg.dh * h_px
        coords[:, 2] += cfg.dw * w_px
    if cfg.scheme == "nope":
        mid = torch.tensor(max_positions(rope), dtype=coords.dtype, device=coords.device) / 2
        coords = mid.view(1, 3, 1, 1).expand_as(coords).clone()  # θ = (2·½ − 1)·ω = 0
    warn_if_out_of_range(rope, coords, what=f"reference {index} under scheme {cfg.scheme!r}")
    return coords if device is None else coords.to(device)


def keyframe_coords(rope, ref_grid: tuple[int, int], pixel_frames: torch.Tensor, fps: float) -> torch.Tensor:
    """Coordinates of keyframe latents, LTX-2's keyframe conditioning: each one-image latent ``(1, Hr, Wr)`` gets
    frame 0's boxes shifted in time to the pixel frame it shows, ``t ∈ [k/fps, (k+1)/fps)``.

    ltx-core's ``VideoConditionByKeyframeIndex`` appends such clean tokens to the noisy video (which keeps all
    its frames) for keyframe interpolation; a model trained on them already reads extra clean tokens.

    Args:
        pixel_frames: ``(B,)`` integer pixel frame index ``k ≥ 0`` of each row's keyframe.

    Returns:
        ``(B, 3, Hr*Wr, 2)`` boxes in seconds and pixels.
    """
    k = torch.as_tensor(pixel_frames).reshape(-1)
    if k.is_floating_point() or (k < 0).any():
        raise ValueError(f"`pixel_frames` must be integer frame indices ≥ 0, got {k.tolist()}.")
    if len(ref_grid) != 2 or min(ref_grid) < 1:
        raise ValueError(f"`ref_grid` must be the latent (height, width), each ≥ 1, got {tuple(ref_grid)}.")
    if not fps > 0:
        raise ValueError(f"`fps` must be > 0, got {fps!r}.")
    hr, wr = ref_grid
    coords = video_coords(rope, len(k), (1, hr, wr), fps).clone()  # frame 0: t ∈ [0, 1/fps)
    coords[:, 0] += k.view(-1, 1, 1).to(coords.dtype) / fps
    warn_if_out_of_range(rope, coords, what="keyframes")
    return coords


def max_positions(rope) -> tuple[float, float, float]:
    return (float(rope.base_num_frames), float(rope.base_height), float(rope.base_width))


def warn_if_out_of_range(rope, coords: torch.Tensor, what: str = "positions", tolerance: float = 0.01) -> bool:
    """Warn when a box midpoint leaves ``[0, max_pos]`` by more than ``tolerance·max_pos``.

    Inside that range RoPE interpolates between angles it saw in training; outside it
    extrapolates. The small tolerance lets ``tass_pre``'s default ``t ∈ [−1/fps, 0)`` (0.1 % of
    20 s) pass silently. Returns True when it warned.
    """
    mid = coords.mean(dim=-1)  # (B, 3, N)
    out = []
    for axis, (name, hi) in enumerate(zip(("t", "h", "w"), max_positions(rope))):
        lo_v, hi_v = mid[:, axis].min().item(), mid[:, axis].max().item()
        if lo_v < -tolerance * hi or hi_v > hi * (1 + tolerance):
            out.append(f"{name} spans [{lo_v:.4g}, {hi_v:.4g}] but max_pos is {hi:g}")
    if out:
        warnings.warn(
            f"{what}: {'; '.join(out)}. RoPE will extrapolate beyond the range it was trained on; "
            "reduce the offsets (dt_frames, dh, dw) to stay inside.",
            stacklevel=3,
        )
    return bool(out)


def concat_coords(video: torch.Tensor, refs: list[torch.Tensor]) -> torch.Tensor:
    """``[video | ref_0 | ref_1 …]`` along the token axis: ``(B, 3, N_v + Σ N_r, 2)``."""
    return torch.cat([video, *refs], dim=2)


def build_coords(
    rope,
    batch_size: int,
    video_grid: tuple[int, int, int],
    ref_grids: list[tuple[int, int]],
    cfg: PositionConfig = PositionConfig(),
    device=None,
) -> torch.Tensor:
    """All coordinates for ``[video | references]``, in LTX-2's units.

    ``video_grid`` is the latent ``(F, H, W)``; the pixel size used for spatial shifts is the
    latent size times the rope's VAE scale factors.
    """
    _, sh, sw = rope.scale_factors
    vid = video_coords(rope, batch_size, video_grid, cfg.fps, device)
    pix = (video_grid[1] * sh, video_grid[2] * sw)
    refs = [
        reference_coords(rope, batch_size, g, pix, cfg, index=i, device=device, video_frames=video_grid[0])
        for i, g in enumerate(ref_grids)
    ]
    return concat_coords(vid, refs)
