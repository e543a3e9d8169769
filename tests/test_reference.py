import numpy as np
import torch
from PIL import Image

from conftest import GRID, REF_GRID, coords_for, forward, make_tokens
from stdrc_lib.core import reference as R
from stdrc_lib.prep import crop as PC

N_V = GRID[0] * GRID[1] * GRID[2]


def _rgb(h=8, w=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_formats_agree():
    a = _rgb()
    ref = R.image_to_tensor(a)
    assert ref.shape == (3, 8, 6) and ref.min() >= -1 and ref.max() <= 1
    variants = {
        "pil": Image.fromarray(a),
        "chw_float": torch.from_numpy(a).permute(2, 0, 1).float() / 255,
        "hwc_float_np": a.astype(np.float32) / 255,
        "rgba_opaque": np.concatenate([a, np.full((8, 6, 1), 255, np.uint8)], -1),
        "uint16": a.astype(np.uint16) * 257,
    }
    for name, v in variants.items():
        assert torch.allclose(R.image_to_tensor(v), ref, atol=1e-5), name


def test_grey_and_alpha():
    g = np.full((4, 4), 128, np.uint8)
    t = R.image_to_tensor(g)
    assert t.shape == (3, 4, 4) and torch.allclose(t, torch.full_like(t, 128 / 255 * 2 - 1), atol=1e-6)
    transparent = np.zeros((4, 4, 4), np.uint8)  # fully transparent black → white
    assert torch.allclose(R.image_to_tensor(transparent), torch.ones(3, 4, 4))
    assert R.image_to_tensor(Image.fromarray(g, "L")).shape == (3, 4, 4)


def test_resize():
    t = R.image_to_tensor(_rgb(100, 80), size=(64, 64))
    assert t.shape == (3, 64, 64)


def test_reference_latent_matches_video_frame0(toy):
    """The causal encoder encodes frame 0 alone: a 1-frame image latent equals frame 0 of the video latent."""
    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, 3, 9, 32, 32, generator=g) * 2 - 1
    with torch.no_grad():
        zv = R.encode(toy.vae, video)
        zi = R.encode(toy.vae, video[:, :, :1])
    assert zv.shape == (1, 16, 3, 4, 4) and zi.shape == (1, 16, 1, 4, 4)
    assert torch.allclose(zi, zv[:, :, :1], atol=1e-5)


def test_normalization_roundtrip(toy):
    toy.vae.latents_mean.copy_(torch.linspace(-1, 1, 16))
    toy.vae.latents_std.copy_(torch.linspace(0.5, 2, 16))
    try:
        z = torch.randn(2, 16, 3, 4, 4)
        n = R.normalize_latents(z, toy.vae)
        assert torch.allclose(n[:, 3], (z[:, 3] - toy.vae.latents_mean[3]) / toy.vae.latents_std[3])
        assert torch.allclose(R.denormalize_latents(n, toy.vae), z, atol=1e-6)
    finally:
        toy.vae.latents_mean.zero_()
        toy.vae.latents_std.fill_(1)


def test_pack_order_and_roundtrip():
    z = torch.arange(2 * 3 * 2 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2, 2)
    t = R.pack(z)
    assert t.shape == (2, 8, 3)
    assert torch.equal(t[0, 1], z[0, :, 0, 0, 1])  # width varies fastest
    assert torch.equal(t[0, 4], z[0, :, 1, 0, 0])  # then height, then frame
    assert torch.equal(R.unpack(t, (2, 2, 2)), z)


def test_concat_strip_timesteps():
    x, refs = make_tokens()
    tok = R.concat_tokens(x, refs)
    assert tok.shape == (2, N_V + 16, 16)
    assert torch.equal(R.strip_tokens(tok, N_V), x)
    ts = R.token_timesteps(torch.tensor([0.3, 0.9]), N_V, 16)
    assert ts.shape == (2, N_V + 16)
    assert torch.all(ts[0, :N_V] == 0.3) and torch.all(ts[1, :N_V] == 0.9) and torch.all(ts[:, N_V:] == 0)


def test_reference_mask_values():
    m = R.reference_mask(3, 2, torch.tensor([True, False]))
    assert m.shape == (2, 5, 5)
    assert m[0].sum() == 25
    assert m[1, :3, 3:].sum() == 0 and m[1, :3, :3].sum() == 9 and m[1, 3:, 3:].sum() == 4
    s = R.reference_mask(3, 2, torch.tensor([True]), ref_self_only=True)
    assert s[0, 3:, :3].sum() == 0 and s[0, :3, 3:].sum() == 6


def test_masking_equals_removing(toy):
    x, refs = make_tokens()
    c = coords_for(toy)
    removed = forward(toy, x, [], c)[:, :N_V]
    mask = R.reference_mask(N_V, 16, torch.tensor([False, False]))
    masked = forward(toy, x, refs, c, mask=mask)[:, :N_V]
    assert (masked - removed).abs().max() <= 1e-5
    present = forward(toy, x, refs, c)[:, :N_V]
    assert (present - removed).abs().max() > 1e-3  # the reference does matter when visible


def test_reference_grid_from_image(toy):
    z = R.encode_reference(toy.vae, _rgb(40, 40), size=(32, 32))
    assert z.shape == (1, 16, 1, *REF_GRID)


