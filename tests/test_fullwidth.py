"""The LTX-2.3 path at full width on CPU: a smoke checkpoint with LTX-2.3's classes and widths (few layers, random
weights; :mod:`stdrc_lib.fullwidth`) saved in diffusers' layout, loaded by ``STDRCPipeline.from_pretrained`` and run
through every ST-DRC part. ``python bench/fullwidth_smoke.py`` times the same steps and measures peak memory."""

import gc

import numpy as np
import pytest
import torch

from stdrc_lib.core import positions as P
from stdrc_lib.core.attention import capture_attention
from stdrc_lib.fullwidth import build_smoke_pipeline, build_tokenizer
from stdrc_lib.pipeline import STDRCPipeline

pytestmark = pytest.mark.slow  # about 1.6 billion parameters: minutes on 2 cores, 7–10 GB of memory

SIZE = dict(num_frames=9, height=64, width=64)  # LTX-2.3's VAE: 2 latent frames of 2×2
REF = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ltx23_smoke")
    pipe = build_smoke_pipeline(layers=1, dtype=torch.bfloat16)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    gc.collect()
    return folder


@pytest.fixture(scope="module")
def pipe32(saved):
    return STDRCPipeline.from_pretrained(saved, torch_dtype=torch.float32)


def _run(pipe, **kw):
    args = dict(reference_image=REF, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                output_type="np", progress=False, **SIZE)  # fmt: skip
    return pipe("a person smiling in warm light", **{**args, **kw}).frames


def test_the_checkpoint_has_ltx23_widths(pipe32):
    t, c = pipe32.transformer.config, pipe32.connectors.config
    assert t.num_attention_heads * t.attention_head_dim == 4096 and t.rope_type == "split" and t.gated_attn
    assert t.caption_channels == 3840 and c.video_hidden_dim == 4096 and c.audio_hidden_dim == 2048
    assert pipe32.vae.config.latent_channels == 128 and pipe32.vae_spatial_factor == 32
    assert pipe32.vae_temporal_factor == 8 and type(pipe32.text_encoder).__name__ == "Gemma3ForConditionalGeneration"
    assert pipe32.text_encoder.config.text_config.hidden_size == 3840
    assert {p.dtype for p in pipe32.transformer.parameters()} == {torch.float32}


def test_generates_in_fp32_and_bf16(saved, pipe32):
    a = _run(pipe32)
    assert a.shape == (1, 9, 64, 64, 3) and np.isfinite(a).all()
    bf = STDRCPipeline.from_pretrained(saved, torch_dtype=torch.bfloat16)
    assert {p.dtype for p in bf.transformer.parameters()} == {torch.bfloat16}
    b = _run(bf)
    assert b.shape == a.shape and np.isfinite(b).all()
    assert np.abs(a - b).mean() < 0.1  # the same weights: bf16 rounding, not another model
    del bf
    gc.collect()


def test_the_transformer_gets_tass_coordinates(pipe32, monkeypatch):
    """The pipeline hands the transformer the paper's TASS positions at LTX-2.3's scale factors (×8 in time,
    ×32 in space): the reference at latent frame F, shifted by one video height and width."""
    seen = []
    real = pipe32.transformer.forward

    def spy(*a, **kw):
        seen.append(kw["video_coords"])
        return real(*a, **kw)

    monkeypatch.setattr(pipe32.transformer, "forward", spy)
    _run(pipe32, num_inference_steps=1, position_scheme="tass")
    coords = seen[0]
    f, h, w = 2, 2, 2
    n_v = f * h * w
    rope = pipe32.transformer.rope
    later = rope.prepare_video_coords(1, f + 1, h, w, "cpu", fps=P.PositionConfig.fps)[:, :, n_v:]
    ref = coords[:1, :, n_v:].to(later.dtype)
    assert torch.equal(ref[:, 0], later[:, 0])
    assert torch.equal(ref[:, 1], later[:, 1] + h * 32) and torch.equal(ref[:, 2], later[:, 2] + w * 32)


def test_three_stream_guidance_and_schemes_change_the_clip(pipe32):
    base = _run(pipe32, reference_guidance_scale=1.0, text_guidance_scale=1.0)
    assert not np.array_equal(base, _run(pipe32, reference_guidance_scale=3.0, text_guidance_scale=1.0))
    assert not np.array_equal(base, _run(pipe32, reference_guidance_scale=1.0, text_guidance_scale=3.0))
    assert not np.array_equal(base, _run(pipe32, reference_guidance_scale=1.0, text_guidance_scale=1.0,
                                         position_scheme="shared"))  # fmt: skip


def test_reference_kv_cache_is_exact_at_full_width(pipe32):
    cached = _run(pipe32, isolated_reference=True, cache_reference=True)
    again = _run(pipe32, isolated_reference=True, cache_reference=False)
    np.testing.assert_array_equal(cached, again)


