import pytest
import torch

from conftest import GRID, REF_GRID, coords_for, forward, make_tokens
from stdrc_lib.core import attention as A
from stdrc_lib.core import reference as R

N_V = GRID[0] * GRID[1] * GRID[2]
N_R = REF_GRID[0] * REF_GRID[1]


def test_capture_changes_no_output(toy):
    x, refs = make_tokens()
    c = coords_for(toy)
    plain = forward(toy, x, refs, c)
    with A.capture_attention(toy.transformer, N_V, chunk_size=7) as store:
        captured = forward(toy, x, refs, c)
    assert torch.equal(plain, captured)
    assert sorted(store.maps) == [0, 1]


def test_shapes_rows_and_chunking(toy):
    x, refs = make_tokens()
    c = coords_for(toy)
    with A.capture_attention(toy.transformer, N_V, chunk_size=5) as small:
        forward(toy, x, refs, c)
    with A.capture_attention(toy.transformer, N_V, chunk_size=1000, per_head=True) as heads:
        forward(toy, x, refs, c)
    a = small.maps[1]
    assert a.shape == (2, N_V, N_R)
    assert heads.maps[1].shape == (2, 4, N_V, N_R)
    rows = a.sum(-1)
    assert rows.min() >= 0 and rows.max() <= 1 + 1e-6
    assert rows.max() < 0.999  # video tokens also attend to video: rows sum to < 1
    assert torch.allclose(heads.maps[1].mean(1), a, atol=1e-6)  # chunked == whole, head-mean matches
    grid = A.reference_maps(a, GRID, REF_GRID)
    assert grid.shape == (2, *GRID, *REF_GRID)


def test_capture_matches_manual_softmax(toy):
    """Recompute layer-0 attention by hand from the block's own modules."""
    x, refs = make_tokens(b=1)
    c = coords_for(toy, b=1)
    captured = {}

    def hook(mod, args, kwargs, out):
        captured["h"] = kwargs["hidden_states"]

    blk = toy.transformer.transformer_blocks[0]
    handle = blk.attn1.register_forward_hook(hook, with_kwargs=True)
    with A.capture_attention(toy.transformer, N_V, layers=[0]) as store:
        forward(toy, x, refs, c)
    handle.remove()
    attn, h = blk.attn1, captured["h"]
    rope = toy.transformer.rope(c)
    from diffusers.models.transformers.transformer_ltx2 import apply_split_rotary_emb

    q = apply_split_rotary_emb(attn.norm_q(attn.to_q(h)), rope).unflatten(2, (4, -1)).transpose(1, 2)
    k = apply_split_rotary_emb(attn.norm_k(attn.to_k(h)), rope).unflatten(2, (4, -1)).transpose(1, 2)
    p = (q @ k.transpose(-1, -2) / 32**0.5).softmax(-1)[:, :, :N_V, N_V:].mean(1)
    assert torch.allclose(store.maps[0], p, atol=1e-5)


def test_masked_rows_do_not_look_at_reference(toy):
    x, refs = make_tokens()
    mask = R.reference_mask(N_V, N_R, torch.tensor([True, False]))
    with A.capture_attention(toy.transformer, N_V) as store:
        forward(toy, x, refs, coords_for(toy), mask=mask)
    assert store.maps[0][1].max() < 1e-6 and store.maps[0][0].max() > 1e-4


def test_processors_restored(toy):
    before = [type(b.attn1.processor) for b in toy.transformer.transformer_blocks]
    with A.capture_attention(toy.transformer, N_V):
        assert all(isinstance(b.attn1.processor, A.CaptureProcessor) for b in toy.transformer.transformer_blocks)
    assert [type(b.attn1.processor) for b in toy.transformer.transformer_blocks] == before


def test_bad_layer():
    from stdrc_lib.toy import weights as TW

    with pytest.raises(ValueError, match="layers"):
        with A.capture_attention(TW.build_toy(num_layers=1).transformer, 10, layers=[3]):
            pass


def test_pixel_aligned_share_reads_the_copy_channel():
    from stdrc_lib.core.attention import pixel_aligned_share

    grid, ref = (2, 4, 4), (4, 4)
    n_v, n_r = 2 * 16, 16
    aligned = torch.zeros(n_v, n_r)
    aligned[torch.arange(16), torch.arange(16)] = 0.5  # frame-0 query k looks at reference token k
    aligned[16:] = 1.0 / n_r
    uniform = torch.full((n_v, n_r), 0.3 / n_r)  # 30 % of the attention on the reference, spread evenly
    shares = pixel_aligned_share(torch.stack([aligned, uniform]), grid, ref)
    assert shares.shape == (2, 16)
    assert torch.allclose(shares[0], torch.ones(16)) and torch.allclose(shares[1], torch.full((16,), 1 / n_r))
    coarse = torch.zeros(n_v, 4)  # a 2×2 reference under a 4×4 frame: query (i, j) → token (i // 2, j // 2)
    coarse[torch.arange(16), (torch.arange(4)[:, None] // 2 * 2 + torch.arange(4)[None] // 2).reshape(-1)] = 1
    assert torch.allclose(pixel_aligned_share(coarse, grid, (2, 2)), torch.ones(16))
    with pytest.raises(ValueError, match="frame-0 queries"):
        pixel_aligned_share(torch.zeros(4, 16), grid, ref)
