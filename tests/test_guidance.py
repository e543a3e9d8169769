import pytest
import torch

from conftest import GRID, REF_GRID, coords_for, make_tokens
from stdrc_lib.core import guidance as G
from stdrc_lib.core import sampling as S

N_V = GRID[0] * GRID[1] * GRID[2]


def _streams(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 5, 3, generator=g) for _ in range(3)]


@pytest.mark.parametrize("order", G.ORDERS)
@pytest.mark.parametrize("s", [0.0, 1.0, 2.5, 7.0])
def test_equal_scales_reduce_to_plain_cfg(order, s):
    u, m, c = _streams()
    assert torch.allclose(G.combine(u, m, c, s, s, order), G.cfg(u, c, s), atol=1e-6)


@pytest.mark.parametrize("order", G.ORDERS)
def test_unit_scale_is_conditional(order):
    u, m, c = _streams()
    assert torch.allclose(G.combine(u, m, c, 1.0, 1.0, order), c, atol=1e-6)


@pytest.mark.parametrize("order", G.ORDERS)
def test_weights_match_formula(order):
    u, m, c = _streams(1)
    for s_ref, s_txt in [(2.0, 5.0), (0.0, 3.0), (4.0, 1.0)]:
        w = G.stream_weights(order, s_ref, s_txt)
        assert sum(w) == pytest.approx(1.0)
        assert torch.allclose(G.combine_weighted([u, m, c], w), G.combine(u, m, c, s_ref, s_txt, order), atol=1e-5)


def test_orders_differ():
    u, m, c = _streams(2)
    assert not torch.allclose(G.combine(u, m, c, 2.0, 5.0, "ref_first"), G.combine(u, m, c, 2.0, 5.0, "text_first"))


def test_each_knob_moves_only_its_term():
    u, m, c = _streams(3)
    base = G.combine(u, m, c, 2.0, 3.0)
    # ref_first: s_ref scales (m − u); s_txt scales (c − m)
    assert torch.allclose(G.combine(u, m, c, 3.0, 3.0) - base, m - u, atol=1e-5)
    assert torch.allclose(G.combine(u, m, c, 2.0, 4.0) - base, c - m, atol=1e-5)


def test_interval():
    cfg = G.GuidanceConfig(s_ref=2.0, s_txt=5.0, ref_interval=(0.2, 0.8))
    assert cfg.scales_at(0.5) == (2.0, 5.0)
    assert cfg.scales_at(0.9) == (1.0, 5.0)
    assert cfg.weights_at(0.9) == (0.0, -4.0, 5.0)  # the ∅,∅ stream need not be run
    with pytest.raises(ValueError, match="ref_interval"):
        G.GuidanceConfig(ref_interval=(0.9, 0.1))


def test_bad_order_and_scale():
    with pytest.raises(ValueError, match="order"):
        G.GuidanceConfig(order="both")
    with pytest.raises(ValueError, match="s_txt"):
        G.GuidanceConfig(s_txt=float("nan"))


def _cond(toy, b=2):
    x, refs = make_tokens(b=b)
    text, tmask = toy.text_encoder.encode(["a person smiling in a forest"] * b)
    null, nmask = toy.text_encoder.encode([""] * b)
    return x, S.Conditioning(text, tmask, null, nmask, refs, [REF_GRID])


@pytest.mark.parametrize("order", G.ORDERS)
def test_batched_streams_equal_separate_forwards(toy, order):
    x, cond = _cond(toy)
    c = coords_for(toy)
    with torch.no_grad():
        batched = S.stream_velocities(toy.transformer, x, 0.6, cond, c, G.STREAMS[order], batched=True)
        separate = S.stream_velocities(toy.transformer, x, 0.6, cond, c, G.STREAMS[order], batched=False)
    for a, b in zip(batched, separate):
        assert (a - b).abs().max() <= 1e-5
    assert (batched[0] - batched[2]).abs().max() > 1e-3  # streams differ


def test_rescale_pulls_the_std_towards_the_conditional_stream():
    g = torch.Generator().manual_seed(0)
    v_cond = torch.randn(3, 10, 4, generator=g)
    v = 5 * torch.randn(3, 10, 4, generator=g)  # a strongly guided velocity
    assert torch.equal(G.rescale(v, v_cond, 0.0), v)
    full = G.rescale(v, v_cond, 1.0)
    torch.testing.assert_close(full.std(dim=(1, 2)), v_cond.std(dim=(1, 2)))  # per clip
    half = G.rescale(v, v_cond, 0.5)
    torch.testing.assert_close(half, 0.5 * full + 0.5 * v)
    with pytest.raises(ValueError, match="same shape"):
        G.rescale(v, v_cond[:, :5], 0.5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_rescale_must_be_a_fraction(bad):
    with pytest.raises(ValueError, match="rescale"):
        G.GuidanceConfig(rescale=bad)


@pytest.mark.slow  # the shipped weights
def test_sampling_with_rescale_tames_large_scales():
    """At s_ref = s_txt = 8 the rescaled run keeps its latents' scale closer to the unguided run."""
    from stdrc_lib.toy import weights as TW

    b = TW.toy_backbone()  # the shipped weights when present
    text, tm = b.text_encoder.encode(["a person smiling on the beach"], "cpu")
    null, nm = b.text_encoder.encode([""], "cpu")
    channels = b.transformer.config.in_channels
    ref = torch.randn(1, 64, channels, generator=torch.Generator().manual_seed(1))
    cond = S.Conditioning(text, tm, null, nm, [ref], [(8, 8)])
    runs = {}
    for name, cfg in {
        "plain": G.GuidanceConfig(1.0, 1.0),
        "big": G.GuidanceConfig(8.0, 8.0),
        "big_rescaled": G.GuidanceConfig(8.0, 8.0, rescale=1.0),
    }.items():
        out = S.sample(
            b.transformer, cond, (5, 8, 8), 4, cfg, generator=torch.Generator().manual_seed(0), progress=False
        )
        runs[name] = out.latents.std().item()
    assert abs(runs["big_rescaled"] - runs["plain"]) < abs(runs["big"] - runs["plain"]), runs