def test_attention_capture_at_full_width(pipe32):
    with capture_attention(pipe32.transformer, n_video=8) as store:
        _run(pipe32, num_inference_steps=1)
    m = store.maps[0]
    assert m.shape[-2:] == (8, 4)  # video queries × reference keys (2×2 reference latent)
    assert torch.isfinite(m).all() and (m >= 0).all() and (m.sum(-1) <= 1 + 1e-4).all()


def test_a_lora_saved_by_the_trainer_loads_at_full_width(saved, pipe32, tmp_path):
    from stdrc_lib.train.lora import add_lora, save_lora

    bf = STDRCPipeline.from_pretrained(saved, torch_dtype=torch.bfloat16)
    before = _run(bf, num_inference_steps=1)
    add_lora(bf.transformer, rank=4)
    with torch.no_grad():
        for n, p in bf.transformer.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    save_lora(bf.transformer, tmp_path / "lora")
    del bf
    gc.collect()
    fresh = STDRCPipeline.from_pretrained(saved, torch_dtype=torch.bfloat16)
    fresh.load_lora_weights(str(tmp_path / "lora"))
    assert any("lora_" in n for n, _ in fresh.transformer.named_parameters())
    assert not np.array_equal(before, _run(fresh, num_inference_steps=1))


def test_cpu_offload_needs_an_accelerator_and_says_so(pipe32):
    """diffusers' model CPU offload moves each part to an accelerator in turn; on a machine without one it
    refuses. What it would save is in docs/GPU.md's table (the meta-device estimate)."""
    if torch.cuda.is_available():
        pytest.skip("an accelerator is present: the GPU run covers offload")
    with pytest.raises((RuntimeError, ValueError), match=r"(?i)cuda|accelerator|device"):
        pipe32.enable_model_cpu_offload()


def test_the_tokenizer_is_a_real_gemma_tokenizer_built_offline():
    from transformers import GemmaTokenizerFast

    tok = build_tokenizer()
    assert isinstance(tok, GemmaTokenizerFast) and tok.padding_side == "left"
    ids = tok(["a person smiling"], padding="max_length", max_length=16).input_ids[0]
    first = ids.index(tok.bos_token_id)  # left padding, then <bos>, then the text, as Gemma's tokenizer gives it
    assert set(ids[:first]) == {tok.pad_token_id} and first > 0
    assert tok.decode(ids, skip_special_tokens=True).strip() == "a person smiling"


@pytest.mark.parametrize("mode", ["int8", "fp8"])
def test_generates_with_a_weight_quantized_transformer(saved, mode):
    pytest.importorskip("torchao")
    from stdrc_lib.train.lowmem import quantize_frozen

    pipe = STDRCPipeline.from_pretrained(saved, torch_dtype=torch.bfloat16)
    plain = _run(pipe, num_inference_steps=1)
    quantize_frozen(pipe.transformer, mode)
    w = pipe.transformer.transformer_blocks[0].attn1.to_q.weight
    assert type(w).__name__ != "Parameter" or type(w.data).__name__ != "Tensor"  # stored in 8 bits
    out = _run(pipe, num_inference_steps=1)
    assert out.shape == plain.shape and np.isfinite(out).all()
    assert np.abs(out - plain).mean() < 0.1  # the same model, rounded to 8 bits
    del pipe
    gc.collect()


def test_a_lora_trains_on_the_full_width_base_in_the_smallest_tier(saved, tmp_path):
    """`stdrc train --preset full` at LTX-2.3's widths with every memory saver on: the base in bfloat16 with its
    linear weights in int8, gradient checkpointing, cached prompt embeddings (the text encoder leaves memory before
    training), and 8-bit AdamW moments for the adapter."""
    pytest.importorskip("torchao")
    from stdrc_lib.train.finetune import finetune
    from stdrc_lib.train.trainer import TrainConfig
    from stdrc_lib.viz import _mediapy

    data = tmp_path / "videos"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        _mediapy().write_video(data / f"clip{i}.mp4", (rng.random((9, 64, 64, 3)) * 255).astype(np.uint8), fps=8)
        (data / f"clip{i}.txt").write_text("a person smiling in warm light")
    cfg = TrainConfig(steps=2, batch=1, warmup=1, lora_rank=4, sample_every=0, ckpt_every=0,
                      gradient_checkpointing=True, optimizer="adamw8bit", quantize_base="int8")  # fmt: skip
    info = finetune(saved, data, tmp_path / "lora", cfg, 9, 64, 64, torch.bfloat16, detect_faces=False,
                    progress=False)  # fmt: skip
    assert info["clips"] == 2 and np.isfinite(info["final_loss"])
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()
    gc.collect()
