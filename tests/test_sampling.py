import numpy as np
import pytest
import torch

from stdrc_lib.core import guidance as G
from stdrc_lib.core import sampling as S
from stdrc_lib.pipeline import generate
from stdrc_lib.toy import sample_reference


def _gen(toy, seed=0, **kw):
    kw.setdefault("num_steps", 3)
    return generate(
        toy,
        "a person smiling",
        sample_reference(0),
        num_frames=9,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
        **kw,
    )


def test_generate_shapes_and_determinism(toy):
    a = _gen(toy)
    b = _gen(toy)
    assert a.frames.shape == (1, 9, 32, 32, 3) and a.frames.dtype == torch.uint8
    assert torch.equal(a.frames, b.frames)
    c = _gen(toy, seed=1)
    assert not torch.equal(a.latents, c.latents)


def test_batched_equals_separate_sampling(toy):
    a = _gen(toy, batched=True)
    b = _gen(toy, batched=False)
    assert (a.latents - b.latents).abs().max() < 1e-4


def test_velocities_on_request(toy):
    out = _gen(toy, return_velocities=True)
    assert len(out.velocities) == 3
    assert set(out.velocities[0]) == {"v(∅,∅)", "v(r,∅)", "v(r,c)"}
    assert out.velocities[0]["v(r,c)"].shape == (1, 3 * 4 * 4, 16)
    # the guided update equals the formula applied to the returned streams
    v = out.velocities[0]
    g = G.combine(v["v(∅,∅)"], v["v(r,∅)"], v["v(r,c)"], 2.0, 3.0)
    assert g.shape == v["v(r,c)"].shape


def test_unit_guidance_runs_only_conditional_stream(toy):
    calls = []
    orig = S.stream_velocities

    def spy(*args, **kw):
        calls.append(len(args[5]))
        return orig(*args, **kw)

    S.stream_velocities = spy
    try:
        _gen(toy, guidance=G.GuidanceConfig(1.0, 1.0))
    finally:
        S.stream_velocities = orig
    assert calls == [1, 1, 1]


def test_no_reference_and_prompt_batch(toy):
    out = generate(
        toy,
        ["a person smiling", "a person nodding"],
        None,
        num_frames=5,
        height=32,
        width=32,
        num_steps=2,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert out.frames.shape[0] == 2


def test_reference_batch_mismatch(toy):
    with pytest.raises(ValueError, match="reference_image"):
        generate(toy, ["a", "b", "c"], [sample_reference(0)] * 2, num_frames=5, height=32, width=32, num_steps=1)


def test_bad_steps(toy):
    for steps in (0, -3):
        with pytest.raises(ValueError, match="num_steps"):
            _gen(toy, num_steps=steps)


def test_sample_reference_is_deterministic():
    assert np.array_equal(sample_reference(5), sample_reference(5))
    assert sample_reference(5).shape == (64, 64, 3)
