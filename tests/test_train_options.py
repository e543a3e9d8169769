"""Trainer options on a tiny toy: peft LoRA, gradient checkpointing, EMA, cross-context references."""

from __future__ import annotations

import pytest
import torch

from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy


@pytest.fixture(scope="module")
def cache():
    return build_cache(TW.build_toy(seed=0, num_layers=1).vae, 8, progress=False, cross_reference=True)


def _fresh():
    return TW.build_toy(seed=0, num_layers=1)


def _cfg(**kw):
    return ToyTrainConfig(**{"steps": 3, "batch": 4, "warmup": 1, "n_clips": 8, "sample_every": 0, **kw})


def test_lora_trains_only_the_adapter(cache):
    b = _fresh()
    before = {k: v.clone() for k, v in b.transformer.state_dict().items()}
    log = train_toy(b, _cfg(lora_rank=4), cache=cache, progress=False)
    after = b.transformer.state_dict()
    lora = [k for k in after if "lora_" in k]
    assert lora and all(".attn1." in k or ".attn2." in k or ".ff." in k for k in lora)
    base = {k.replace(".base_layer", ""): v for k, v in after.items() if "lora_" not in k}
    assert base.keys() == before.keys()
    assert all(torch.equal(before[k], base[k]) for k in before)  # the base weights did not move
    assert any(after[k].abs().sum() > 0 for k in lora if "lora_B" in k)  # B starts at 0 and has moved
    assert all(torch.isfinite(torch.tensor(log["losses"])))


def test_gradient_checkpointing_gives_the_same_losses(cache):
    a = train_toy(_fresh(), _cfg(), cache=cache, progress=False)["losses"]
    b = train_toy(_fresh(), _cfg(gradient_checkpointing=True), cache=cache, progress=False)["losses"]
    assert a == pytest.approx(b, rel=1e-5, abs=1e-6)


def test_ema_weights_are_returned(cache):
    plain = _fresh()
    train_toy(plain, _cfg(), cache=cache, progress=False)
    ema = _fresh()
    train_toy(ema, _cfg(ema_decay=0.5), cache=cache, progress=False)
    init = _fresh()
    k = "transformer_blocks.0.attn1.to_q.weight"
    w0, wp, we = (m.transformer.state_dict()[k] for m in (init, plain, ema))
    # same trajectory, but EMA averages it: strictly between the start and the end (elementwise, mostly)
    assert not torch.equal(wp, we)
    assert (we - w0).norm() < (wp - w0).norm()


def test_cross_references_change_the_batch_but_not_the_rest(cache):
    a = train_toy(_fresh(), _cfg(p_cross_ref=1.0), cache=cache, progress=False)["losses"]
    b = train_toy(_fresh(), _cfg(), cache=cache, progress=False)["losses"]
    assert a != b
    with pytest.raises(ValueError, match="cross_reference=True"):
        train_toy(_fresh(), _cfg(p_cross_ref=0.5), cache=build_cache(_fresh().vae, 4, progress=False), progress=False)


def test_relit_references_change_the_batch(cache):
    a = train_toy(_fresh(), _cfg(p_relight=1.0), cache=cache, progress=False)["losses"]
    b = train_toy(_fresh(), _cfg(), cache=cache, progress=False)["losses"]
    assert a != b
    with pytest.raises(ValueError, match="p_relight"):
        _cfg(p_relight=1.5)
    # references from another context are lit by a light the prompt does not name: never re-lit
    from stdrc_lib.toy.train import relight_some

    refs = cache.refs[:2]
    g = torch.Generator().manual_seed(0)
    assert torch.equal(
        relight_some(refs, cache.prompt_attrs[:2], 1.0, g, torch.ones(2, 1, 1, 1, dtype=torch.bool)), refs
    )
    assert not torch.equal(relight_some(refs, cache.prompt_attrs[:2], 1.0, g), refs)


def test_isolated_reference_trains(cache):
    """Training with the reference in its own pass: losses are finite and differ from the joint
    model's. Checkpointing is refused, since its recomputation would miss the cache."""
    # two layers: with one, the reference keys/values of layer 0 are the same in both forms
    log = train_toy(TW.build_toy(seed=0, num_layers=2), _cfg(isolated_reference=True), cache=cache, progress=False)
    assert all(torch.isfinite(torch.tensor(log["losses"])))
    joint = train_toy(TW.build_toy(seed=0, num_layers=2), _cfg(), cache=cache, progress=False)["losses"]
    assert log["losses"][-1] != pytest.approx(joint[-1], rel=1e-6)
    with pytest.raises(ValueError, match="gradient_checkpointing"):
        _cfg(isolated_reference=True, gradient_checkpointing=True)


def test_isolated_reference_loss_sends_gradient_through_the_reference_pass():
    from stdrc_lib.core import positions as P
    from stdrc_lib.core.losses import flow_matching_loss

    b = _fresh()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 16, 5, 8, 8, generator=g)
    refs = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    keep = torch.tensor([True, True])
    sigma = torch.tensor([0.5, 0.8])
    noise = torch.randn(x0.shape, generator=g)
    pos = P.PositionConfig(fps=b.fps)
    loss, _ = flow_matching_loss(b, x0, refs, ["a", "b"], keep, keep, sigma, noise, pos, isolated_reference=True)
    # only the reference pass reads to_k / to_v of block 0 for reference tokens; drop the reference
    # and those rows' gradients change
    loss.backward()
    gk = b.transformer.transformer_blocks[0].attn1.to_k.weight.grad.clone()
    b.transformer.zero_grad()
    no_ref = torch.tensor([False, False])
    flow_matching_loss(b, x0, refs, ["a", "b"], keep, no_ref, sigma, noise, pos, isolated_reference=True)[0].backward()
    gk0 = b.transformer.transformer_blocks[0].attn1.to_k.weight.grad
    assert gk.abs().sum() > 0 and (gk - gk0).abs().max() > 1e-8


def test_face_crop_references_train_and_skip_relayout(cache):
    a = train_toy(_fresh(), _cfg(face_crop=True), cache=cache, progress=False)["losses"]
    b = train_toy(_fresh(), _cfg(), cache=cache, progress=False)["losses"]
    assert a != b and all(torch.isfinite(torch.tensor(a)))


def test_face_cutout_references_train_and_need_masks(cache):
    from dataclasses import replace

    assert cache.ref_masks is not None and cache.ref_masks.shape == (8, 64, 64)
    a = train_toy(_fresh(), _cfg(face_cutout=True), cache=cache, progress=False)["losses"]
    b = train_toy(_fresh(), _cfg(face_crop=True), cache=cache, progress=False)["losses"]
    assert a != b and all(torch.isfinite(torch.tensor(a)))
    with pytest.raises(ValueError, match="reference masks"):
        train_toy(_fresh(), _cfg(face_cutout=True), cache=replace(cache, ref_masks=None), progress=False)
    with pytest.raises(ValueError, match="`face_crop` and `face_cutout`"):
        _cfg(face_crop=True, face_cutout=True)
