import warnings

import pytest
import torch
from diffusers.models.transformers.transformer_ltx2 import apply_split_rotary_emb

from conftest import GRID, REF_GRID, coords_for, forward, make_tokens
from stdrc_lib.core import positions as P

N_V = GRID[0] * GRID[1] * GRID[2]
N_R = REF_GRID[0] * REF_GRID[1]
H_PX, W_PX = GRID[1] * 8, GRID[2] * 8  # toy VAE spatial factor 8


def ref_part(c):
    return c[:, :, N_V:]


def test_shared_equals_frame0(toy):
    c = coords_for(toy, scheme="shared")
    frame0 = c[:, :, : GRID[1] * GRID[2]]  # first latent frame of the video
    assert torch.equal(ref_part(c), frame0)


def test_tass_is_the_latent_frame_after_the_video_shifted_by_one_video_size(toy):
    """The paper's TASS-RoPE: LTX-2's own boxes of latent frame F for a video of F latent frames (the video spans
    0 … F−1), i.e. frame F of ``prepare_video_coords`` on F+1 frames, moved to [H, 2H) × [W, 2W)."""
    c = coords_for(toy, scheme="tass")
    rope = toy.transformer.rope
    f, h, w = GRID
    later = rope.prepare_video_coords(2, f + 1, h, w, "cpu", fps=24.0)[:, :, f * h * w :]  # latent frame F
    r = ref_part(c)
    assert torch.equal(r[:, 0], later[:, 0])  # time: right after the last latent frame
    assert torch.equal(r[:, 1], later[:, 1] + H_PX) and torch.equal(r[:, 2], later[:, 2] + W_PX)
    last_video_end = c[0, 0, :N_V, 1].max()
    assert torch.all(r[0, 0, :, 0] >= last_video_end - 1e-6)  # no overlap with the video in time
    assert r[0, 1, :, 0].min() == H_PX and r[0, 2, :, 0].min() == W_PX  # [H, 2H) × [W, 2W)


def test_tass_pre_is_stand_ins_placement(toy):
    c = coords_for(toy, scheme="tass_pre")
    shared = coords_for(toy, scheme="shared")
    r, s = ref_part(c), ref_part(shared)
    fps = 24.0
    assert torch.allclose(r[0, 0, :, 0], torch.full((N_R,), -1 / fps))  # t starts one frame before 0
    assert torch.allclose(r[0, 0, :, 1], torch.zeros(N_R))  # ... and ends at 0
    assert torch.equal(r[:, 1], s[:, 1] + H_PX)
    assert torch.equal(r[:, 2], s[:, 2] + W_PX)


def test_temporal_and_spatial_decompose_tass(toy):
    s = ref_part(coords_for(toy, scheme="shared"))
    t = ref_part(coords_for(toy, scheme="temporal"))
    tass = ref_part(coords_for(toy, scheme="tass"))
    assert torch.equal(t[:, 0], tass[:, 0]) and torch.equal(t[:, 1:], s[:, 1:])  # tass's time, frame 0's space
    tp = ref_part(coords_for(toy, scheme="temporal_pre", dt_frames=2))
    assert torch.allclose(tp[:, 0], s[:, 0] - 2 / 24) and torch.equal(tp[:, 1:], s[:, 1:])
    pre = ref_part(coords_for(toy, scheme="tass_pre", dt_frames=2))
    assert torch.equal(pre[:, 0], tp[:, 0])
    sp = ref_part(coords_for(toy, scheme="spatial", dh=0.5, dw=2.0))
    assert torch.equal(sp[:, 0], s[:, 0])
    assert torch.equal(sp[:, 1], s[:, 1] + 0.5 * H_PX) and torch.equal(sp[:, 2], s[:, 2] + 2 * W_PX)


def test_zero_offsets_reduce_to_shared(toy):
    s = coords_for(toy, scheme="shared")
    for scheme in ("temporal_pre", "spatial", "tass_pre"):
        z = coords_for(toy, scheme=scheme, dt_frames=0, dh=0, dw=0)
        assert torch.equal(z, s), scheme


