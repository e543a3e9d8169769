"""The toy base model: the bold look, the base VAE's frame-0 convention, the one-command build and its scoring."""

import json

import numpy as np
import pytest
import torch

from stdrc_lib.core import reference as R
from stdrc_lib.core.io import load_safetensors
from stdrc_lib.toy import base as B
from stdrc_lib.toy import base_eval as BE
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.render import BOLD, CLASSIC, Layout, look_named, render
from stdrc_lib.toy.world import IDENTITY_ATTRS, Identity


def _face(ident: Identity, look) -> np.ndarray:
    lay = Layout.still(1, scale=look.clip_scale)
    return render(ident, lay, "office", "neutral", "bright", "none", 64, look=look)[0]


@pytest.mark.parametrize("attr", list(IDENTITY_ATTRS))
def test_every_identity_attribute_changes_more_pixels_in_the_bold_look(attr):
    """Each identity attribute is drawn bigger in the bold look: changing it alone changes more pixels."""
    base = Identity(hair_style=0, glasses=0, beard=0, mark=0)
    other = Identity(**{**base.__dict__, attr: 1})
    changed = {}
    for look in (CLASSIC, BOLD):
        diff = np.abs(_face(base, look) - _face(other, look)).max(-1)
        changed[look.name] = int((diff > 0.1).sum())
    assert changed["bold"] > changed["classic"] > 0, changed


def test_looks_share_the_world_and_are_named():
    assert look_named("bold") is BOLD and look_named(CLASSIC) is CLASSIC
    with pytest.raises(ValueError, match="`look` must be one of"):
        look_named("sharp")
    a, b = SynthFaces("eval", 2, seed=3), SynthFaces("eval", 2, seed=3, look="bold")
    for i in range(2):  # the same identity, prompt and split, drawn differently
        assert torch.equal(a[i]["identity"], b[i]["identity"]) and a[i]["prompt"] == b[i]["prompt"]
        assert not torch.equal(a[i]["video"], b[i]["video"])


