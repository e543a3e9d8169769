import json

import pytest
import torch

from conftest import coords_for, forward, make_tokens
from stdrc_lib.core import backbone as bb
from stdrc_lib.toy import weights as TW


def test_full_config_on_meta_device():
    transformer, vae = bb.build_full_on_meta()
    n = sum(p.numel() for p in transformer.parameters())
    print(f"LTX-2.3 transformer parameters: {n / 1e9:.3f}B")
    assert abs(n - 19e9) / 19e9 < 0.05
    assert next(transformer.parameters()).device.type == "meta"
    cfg = transformer.config
    assert cfg.rope_type == "split" and cfg.gated_attn and cfg.cross_attn_mod and cfg.perturbed_attn
    assert not cfg.use_prompt_embeddings
    assert (vae.temporal_compression_ratio, vae.spatial_compression_ratio) == (8, 32)


def test_ltx25_loads_into_the_same_classes_with_its_two_differences():
    """LTX-2.5's transformer is LTX-2.3's class and widths: the video feed-forward loses its two biases in each of
    the 48 blocks, and one 4096-wide keyframe position embedding is added. The parameter count says exactly that."""
    t23, _ = bb.build_full_on_meta("ltx-2.3")
    t25, vae = bb.build_full_on_meta("ltx-2.5")
    n23, n25 = (sum(p.numel() for p in t.parameters()) for t in (t23, t25))
    width, hidden, layers = 4096, 4 * 4096, 48
    assert n25 == n23 - layers * (hidden + width) + width, (n23, n25)
    assert not t25.config.ff_bias and t25.config.use_keyframes_abs_pos_embedding
    assert t25.config.in_channels == vae.config.latent_channels == 128
    with pytest.raises(ValueError, match="`preset`"):
        bb.build_full_on_meta("ltx-3")


def test_toy_preset_is_consistent(toy):
    assert tuple(toy.transformer.config.vae_scale_factors) == (4, 8, 8)
    assert toy.latent_grid(17, 64, 64) == (5, 8, 8)
    assert toy.transformer.config.in_channels == toy.vae.config.latent_channels == 16


def test_mismatched_vae_is_rejected(toy):
    from diffusers import AutoencoderKLLTX2Video

    cfg = dict(TW.TOY_VAE_CONFIG, spatial_compression_ratio=16)
    with pytest.raises(ValueError, match="vae_scale_factors"):
        bb.check_consistency(toy.transformer, AutoencoderKLLTX2Video(**cfg))


def test_full_offline_missing_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        bb.load_full(bb.FULL_HUB_ID)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bb.load_full(str(tmp_path / "nowhere"))


def test_full_loading_code_on_tiny_saved_config(tmp_path, toy):
    """The full loader runs end to end on a tiny checkpoint saved in diffusers format."""
    toy.transformer.save_pretrained(tmp_path / "transformer")
    toy.vae.save_pretrained(tmp_path / "vae")
    loaded = bb.load_full(str(tmp_path), torch_dtype=torch.float32)
    x, refs = make_tokens()
    c = coords_for(toy)
    a = forward(toy, x, refs, c)
    b = forward(bb.Backbone(loaded.transformer, loaded.vae, toy.text_encoder), x, refs, c)
    assert torch.equal(a, b)


def test_save_load_toy_roundtrip(tmp_path, toy):
    TW.save_toy(toy, tmp_path / "toy")
    assert (tmp_path / "toy" / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = TW.load_toy(tmp_path / "toy")
    x, refs = make_tokens()
    c = coords_for(toy)
    assert torch.equal(forward(toy, x, refs, c), forward(loaded, x, refs, c))
    assert loaded.trained and loaded.extra["reference_prep"] == "whole"  # no manifest: whole images
    for cfg, prep in (({"face_cutout": True}, "cutout"), ({"face_crop": True}, "crop"), ({}, "whole")):
        (tmp_path / "toy" / "manifest.json").write_text(json.dumps({"train_config": cfg}))
        assert TW.load_toy(tmp_path / "toy").extra["reference_prep"] == prep


def test_forward_rejects_bad_timestep(toy):
    x, refs = make_tokens()
    with pytest.raises(ValueError, match="timestep"):
        bb.transformer_forward(
            toy.transformer,
            x,
            torch.zeros(2, 3, 128),
            torch.zeros(2, 5),
            torch.zeros(2),
            coords_for(toy)[:, :, : x.shape[1]],
        )