def test_multiple_references_get_distinct_offsets(toy):
    c = coords_for(toy, n_ref=3, scheme="tass_pre")
    starts = [c[0, 0, N_V + k * N_R, 0].item() for k in range(3)]
    assert starts == pytest.approx([-1 / 24, -2 / 24, -3 / 24])
    # tass: reference k at latent frame F + k (LTX-2's boxes of a longer video), the same spatial shift
    c = coords_for(toy, n_ref=3, scheme="tass")
    f, h, w = GRID
    longer = toy.transformer.rope.prepare_video_coords(2, f + 3, h, w, "cpu", fps=24.0)
    for k in range(3):
        ref, frame = c[:, :, N_V + k * N_R : N_V + (k + 1) * N_R], longer[:, :, (f + k) * h * w : (f + k + 1) * h * w]
        assert torch.equal(ref[:, 0], frame[:, 0]) and torch.equal(ref[:, 1], frame[:, 1] + H_PX)
    c = coords_for(toy, n_ref=2, scheme="spatial")
    assert c[0, 1, N_V + N_R, 0] - c[0, 1, N_V, 0] == H_PX


def test_nope_has_zero_phase(toy):
    rope = toy.transformer.rope
    c = coords_for(toy, scheme="nope")
    cos, sin = rope(c)  # (B, heads, N, D/2)
    assert torch.allclose(cos[:, :, N_V:], torch.ones_like(cos[:, :, N_V:]))
    assert sin[:, :, N_V:].abs().max() < 1e-6


def test_out_of_range_warns(toy):
    with pytest.warns(UserWarning, match="extrapolate"):
        coords_for(toy, scheme="tass", dh=80)  # 80·32 px = 2560 px > 2048
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coords_for(toy, scheme="tass")  # default stays inside


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        P.PositionConfig(scheme="diagonal")


def _logits(rope, coords, q, k):
    cos_sin = rope(coords)
    qr = apply_split_rotary_emb(q, cos_sin).unflatten(2, (rope.num_attention_heads, -1)).transpose(1, 2)
    kr = apply_split_rotary_emb(k, cos_sin).unflatten(2, (rope.num_attention_heads, -1)).transpose(1, 2)
    return qr @ kr.transpose(-1, -2)  # (B, H, N, N)


def test_rope_is_relative(toy):
    """Shifting every token by the same (t, h, w) leaves q·k unchanged up to float32 rounding."""
    rope = toy.transformer.rope
    c = coords_for(toy, scheme="tass")
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, c.shape[2], 128, generator=g)
    k = torch.randn(2, c.shape[2], 128, generator=g)
    shifted = c.clone()
    shifted[:, 0] += 0.5
    shifted[:, 1] += 96
    shifted[:, 2] += 160
    a, b = _logits(rope, c, q, k), _logits(rope, shifted, q, k)
    rel = (a - b).abs().max() / a.abs().max()
    assert rel < 1e-3, rel
    # and it is not trivially invariant: moving only the reference changes the logits
    moved = c.clone()
    moved[:, 1, N_V:] += 96
    assert (a - _logits(rope, moved, q, k)).abs().max() / a.abs().max() > 1e-2


def test_moving_reference_changes_video_output(toy):
    x, refs = make_tokens()
    v_tass = forward(toy, x, refs, coords_for(toy, scheme="tass"))[:, :N_V]
    v_shared = forward(toy, x, refs, coords_for(toy, scheme="shared"))[:, :N_V]
    assert (v_tass - v_shared).abs().max() > 1e-3


def test_nope_reference_layout_is_invisible(toy):
    """Under `nope`, permuting the reference tokens leaves the video output unchanged; under `tass` it does not."""
    x, refs = make_tokens()
    perm = torch.randperm(N_R, generator=torch.Generator().manual_seed(0))
    shuffled = [refs[0][:, perm]]
    c = coords_for(toy, scheme="nope")
    a = forward(toy, x, refs, c)[:, :N_V]
    b = forward(toy, x, shuffled, c)[:, :N_V]
    assert (a - b).abs().max() < 1e-5
    # nope ignores the offsets too
    c2 = coords_for(toy, scheme="nope", dt_frames=3, dh=2, dw=0.5)
    assert torch.equal(c, c2)
    ct = coords_for(toy, scheme="tass")
    assert (forward(toy, x, refs, ct)[:, :N_V] - forward(toy, x, shuffled, ct)[:, :N_V]).abs().max() > 1e-3
