"""The shipped toy model generates the same frames, and the trainer the same weights, as when they were recorded:
a refactor that changes what the library computes fails here.

``tests/data/demo_frames.npz`` and ``pipeline_frames.npz`` hold uint8 frames of the shipped model (base with the
ST-DRC adapter): ``stdrc demo``'s clip with its default arguments, and ``STDRCPipeline`` called directly. They
are written by ``python tests/data/record_frames.py``, which records the revision, the machine and the sha256 of
the weights they came from; a new shipped model needs new recordings. ``tests/data/train_runs.json`` holds the
losses and weight hashes of four short toy trainings (plain; cut-out, cross and re-lit references; LoRA with
face-weighted loss; face crop with an isolated reference) recorded before the package was split into a method core,
one trainer and a toy plug-in. On the machine kind they were made on (same torch, CPU capability and CPU model)
frames and weights must be bitwise equal; elsewhere float kernels may round differently (two CPU models with the
same AVX512 capability can), so there the frames may differ by under 0.5 grey levels on average and the
losses by 1e-4. Recordings that do not name their CPU model are held to the second rule everywhere.
"""

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy

DATA = Path(__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("record_frames", DATA / "record_frames.py")
record_frames = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record_frames)
needs_weights = pytest.mark.skipif(not (TW.ADAPTER_DIR / TW.LORA_FILE).is_file(), reason="no shipped toy weights")
pytestmark = pytest.mark.slow


def _same_machine(ref) -> bool:
    keys = ref.files if hasattr(ref, "files") else ref  # an .npz or train_runs.json
    return (
        "cpu_model" in keys
        and str(ref["cpu_model"]) == record_frames.cpu_model()
        and str(ref["torch"]) == torch.__version__
        and str(ref["cpu"]) == torch.backends.cpu.get_cpu_capability()
    )


def _check(frames: np.ndarray, name: str) -> None:
    ref = np.load(DATA / name)
    recorded = json.loads(str(ref["weights_sha256"]))
    assert recorded == record_frames.shipped_hashes(), (
        f"{name} was recorded with other weights than the shipped ones; run `python tests/data/record_frames.py`"
    )
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
    return TW.toy_backbone()


@needs_weights
def test_demo_frames_are_unchanged(shipped):
    frames, reference = record_frames.demo(shipped)
    assert np.array_equal(reference, np.load(DATA / "demo_frames.npz")["reference"])
    _check(frames, "demo_frames.npz")


@needs_weights
def test_pipeline_frames_are_unchanged(shipped):
    _check(record_frames.pipeline(shipped), "pipeline_frames.npz")


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
