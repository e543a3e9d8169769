import pytest
import torch

from stdrc_lib.prep.augment import NO_AUGMENT, AugmentConfig, augment, relayout
from stdrc_lib.toy.dataset import SynthFaces


def _batch(n=6):
    ds = SynthFaces("train", n, seed=0)
    items = [ds[i] for i in range(n)]
    return torch.stack([it["reference"] for it in items]), torch.stack([it["ref_box"] for it in items])


def test_seeded_and_batched():
    x, b = _batch()
    a1 = augment(x, b, AugmentConfig(), torch.Generator().manual_seed(0))
    a2 = augment(x, b, AugmentConfig(), torch.Generator().manual_seed(0))
    a3 = augment(x, b, AugmentConfig(), torch.Generator().manual_seed(1))
    assert a1.shape == x.shape and torch.equal(a1, a2) and not torch.equal(a1, a3)
    assert a1.min() >= -1 and a1.max() <= 1


def test_no_augment_is_identity():
    x, b = _batch()
    assert torch.equal(augment(x, b, NO_AUGMENT, torch.Generator()), x)


def test_relayout_moves_face_off_its_place():
    x, b = _batch()
    y = relayout(x, b, torch.Generator().manual_seed(0))
    assert (y - x).abs().mean() > 0.2  # new canvas and position
    # a box covering the whole picture at scale 1 keeps the picture as it is
    full = torch.tensor([[0.5, 0.5, 1 / 1.45, 1 / 1.45]]).expand(len(x), 4)
    same = relayout(x, full, torch.Generator().manual_seed(0), scale=(1.0, 1.0))
    assert (same - x).abs().max() < 1e-4


def test_bad_config():
    with pytest.raises(ValueError, match="p_flip"):
        AugmentConfig(p_flip=1.5)
    x, _ = _batch(2)
    with pytest.raises(ValueError, match="boxes"):
        augment(x, None, AugmentConfig(), torch.Generator())


def test_identity_preserving_augmentations_keep_what_the_readout_sees():
    """Every operation the training mix uses keeps ≥ 90 % of the readout's clean identity accuracy, and
    so does the mix; grayscale (off by default: skin and hair colour are identity here) does not.

    Measured by bench/augment_report.py on 400 references: clean 0.961, re-layout 0.942, affine 0.937,
    flip 0.941, blur 0.961, noise 0.961, default mix 0.933 (0.97×), grayscale 0.556. Recorded in
    docs/TOYWORLD.md.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "augment_report", Path(__file__).resolve().parents[1] / "bench" / "augment_report.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    acc = mod.report(200)
    for op in ("re-layout", "affine", "flip", "colour jitter", "blur", "noise", "default mix"):
        assert acc[op] >= 0.9 * acc["clean"], (op, acc)
    assert acc["clean"] >= 0.9 and acc["default mix"] >= 0.9, acc  # the [training] issue's ≥ 90 %
    assert acc["grayscale"] < 0.8 * acc["clean"], acc  # colour attributes are lost, as they should be


@pytest.mark.parametrize(
    "cfg",
    [
        AugmentConfig(p_blur=0, p_noise=0),
        AugmentConfig(p_relayout=1, p_affine=0, p_flip=0, p_blur=0, p_noise=0),
        AugmentConfig(p_relayout=0, p_affine=1, p_flip=0, p_blur=0, p_noise=0),
        AugmentConfig(p_relayout=0, p_affine=0, p_flip=1, p_blur=0, p_noise=0),
    ],
    ids=["mix", "relayout", "affine", "flip"],
)
def test_returned_boxes_follow_the_face(cfg):
    """A white square drawn at each box lands where the returned box says, and tracking the boxes
    does not change the images."""
    n = 32
    g = torch.Generator().manual_seed(3)
    c = 0.3 + 0.4 * torch.rand(n, 2, generator=g)
    boxes = torch.cat([c, torch.full((n, 2), 0.2)], 1)
    ax = (torch.arange(64) + 0.5) / 64
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    inside = ((xx - c[:, 0, None, None]).abs() < 0.1) & ((yy - c[:, 1, None, None]).abs() < 0.1)
    x = torch.where(inside[:, None], 1.0, -1.0).expand(-1, 3, -1, -1).clone()
    y, nb = augment(x, boxes, cfg, torch.Generator().manual_seed(0), return_boxes=True)
    assert torch.equal(y, augment(x, boxes, cfg, torch.Generator().manual_seed(0)))
    w = (y.min(1).values > 0.9).float()  # the square (a random canvas is rarely white in all channels)
    centre = torch.stack([(w * xx).sum((1, 2)), (w * yy).sum((1, 2))], 1) / w.sum((1, 2))[:, None]
    assert (centre - nb[:, :2]).abs().median() < 0.01
    assert (centre - nb[:, :2]).abs().max() < 0.05
    side = w.sum((1, 2)).sqrt() / 64
    assert (side - nb[:, 2]).abs().median() < 0.02


def test_return_boxes_needs_boxes():
    x, _ = _batch(2)
    with pytest.raises(ValueError, match="boxes"):
        augment(x, None, NO_AUGMENT, torch.Generator(), return_boxes=True)
