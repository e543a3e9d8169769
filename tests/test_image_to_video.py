"""Image-to-video, LTX-2's way: frame 0's latent given clean (timestep 0) at its own positions, with no loss on it.

A base model learns to continue a given first frame (DESIGN.md §2); the trainer trains such rows with
``p_first_frame``, the sampler and the pipeline generate from a given first frame.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stdrc_lib.core import positions as P
from stdrc_lib.core import reference as R
from stdrc_lib.core import sampling as S
from stdrc_lib.core.losses import flow_matching_loss
from stdrc_lib.pipeline import pipeline_from_backbone
from stdrc_lib.toy import sample_reference
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.train import build_cache
from stdrc_lib.train import trainer as T

GRID = (3, 4, 4)  # 9 frames of 32×32 pixels


def test_first_frame_tokens_and_timesteps():
    mask = R.first_frame_tokens(torch.tensor([True, False]), GRID)
    assert mask.shape == (2, 48) and mask[0, :16].all() and not mask[0, 16:].any() and not mask[1].any()
    ts = R.token_timesteps(torch.tensor([0.7, 0.7]), 48, 4, mask)
    assert (ts[0, :16] == 0).all() and (ts[0, 16:48] == 0.7).all() and (ts[:, 48:] == 0).all()
    assert torch.equal(
        R.token_timesteps(torch.tensor([0.7]), 48, 4), R.token_timesteps(torch.tensor([0.7]), 48, 4, None)
    )


@pytest.fixture(scope="module")
def small():
    b = TW.build_toy(seed=0, num_layers=1)
    x0 = torch.randn(2, 16, *GRID, generator=torch.Generator().manual_seed(0))
    return b, x0


def _loss(b, x0, noise, clean):
    keep = torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        return flow_matching_loss(
            b, x0, None, ["a person smiling"] * 2, keep, keep, torch.tensor([0.6, 0.6]), noise, P.PositionConfig(),
            clean_first_frame=clean,
        )  # fmt: skip


def test_an_image_to_video_row_sees_its_clean_frame_0_and_has_no_loss_on_it(small):
    b, x0 = small
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x0.shape, generator=g)
    other = noise.clone()
    other[:, :, 0] = torch.randn(other[:, :, 0].shape, generator=g)  # only frame 0's noise differs
    yes = torch.tensor([True, True])
    loss_a, x0_hat = _loss(b, x0, noise, yes)
    loss_b, _ = _loss(b, x0, other, yes)
    assert torch.equal(loss_a, loss_b)  # frame 0 is clean: its noise neither enters the model nor the loss
    assert torch.equal(x0_hat[:, :, 0], x0[:, :, 0])  # a given frame is its own estimate
    no = torch.tensor([False, False])
    assert not torch.equal(_loss(b, x0, noise, no)[0], _loss(b, x0, other, no)[0])
    assert torch.equal(_loss(b, x0, noise, None)[0], _loss(b, x0, noise, no)[0])  # all-False = plain


def test_the_trainer_trains_image_to_video_rows():
    b = TW.build_toy(seed=0, num_layers=1)
    cache = build_cache(b.vae, 4, progress=False)
    t2v = T.ClipCache(cache.latents, cache.prompts)
    seen = []
    b.transformer.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["timestep"].clone()), with_kwargs=True)
    cfg = T.TrainConfig(steps=2, batch=2, warmup=1, sample_every=0, p_first_frame=1.0)
    log = T.train(b, t2v, cfg, progress=False)
    assert all(np.isfinite(log["losses"]))
    hw = 8 * 8
    assert all((ts[:, :hw] == 0).all() and (ts[:, hw:] > 0).all() for ts in seen)  # frame 0 clean in every row
    with pytest.raises(ValueError, match="`p_first_frame`"):
        T.TrainConfig(p_first_frame=1.5)


def test_sampling_keeps_the_given_first_frame(small):
    b, _ = small
    text, tm = b.text_encoder.encode(["a person smiling"])
    null, nm = b.text_encoder.encode([""])
    first = torch.randn(1, 16, generator=torch.Generator().manual_seed(3)).repeat(16, 1)[None]  # (1, 16, 16)
    kw = dict(generator=torch.Generator().manual_seed(0), progress=False)
    out = S.sample(b.transformer, S.Conditioning(text, tm, null, nm, first_frame=first), GRID, 3, **kw)
    assert torch.equal(R.pack(out.latents)[:, :16], first)
    plain = S.sample(
        b.transformer,
        S.Conditioning(text, tm, null, nm),
        GRID,
        3,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert not torch.equal(out.latents[:, :, 1:], plain.latents[:, :, 1:])  # later frames continue it
    with pytest.raises(ValueError, match="`first_frame` must hold the 16 tokens"):
        S.sample(b.transformer, S.Conditioning(text, tm, null, nm, first_frame=first[:, :8]), GRID, 1, progress=False)


def test_pipeline_first_frame_image(small):
    b, _ = small
    pipe = pipeline_from_backbone(b)
    img = sample_reference(2)[:32, :32]
    out = pipe("a person smiling", first_frame_image=img, num_frames=9, height=32, width=32, num_inference_steps=2,
               output_type="latent", progress=False)  # fmt: skip
    want = R.encode_reference(b.vae, img, (32, 32))  # (1, C, 1, 4, 4)
    assert torch.allclose(out.frames[:, :, :1], want)
    with pytest.raises(ValueError, match="`first_frame_image` has 2 images"):
        pipe("a person smiling", first_frame_image=[img, img], num_frames=9, height=32, width=32, progress=False)
