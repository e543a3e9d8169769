"""Keyframe rows, LTX-2's other conditioning: a frame of the clip, encoded as an image, appended clean at that
frame's own positions, with every noisy frame kept. The toy base is continued with them (``p_keyframe``) so that
extra clean tokens are not foreign to it when ST-DRC adds a reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stdrc_lib.core import positions as P
from stdrc_lib.core.losses import flow_matching_loss
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.train import build_cache
from stdrc_lib.train import trainer as T

FPS = 24.0


@pytest.fixture(scope="module")
def toy():
    b = TW.build_toy(seed=0, num_layers=1)
    return b, build_cache(b.vae, 4, progress=False)


def test_a_keyframe_sits_at_the_time_of_its_pixel_frame_on_frame_0s_grid(toy):
    rope = toy[0].transformer.rope
    frame0 = P.video_coords(rope, 1, (1, 8, 8), FPS)
    kf = P.keyframe_coords(rope, (8, 8), torch.tensor([0, 4, 16]), FPS)
    assert kf.shape == (3, 3, 64, 2)
    assert torch.equal(kf[0], frame0[0])  # pixel frame 0 is image-to-video's frame 0
    for row, k in ((1, 4), (2, 16)):
        assert torch.equal(kf[row, 1:], frame0[0, 1:])  # the same pixels
        assert torch.allclose(kf[row, 0], frame0[0, 0] + k / FPS)  # that frame's time box
    last = P.video_coords(rope, 1, (5, 8, 8), FPS)[0, 0, -1]  # latent frame 4 spans pixel frames 13 … 16
    assert last[0] <= kf[2, 0, 0, 0] and kf[2, 0, 0, 1] <= last[1] + 1e-6  # pixel frame 16 lies inside it
    with pytest.raises(ValueError, match="`pixel_frames`"):
        P.keyframe_coords(rope, (8, 8), torch.tensor([-1]), FPS)
    with pytest.raises(ValueError, match="`ref_grid`"):
        P.keyframe_coords(rope, (0, 8), torch.tensor([1]), FPS)
    with pytest.raises(ValueError, match="`fps`"):
        P.keyframe_coords(rope, (8, 8), torch.tensor([1]), 0.0)


def test_the_datasets_clip_references_name_their_frame():
    ds = SynthFaces("train", 3, seed=0)
    for i in range(3):
        it = ds[i]
        k = int(it["ref_frame"])
        assert 0 <= k < 17 and torch.equal(it["reference"], it["video"][:, k])
    assert int(SynthFaces("eval", 1, seed=0)[0]["ref_frame"]) == -1


def _loss(b, cache, keyframe):
    x0, refs = cache.latents[:2], cache.refs[:2]
    g = torch.Generator().manual_seed(0)
    noise, keep = torch.randn(x0.shape, generator=g), torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        return flow_matching_loss(
            b, x0, refs, cache.prompts[:2], keep, keep, torch.tensor([0.6, 0.6]), noise, P.PositionConfig(),
            keyframe=keyframe,
        )[0]  # fmt: skip


def test_keyframe_rows_move_the_reference_to_its_frame_and_only_those_rows(toy):
    b, cache = toy
    plain = _loss(b, cache, None)
    assert torch.equal(_loss(b, cache, torch.tensor([-1, -1])), plain)  # −1 keeps the scheme
    assert not torch.equal(_loss(b, cache, torch.tensor([4, -1])), plain)
    with pytest.raises(ValueError, match="`keyframe`.*shape \\(2,\\)"):
        _loss(b, cache, torch.tensor([4]))
    seen = []
    hook = b.transformer.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["video_coords"]), with_kwargs=True)
    _loss(b, cache, torch.tensor([8, -1]))
    hook.remove()
    coords, n_v = seen[0], 5 * 64
    assert torch.equal(coords[0, :, n_v:], P.keyframe_coords(b.transformer.rope, (8, 8), torch.tensor([8]), FPS)[0])
    tass = P.build_coords(b.transformer.rope, 1, (5, 8, 8), [(8, 8)], P.PositionConfig(fps=FPS))
    assert torch.equal(coords[1, :, n_v:], tass[0, :, n_v:])


def test_the_trainer_draws_keyframe_rows_from_the_clips_own_frames(toy):
    b, cache = toy
    cfg = T.TrainConfig(steps=2, batch=4, warmup=1, sample_every=0, p_keyframe=1.0, p_ref=1.0)
    g = torch.Generator().manual_seed(0)
    batch = T.draw_batch(cache, cfg, T.augmented(cfg.augment), g, slice(0, 4), "cpu", 4)
    assert torch.equal(batch.keyframe, cache.ref_frames[batch.idx])
    assert torch.equal(batch.refs, cache.refs[batch.idx])  # the frame itself, not augmented
    assert batch.keep_ref.all()  # a keyframe is never dropped, even with p_ref = 1
    log = T.train(TW.build_toy(seed=0, num_layers=1), cache, cfg, progress=False)
    assert all(np.isfinite(log["losses"]))


def test_keyframe_options_are_checked(toy):
    cache = toy[1]
    with pytest.raises(ValueError, match="`p_keyframe`"):
        T.TrainConfig(p_keyframe=2.0)
    with pytest.raises(ValueError, match="`p_keyframe`.*`isolated_reference`"):
        T.TrainConfig(p_keyframe=0.5, isolated_reference=True)
    no_frames = T.ClipCache(cache.latents, cache.prompts, refs=cache.refs)
    cfg = T.TrainConfig(steps=1, batch=2, sample_every=0, p_keyframe=0.5)
    with pytest.raises(ValueError, match="`cfg.p_keyframe`.*`ref_frames`"):
        T.train(TW.build_toy(seed=0, num_layers=1), no_frames, cfg, progress=False)


def test_the_reference_use_bench_scores_a_keyframe_and_the_attention_it_draws(toy):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "reference_use", Path(__file__).parents[1] / "bench" / "reference_use.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    b, cache = toy
    kf = bench.reference_use(b, cache, "keyframe", 0.7, batch=2)
    tass = bench.reference_use(b, cache, "tass", 0.7, batch=2)
    assert kf["without"] == pytest.approx(tass["without"])  # the same clips, σ and noise without a reference
    assert kf["with"] != tass["with"]  # the reference sits elsewhere
    assert 0 < kf["attention"] < 1 and 0 < tass["attention"] < 1