def test_base_vae_encodes_one_image_as_frame_0_of_a_video():
    """The causal encoder sees frame 0 alone, so an image's latent is the video latent's frame 0."""
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(**TW.BASE_VAE_CONFIG).eval()
    video = SynthFaces("eval", 1, seed=0, frames=9, look="bold")[0]["video"][None]
    with torch.no_grad():
        z_video = R.encode(vae, video)
        z_image = R.encode(vae, video[:, :, :1])
    assert z_video.shape[1] == TW.BASE_TRANSFORMER_CONFIG["in_channels"]
    torch.testing.assert_close(z_image[:, :, 0], z_video[:, :, 0], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def built(tiny_shipped):
    root, extra = tiny_shipped
    return root / "toy", extra


@pytest.mark.slow  # builds a tiny base model once (about a minute)
def test_build_makes_every_part_stored_as_float16_with_a_manifest(built):
    root, extra = built
    out = root / "base"
    for part in ("transformer", "vae", "text_encoder", "readout", "scorer"):
        assert (out / part).is_dir(), part
    m = json.loads((out / "manifest.json").read_text())
    assert m["look"] == "bold" and m["kind"] == "base" and m["revision"]
    assert set(m["files"]) == {str(p.relative_to(out)) for p in out.rglob("*.safetensors")}
    assert m["recipe"]["transformer"]["p_first_frame"] == 0.5 and m["recipe"]["transformer"]["p_ref"] == 0.0
    assert set(m["minutes"]) >= {"vae", "readout", "scorer", "transformer", "keyframes"}
    assert m["recipe"]["keyframes"]["p_keyframe"] == 0.3 and m["steps"]["keyframes"] == 2
    for cfg in out.rglob("config.json"):  # a shipped model names no machine's paths
        assert "_name_or_path" not in json.loads(cfg.read_text()), cfg
    stages = m["training"]["vae"]["stages"]  # whole frames for 2 steps of a 3-step schedule, then 32×32 windows
    assert [s["stopped_after"] for s in stages] == [2, 1] and [s["crop"] for s in stages] == [None, 32]
    assert stages[0]["init"] is None and stages[1]["init"].endswith("vae_stage1")
    from safetensors import safe_open

    with safe_open(str(out / "transformer" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    # the two readouts were trained apart: different weights
    a = load_safetensors(out / "readout" / "model.safetensors")
    b = load_safetensors(out / "scorer" / "model.safetensors")
    assert not torch.equal(a["embed.weight"], b["embed.weight"])


@pytest.mark.slow  # builds a tiny base model once (about a minute)
def test_build_skips_finished_stages(built, monkeypatch, tmp_path, tiny_recipe):
    root, _ = built

    def refuse(*a, **k):
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(B, "train_vae", refuse)
    monkeypatch.setattr(B, "train_readout", refuse)
    monkeypatch.setattr(B, "train", refuse)
    monkeypatch.setattr(B, "build_cache", refuse)
    B.build(tmp_path / "again", tiny_recipe, runs=root.parent / "runs")
    assert (tmp_path / "again" / "manifest.json").is_file()


@pytest.mark.slow  # builds a tiny base model once (about a minute)
def test_base_loads_as_float32_and_is_scored_by_its_scorer(built):
    root, _ = built
    backbone, scorer = BE.load_base(root / "base")
    assert backbone.extra["look"] == "bold"
    assert {p.dtype for p in backbone.transformer.parameters()} == {torch.float32}
    rep = BE.evaluate_base(backbone, scorer, n=2, steps=2, batch=2, progress=False, keep_examples=1)
    assert set(rep["results"]) == set(BE.ROWS)
    assert len(rep["per_clip"]["image_to_video"]["identity_accuracy"]) == 2
    assert "psnr" in rep["results"]["vae_reconstruction"]
    assert all(0 <= v <= 1 for v in rep["per_clip"]["ground_truth"]["identity_accuracy"])
    assert rep["targets"]["image_to_video"]["identity_accuracy"]["target"] == 0.90
    sheet = BE.contact_sheet(rep["examples"])
    assert sheet.ndim == 3 and sheet.shape[-1] == 3


def test_load_base_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m stdrc_lib.toy.base"):
        BE.load_base(tmp_path)


def test_manifests_record_the_command_as_typed(monkeypatch):
    import sys
    from pathlib import Path

    from stdrc_lib.toy import manifest

    monkeypatch.setattr(sys, "argv", [str(Path(B.__file__)), "--out", "data/toy/base"])
    assert manifest.command_line() == "python -m stdrc_lib.toy.base --out data/toy/base"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/stdrc", "train", "--steps", "3"])
    assert manifest.command_line() == "stdrc train --steps 3"


@pytest.mark.slow  # builds a tiny base model once (about a minute)
def test_an_adapter_fine_tunes_the_base_and_loads_back(built, tmp_path):
    """The ST-DRC fine-tune: a LoRA adapter in diffusers' layout, with a manifest tying it to its base."""
    from stdrc_lib import pipeline as PL
    from stdrc_lib.toy import adapter as AD

    root, _ = built
    cfg = AD.AdapterConfig(steps=2, batch=2, warmup=1, n_clips=4, ckpt_every=1)
    rec = AD.train_adapter(root / "base", cfg, tmp_path / "adapter", tmp_path / "runs", progress=False)
    assert (tmp_path / "adapter" / AD.LORA_FILE).is_file()
    m = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert m["kind"] == "adapter" and m["scheme"] == "tass" and m["look"] == "bold" and m["base_sha256"]
    assert rec["train_config"]["train_text_encoder"] is False and rec["train_config"]["lora_rank"] == 16
    base, _ = BE.load_base(root / "base")
    ref = BE.SynthFaces("eval", 1, seed=0, look="bold")[0]["reference"]
    img = R.to_uint8(ref.permute(1, 2, 0)).numpy()

    def clip(b):
        return PL.generate(b, "a person smiling", img, num_steps=2, progress=False,
                           generator=torch.Generator().manual_seed(0)).frames  # fmt: skip

    before = clip(base)
    tuned = AD.load_adapter(base, tmp_path / "adapter")
    assert tuned.scheme == "tass" and any("lora_" in n for n, _ in tuned.transformer.named_parameters())
    assert clip(tuned).shape == before.shape


@pytest.mark.slow  # builds a tiny base model once (about a minute)
def test_an_adapter_refuses_another_base(built, tmp_path):
    from stdrc_lib.toy import adapter as AD

    root, _ = built
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / AD.LORA_FILE).write_bytes(b"")
    other = {"base_sha256": {"vae/diffusion_pytorch_model.safetensors": "0"}}
    (tmp_path / "a" / "manifest.json").write_text(json.dumps(other))
    base, _ = BE.load_base(root / "base")
    with pytest.raises(ValueError, match="another base"):
        AD.load_adapter(base, tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="base model folder"):
        AD.train_adapter(tmp_path, AD.AdapterConfig(), tmp_path / "o", tmp_path / "r")


def test_base_eval_refuses_files_it_did_not_write_before_loading_anything(tmp_path, capsys):
    (tmp_path / "eval.md").write_text("mine")
    with pytest.raises(SystemExit):
        BE.main(["--out", str(tmp_path), "--weights", str(tmp_path / "none")])
    assert "not written by stdrc" in capsys.readouterr().err and (tmp_path / "eval.md").read_text() == "mine"
    with pytest.raises(SystemExit):
        BE.main(["--sheet", str(tmp_path / "sheet.jpg")])
    assert ".png" in capsys.readouterr().err