def test_crop_face_undoes_place_and_scale():
    """The same face rendered in two places and sizes looks alike after the crop (in the middle of the canvas),
    and unlike before it."""
    import pytest

    from stdrc_lib.toy.render import CLASSIC, Layout, render
    from stdrc_lib.toy.world import Identity

    ident = Identity.from_index(123)
    lays = [Layout.still(1, cx=0.5, cy=0.55, scale=0.5), Layout.still(1, cx=0.32, cy=0.5, scale=0.36)]
    imgs = [render(ident, lay, scene="office")[0] for lay in lays]
    px = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2) * 2 - 1
    boxes = torch.from_numpy(np.stack([lay.boxes(CLASSIC.face_aspect[ident.face_shape])[0] for lay in lays]))
    crops = PC.crop_face(px, boxes)
    assert crops.shape == px.shape
    mid = slice(16, 48)  # the middle of the canvas, where the crop puts the face (backgrounds differ in scale)
    before = (px[0] - px[1])[:, mid, mid].abs().mean()
    after = (crops[0] - crops[1])[:, mid, mid].abs().mean()
    assert after < 0.25 * before, (before, after)  # measured: 0.42 before, 0.03 after
    # the box centre lands on the canvas centre
    cx, cy = (boxes[1, :2] * 64).long()
    assert torch.allclose(
        crops[1, :, 31:33, 31:33].mean((1, 2)), px[1, :, cy - 1 : cy + 1, cx - 1 : cx + 1].mean((1, 2)), atol=0.15
    )
    with pytest.raises(ValueError, match="`boxes`"):
        PC.crop_face(px, boxes[:1])
    with pytest.raises(ValueError, match="`px`"):
        PC.crop_face(px[0], boxes)
    with pytest.raises(ValueError, match="`margin`"):
        PC.crop_face(px, boxes, margin=0)


def test_cutout_face_keeps_the_person_and_drops_the_scene():
    """The same person in front of two scenes gives the same cut-out (background gone), the mask is the
    renderer's coverage of the person, and bad arguments are named."""
    import pytest

    from stdrc_lib.toy.render import CLASSIC, Layout, render
    from stdrc_lib.toy.world import Identity

    ident, lay = Identity.from_index(321), Layout.still(1, cx=0.4, cy=0.55, scale=0.4)
    outs = [render(ident, lay, scene=s, return_alpha=True) for s in ("forest", "beach")]
    px = torch.from_numpy(np.stack([o[0][0] for o in outs])).permute(0, 3, 1, 2) * 2 - 1
    mask = torch.from_numpy(np.stack([o[1][0] for o in outs]))
    assert torch.equal(mask[0], mask[1]) and 0.1 < mask.mean() < 0.5  # the person, not the scene
    boxes = torch.from_numpy(np.stack([lay.boxes(CLASSIC.face_aspect[ident.face_shape])[0]] * 2))
    crop_diff = (PC.crop_face(px, boxes)[0] - PC.crop_face(px, boxes)[1]).abs().mean()
    cut = PC.cutout_face(px, mask, boxes)
    # only the anti-aliased rim, where the rendered pixel already mixes person and scene, still differs
    cut_diff = (cut[0] - cut[1]).abs()
    # measured: mean difference 0.009 against 0.74 for the plain crop; 7 % of values differ by > 0.05 (the rim)
    assert cut_diff.mean() < 0.05 * crop_diff and (cut_diff > 0.05).float().mean() < 0.12, (cut_diff.mean(), crop_diff)
    corner = cut[:, :, :3, :3]
    assert corner.abs().max() < 1e-5  # mid grey where the scene was
    red = PC.cutout_face(px, mask, boxes, fill=torch.tensor([[1.0, -1.0, -1.0]] * 2))
    assert torch.allclose(red[:, :, 0, 0], torch.tensor([[1.0, -1.0, -1.0]] * 2), atol=1e-5)
    with pytest.raises(ValueError, match="`mask`"):
        PC.cutout_face(px, mask[:1], boxes)
    with pytest.raises(ValueError, match="`fill`"):
        PC.cutout_face(px, mask, boxes, fill=torch.zeros(2, 4))


def test_prepare_reference_for_each_training_prep():
    import pytest

    from stdrc_lib.toy import sample_reference

    img, mask, box = sample_reference(2, return_mask_box=True)
    assert img.shape == (64, 64, 3) and mask.shape == (64, 64) and box.shape == (4,)
    assert np.array_equal(img, sample_reference(2))  # the same picture either way
    assert PC.prepare_reference(img, "whole") is img
    crop, cut = PC.prepare_reference(img, "crop", box), PC.prepare_reference(img, "cutout", box, mask)
    assert crop.dtype == cut.dtype == np.uint8 and crop.shape == cut.shape == img.shape
    assert (np.abs(cut.astype(int) - 128) <= 1).all(-1).mean() > 0.2  # mid grey where the scene was
    assert not np.array_equal(crop, cut)
    with pytest.raises(ValueError, match="`prep`"):
        PC.prepare_reference(img, "mask", box)
    with pytest.raises(ValueError, match="`box` and `mask`"):
        PC.prepare_reference(img, "cutout", box)
    with pytest.raises(ValueError, match="`image`"):
        PC.prepare_reference(img.astype(np.float32), "crop", box)
