"""The shipped toy model generates the same frames, and the trainer the same weights, as before the package
was reorganised into a method core, one trainer and a toy plug-in.

``tests/data/*.npz`` hold uint8 frames written at revision 130048b (recorded in each file), before the split:
``stdrc demo``'s clip with its default arguments, the same with a prompt that names a light (so the reference
is re-lit), and ``STDRCPipeline`` called directly. ``tests/data/train_runs.json`` holds the losses and weight
hashes of four short toy trainings (plain; cut-out, cross and re-lit references; LoRA with face-weighted loss;
face crop with an isolated reference) made with that revision's trainer. On the machine kind they were made on
(same torch, same CPU capability) frames and weights must be bitwise equal; elsewhere float kernels may round
differently, so there the frames may differ by under 0.5 grey levels on average and the losses by 1e-4.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stdrc_lib.core.config import GuidanceConfig
from stdrc_lib.pipeline import pipeline_from_backbone
from stdrc_lib.toy import sample_reference
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.demo import demo_clip
from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy

DATA = Path(__file__).parent / "data"
needs_weights = pytest.mark.skipif(not (TW.TOY_DIR / "transformer").is_dir(), reason="no shipped toy weights")
pytestmark = pytest.mark.slow


def _same_machine(ref) -> bool:
    return str(ref["torch"]) == torch.__version__ and str(ref["cpu"]) == torch.backends.cpu.get_cpu_capability()


def _check(frames: np.ndarray, name: str) -> None:
    ref = np.load(DATA / name)
    same_machine = _same_machine(ref)
    assert frames.shape == ref["frames"].shape and frames.dtype == np.uint8
    if same_machine:
        diff = np.abs(frames.astype(int) - ref["frames"].astype(int))
        assert np.array_equal(frames, ref["frames"]), (
            f"{name}: {np.count_nonzero(diff)} values differ (max {diff.max()})"
        )
    else:  # another CPU or torch: the same computation, rounded differently
        mean = np.abs(frames.astype(float) - ref["frames"].astype(float)).mean()
        assert mean < 0.5, f"{name}: mean difference {mean:.3f} grey levels on another machine"


@pytest.fixture(scope="module")
def shipped():
    return TW.load_toy()


@needs_weights
def test_demo_frames_are_unchanged(shipped):
    clip = demo_clip(shipped, progress=False)
    ref = np.load(DATA / "demo_frames.npz")
    assert np.array_equal(clip.model_input, ref["model_ref"])
    _check(clip.frames.numpy(), "demo_frames.npz")


@needs_weights
def test_demo_frames_with_a_relit_reference_are_unchanged(shipped):
    clip = demo_clip(shipped, "a person smiling in a forest moving left in warm light", num_steps=8, progress=False)
    assert "re-lit" in clip.notes
    assert np.array_equal(clip.model_input, np.load(DATA / "demo_frames_warm.npz")["model_ref"])
    _check(clip.frames.numpy(), "demo_frames_warm.npz")


@needs_weights
def test_pipeline_frames_are_unchanged(shipped):
    pipe = pipeline_from_backbone(shipped)
    out = pipe(
        "a person nodding on a beach",
        reference_image=sample_reference(5),
        num_inference_steps=6,
        reference_guidance_scale=8.0,
        generator=torch.Generator().manual_seed(1),
        output_type="np",
        progress=False,
    )
    _check((out.frames * 255).round().astype(np.uint8), "pipeline_frames.npz")
    assert GuidanceConfig().s_ref == 8.0  # the default the pipeline now takes, equal to what this clip asked for


RUNS = json.loads((DATA / "train_runs.json").read_text())


@pytest.mark.parametrize("name", sorted(RUNS["runs"]))
def test_training_is_unchanged(name):
    options = {
        "plain": {},
        "cutout_xref_relight": dict(face_cutout=True, p_cross_ref=0.5, p_relight=0.5),
        "lora_facew": dict(lora_rank=4, face_loss_weight=2.0),
        "crop_iso": dict(face_crop=True, isolated_reference=True),
    }[name]
    b = TW.build_toy(seed=0, num_layers=1)
    cache = build_cache(b.vae, 8, progress=False, cross_reference=True)
    # the runs were recorded with the placement now called tass_pre (Stand-In's)
    cfg = ToyTrainConfig(steps=4, batch=4, warmup=2, n_clips=8, sample_every=0, scheme="tass_pre", **options)
    losses = train_toy(b, cfg, cache=cache, progress=False)["losses"]
    want = RUNS["runs"][name]
    if _same_machine(RUNS):
        tensors = b"".join(v.detach().numpy().tobytes() for v in b.transformer.state_dict().values())
        assert losses == want["losses"]
        assert hashlib.sha256(tensors).hexdigest() == want["sha256"], "same losses, different weights"
    else:
        assert losses == pytest.approx(want["losses"], rel=1e-4)
