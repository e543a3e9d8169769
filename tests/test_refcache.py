"""Reference K/V cache: the isolated-reference model computed three ways agrees."""

import pytest
import torch

from stdrc_lib.core import backbone as bb
from stdrc_lib.core import guidance as G
from stdrc_lib.core import positions as P
from stdrc_lib.core import reference as R
from stdrc_lib.core.refcache import record_reference, reference_kv_cache, video_forward
from stdrc_lib.core.sampling import Conditioning, sample
from stdrc_lib.toy import weights as TW


@pytest.fixture(scope="module")
def toy():
    b = TW.build_toy(seed=0, num_layers=2)
    torch.manual_seed(0)
    for p in b.transformer.parameters():  # random tables, so every modulation path is exercised
        p.data += 0.02 * torch.randn_like(p)
    return b


def _inputs(toy, b=2):
    g = torch.Generator().manual_seed(1)
    grid = (3, 4, 4)
    x = torch.randn(b, 16, *grid, generator=g)
    ref = torch.randn(b, 16, 1, 4, 4, generator=g)
    text, tmask = toy.text_encoder.encode(["a person smiling on the beach"] * b, "cpu")
    coords = P.build_coords(toy.transformer.rope, b, grid, [(4, 4)])
    return R.pack(x), R.pack(ref), text, tmask, coords


@torch.no_grad()
def test_cache_equals_joint_forward_with_self_only_mask(toy):
    """At σ = 0 for the prompt modulation, record + use equals one joint forward in which the
    reference tokens attend only to themselves (the mask form of the same model)."""
    xv, xr, text, tmask, coords = _inputs(toy)
    b, n_v, n_r = xv.shape[0], xv.shape[1], xr.shape[1]
    t_video = torch.tensor([0.7, 0.3])
    zeros = torch.zeros(b)
    ts = torch.cat([t_video[:, None].expand(b, n_v), torch.zeros(b, n_r)], 1)
    mask = R.reference_mask(n_v, n_r, torch.ones(b, dtype=torch.bool), ref_self_only=True)
    joint = bb.transformer_forward(toy.transformer, torch.cat([xv, xr], 1), text, ts, zeros, coords, tmask, mask)
    with reference_kv_cache(toy.transformer) as state:
        record_reference(toy.transformer, state, xr, text, tmask, coords[:, :, n_v:])
        state.mode, state.rows = "use", torch.arange(b)
        cached = bb.transformer_forward(toy.transformer, xv, text, ts[:, :n_v], zeros, coords[:, :, :n_v], tmask)
        state.mode = None
    torch.testing.assert_close(cached, joint[:, :n_v], atol=1e-5, rtol=1e-5)
    # and the processors are gone afterwards
    assert all(
        type(blk.attn1.processor).__name__ != "ReferenceKVProcessor" for blk in toy.transformer.transformer_blocks
    )


@torch.no_grad()
def test_rows_without_reference_equal_removing_it(toy):
    xv, xr, text, tmask, coords = _inputs(toy)
    n_v = xv.shape[1]
    sig = torch.tensor([0.5, 0.5])
    plain = bb.transformer_forward(
        toy.transformer, xv, text, R.token_timesteps(sig, n_v, 0), sig, coords[:, :, :n_v], tmask
    )
    with reference_kv_cache(toy.transformer) as state:
        record_reference(toy.transformer, state, xr, text, tmask, coords[:, :, n_v:])
        mixed = video_forward(toy.transformer, state, xv, text, tmask, sig, coords[:, :, :n_v], rows=[-1, 1])
        with_ref = video_forward(toy.transformer, state, xv, text, tmask, sig, coords[:, :, :n_v], rows=[0, 1])
    torch.testing.assert_close(mixed[0], plain[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[1], with_ref[1], atol=1e-5, rtol=1e-5)
    assert (with_ref[0] - plain[0]).abs().max() > 1e-4  # the reference does change the output


@torch.no_grad()
def test_bad_rows_are_refused(toy):
    xv, xr, text, tmask, coords = _inputs(toy)
    n_v = xv.shape[1]
    with reference_kv_cache(toy.transformer) as state:
        record_reference(toy.transformer, state, xr, text, tmask, coords[:, :, n_v:])
        with pytest.raises(ValueError, match="rows"):
            video_forward(toy.transformer, state, xv, text, tmask, 0.5, coords[:, :, :n_v], rows=[0, 2])
        with pytest.raises(ValueError, match="rows"):
            video_forward(toy.transformer, state, xv, text, tmask, 0.5, coords[:, :, :n_v], rows=[0])


def test_sampling_with_cache_equals_recomputing_every_step(toy):
    """The cache is exact: caching the reference pass equals running it again at every step."""
    _, xr, text, tmask, _ = _inputs(toy)
    null, nmask = toy.text_encoder.encode([""] * 2, "cpu")
    cond = Conditioning(text, tmask, null, nmask, [xr], [(4, 4)])
    kw = dict(num_steps=3, guidance=G.GuidanceConfig(s_ref=2.0, s_txt=3.0), progress=False)
    outs = {}
    for mode in ("cache", "recompute"):
        g = torch.Generator().manual_seed(0)
        outs[mode] = sample(
            toy.transformer,
            cond,
            (3, 4, 4),
            generator=g,
            isolated_reference=True,
            cache_reference=mode == "cache",
            **kw,
        ).latents
    torch.testing.assert_close(outs["cache"], outs["recompute"], atol=0, rtol=0)
    g = torch.Generator().manual_seed(0)
    joint = sample(toy.transformer, cond, (3, 4, 4), generator=g, **kw).latents
    assert (joint - outs["cache"]).abs().max() > 1e-4  # a different model: the reference is isolated


def test_isolated_sampling_without_a_reference_is_the_plain_video_model(toy):
    """No reference: nothing to cache, and the isolated path equals the joint one (video tokens only)."""
    _, _, text, tmask, _ = _inputs(toy)
    null, nmask = toy.text_encoder.encode([""] * 2, "cpu")
    cond = Conditioning(text, tmask, null, nmask)
    kw = dict(num_steps=2, guidance=G.GuidanceConfig(s_ref=2.0, s_txt=3.0), progress=False)
    iso = sample(
        toy.transformer, cond, (3, 4, 4), generator=torch.Generator().manual_seed(0), isolated_reference=True, **kw
    )
    joint = sample(toy.transformer, cond, (3, 4, 4), generator=torch.Generator().manual_seed(0), **kw)
    torch.testing.assert_close(iso.latents, joint.latents, atol=1e-5, rtol=1e-5)
