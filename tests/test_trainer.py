"""The one trainer: a text-to-video base without references, a LoRA fine-tune of it, every tensor on one device."""

from __future__ import annotations

import ast
import inspect
import json

import pytest
import torch

from stdrc_lib.core.losses import flow_matching_loss
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.train import ToyReferences, ToyTrainConfig, build_cache
from stdrc_lib.train import checkpoint as C
from stdrc_lib.train import trainer as T
from stdrc_lib.train.schedule import warmup_cosine


@pytest.fixture(scope="module")
def toy_cache():
    return build_cache(TW.build_toy(seed=0, num_layers=1).vae, 8, progress=False)


def _cfg(**kw):
    return T.TrainConfig(**{"steps": 3, "batch": 4, "warmup": 1, "sample_every": 0, "log_every": 1, **kw})


def _token_counts(transformer) -> list[int]:
    """Record the number of tokens of every forward of ``transformer``."""
    seen = []
    transformer.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["hidden_states"].shape[1]), with_kwargs=True)
    return seen


def test_the_training_loop_is_short():
    """The whole of :func:`train`, docstring aside, stays under 80 lines: a reader sees the loop at once."""
    src = inspect.getsource(T.train)
    fn = ast.parse(src).body[0]
    body = fn.body[1:] if ast.get_docstring(fn) else fn.body
    assert body[-1].end_lineno - body[0].lineno + 1 < 80


def test_trains_a_base_without_a_reference_then_fine_tunes_it_with_lora(toy_cache, tmp_path):
    # 1. a text-to-video base: the cache has no references, so no reference token ever enters the model
    base = TW.build_toy(seed=0, num_layers=1)
    t2v = T.ClipCache(toy_cache.latents, toy_cache.prompts)
    seen = _token_counts(base.transformer)
    before = {k: v.clone() for k, v in base.transformer.state_dict().items()}
    log = T.train(base, t2v, _cfg(), progress=False)
    n_video = 5 * 8 * 8
    assert seen == [n_video] * 3
    assert all(torch.isfinite(torch.tensor(log["losses"]))) and len(log["losses"]) == 3
    moved = [k for k, v in base.transformer.state_dict().items() if not torch.equal(v, before[k])]
    assert moved, "the base did not train"
    TW.save_toy(base, tmp_path / "base")

    # 2. ST-DRC as a LoRA fine-tune of that saved base, with references
    tuned = TW.load_toy(tmp_path / "base")
    frozen = {k: v.clone() for k, v in tuned.transformer.state_dict().items()}
    assert all(torch.equal(frozen[k], base.transformer.state_dict()[k]) for k in frozen)
    seen = _token_counts(tuned.transformer)
    log = T.train(tuned, toy_cache, _cfg(lora_rank=4, train_text_encoder=False), progress=False)
    assert seen == [n_video + 8 * 8] * 3  # video tokens and one 8×8 reference
    after = tuned.transformer.state_dict()
    base_after = {k.replace(".base_layer", ""): v for k, v in after.items() if "lora_" not in k}
    assert all(torch.equal(frozen[k], base_after[k]) for k in frozen)  # the base weights did not move
    assert any(after[k].abs().sum() > 0 for k in after if "lora_B" in k)  # the adapter did
    assert not any(p.requires_grad for p in tuned.text_encoder.parameters())


def test_every_tensor_of_a_step_goes_to_the_models_device(toy_cache):
    """On the ``meta`` device any CPU tensor that reaches the forward raises, so this fails on a device mismatch
    the way a GPU would, without one."""
    b = TW.build_toy(seed=0, num_layers=1)
    cfg = ToyTrainConfig(steps=1, batch=2, warmup=1, n_clips=8, face_loss_weight=2.0, p_ref=0.5)
    T._trainable(b, cfg, torch.device("meta"))
    assert {p.device.type for m in (b.transformer, b.vae, b.text_encoder) for p in m.parameters()} == {"meta"}
    g = torch.Generator().manual_seed(0)
    batch = T.draw_batch(toy_cache, cfg, ToyReferences(cfg), g, slice(0, 2), torch.device("meta"), 4)
    loss, fm, l_id = T.batch_loss(b, batch, cfg, g=g)
    assert loss.device.type == "meta" and loss.shape == () and l_id is None


def test_a_cpu_tensor_left_behind_is_caught(toy_cache):
    b = TW.build_toy(seed=0, num_layers=1)
    cfg = ToyTrainConfig(steps=1, batch=2, warmup=1, n_clips=8)
    T._trainable(b, cfg, torch.device("meta"))
    batch = T.draw_batch(toy_cache, cfg, ToyReferences(cfg), torch.Generator(), slice(0, 2), torch.device("meta"), 4)
    batch.noise = batch.noise.new_zeros(batch.noise.shape, device="cpu")  # what the old trainer did
    with pytest.raises((RuntimeError, NotImplementedError)):
        T.batch_loss(b, batch, cfg)


def test_flow_matching_without_reference_equals_a_fully_dropped_reference(toy_cache):
    """No reference at all and a reference masked out on every row are the same model input."""
    b = TW.build_toy(seed=0, num_layers=1)
    x0 = toy_cache.latents[:2]
    g = torch.Generator().manual_seed(0)
    noise, sigma = torch.randn(x0.shape, generator=g), torch.tensor([0.3, 0.8])
    keep, drop = torch.ones(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    pos = T.P.PositionConfig()
    with torch.no_grad():
        none, _ = flow_matching_loss(b, x0, None, toy_cache.prompts[:2], keep, keep, sigma, noise, pos)
        dropped, _ = flow_matching_loss(b, x0, toy_cache.refs[:2], toy_cache.prompts[:2], keep, drop, sigma, noise, pos)
    assert torch.allclose(none, dropped, rtol=1e-4, atol=1e-6)


def test_one_schedule_warms_up_and_decays_to_its_floor():
    f = warmup_cosine(100, warmup=10, floor=0.1)
    assert f(0) == pytest.approx(0.1 * 1.0, abs=0.01) and f(9) == pytest.approx(0.98, abs=0.01)
    assert f(100) == pytest.approx(0.1) and f(50) == pytest.approx(0.55, abs=0.03)
    assert warmup_cosine(10)(0) == 1.0
    with pytest.raises(ValueError, match="`warmup`"):
        warmup_cosine(10, warmup=-1)


def test_a_shifted_logit_normal_trains_more_high_noise_rows():
    plain = T.sample_sigma(4000, torch.Generator().manual_seed(0))
    shifted = T.sample_sigma(4000, torch.Generator().manual_seed(0), mean=2.0)
    assert abs(plain.median().item() - 0.5) < 0.03 and abs(shifted.median().item() - 0.881) < 0.02  # sigmoid(2)
    assert (shifted > 0.9).float().mean() > 5 * (plain > 0.9).float().mean()
    with pytest.raises(ValueError, match="`sigma_mean`"):
        T.TrainConfig(sigma_mean=9.0)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="`batch`"):
        T.TrainConfig(batch=0)
    with pytest.raises(ValueError, match="`lora_rank`"):
        T.TrainConfig(lora_rank=-1)
    with pytest.raises(ValueError, match="`face_crop` and `face_cutout`"):
        ToyTrainConfig(face_crop=True, face_cutout=True)
    with pytest.raises(ValueError, match="needs references"):
        T.train(TW.build_toy(seed=0, num_layers=1), T.ClipCache(torch.zeros(2, 16, 1, 2, 2), ["a", "b"]),
                _cfg(lambda_id=1.0), embedder=type("E", (), {"differentiable": True})(), progress=False)  # fmt: skip


# ------------------------------------------------------------------ memory tiers: 8-bit optimizer, quantized base
def test_a_lora_on_an_int8_base_with_an_8bit_optimizer_trains_and_resumes_bitwise(toy_cache, tmp_path):
    """The two memory tiers together on the toy model: the frozen base keeps its linear weights in int8, the
    adapter trains in full precision with 8-bit AdamW moments, and a run stopped after its step-2 checkpoint and
    resumed ends with bitwise the weights of an uninterrupted one (the 8-bit moments are checkpointed exactly)."""
    pytest.importorskip("torchao")
    cache = T.ClipCache(toy_cache.latents, toy_cache.prompts)
    cfg = _cfg(steps=4, lora_rank=4, optimizer="adamw8bit", quantize_base="int8", ckpt_every=2)

    def run(folder, on_sample=None):
        b = TW.build_toy(seed=0, num_layers=1)
        c = T.TrainConfig(**{**cfg.__dict__, "sample_every": 3 if on_sample else 0})
        T.train(b, cache, c, ckpt_dir=folder, progress=False, on_sample=on_sample)
        return b

    whole = run(tmp_path / "a")
    layer = whole.transformer.transformer_blocks[0].attn1.to_q
    assert "Int8" in type(layer.base_layer.weight).__name__ + type(layer.base_layer.weight.data).__name__
    assert layer.lora_A["default"].weight.dtype == torch.float32

    class Stop(Exception):
        pass

    def stop(step, backbone):
        raise Stop

    with pytest.raises(Stop):
        run(tmp_path / "b", on_sample=stop)  # stops in step 3, after the step-2 checkpoint
    resumed = run(tmp_path / "b")
    lora = lambda b: {k: v for k, v in b.transformer.state_dict().items() if "lora_" in k}  # noqa: E731
    a, r = lora(whole), lora(resumed)
    assert a and all(torch.equal(a[k], r[k]) for k in a)


def test_memory_tiers_are_checked_by_name():
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        _cfg(optimizer="lion")
    with pytest.raises(ValueError, match="`quantize_base` must be one of"):
        _cfg(quantize_base="int4", lora_rank=4)
    with pytest.raises(ValueError, match="needs a LoRA"):
        _cfg(quantize_base="int8")


def test_memory_tier_helpers_name_their_arguments():
    from stdrc_lib.train.lowmem import make_optimizer, quantize_frozen

    with pytest.raises(ValueError, match="`quantize` must be one of"):
        quantize_frozen(torch.nn.Linear(2, 2), "int4")
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        make_optimizer([torch.nn.Parameter(torch.zeros(2))], "sgd")
    lin = torch.nn.Linear(2, 2)
    assert quantize_frozen(lin, "none") is lin and lin.weight.requires_grad  # "none" leaves it as it is


def test_a_resumed_run_reports_the_training_time_of_every_run(toy_cache, tmp_path):
    """The time a model took counts the runs before a resume (carried in the checkpoints), not only the last."""
    cache = T.ClipCache(toy_cache.latents, toy_cache.prompts)

    class Stop(Exception):
        pass

    def stop(step, backbone):
        raise Stop

    cfg = _cfg(steps=4, ckpt_every=2, sample_every=3)
    with pytest.raises(Stop):
        T.train(TW.build_toy(seed=0, num_layers=1), cache, cfg, ckpt_dir=tmp_path, progress=False, on_sample=stop)
    first = json.loads((C.latest_checkpoint(tmp_path) / "state.json").read_text())["extra"]["seconds"]
    assert first > 0
    log = T.train(TW.build_toy(seed=0, num_layers=1), cache, _cfg(steps=4, ckpt_every=2), ckpt_dir=tmp_path,
                  progress=False)  # fmt: skip
    assert log["resumed_at"] == 2
    assert log["train_minutes"] == pytest.approx(first / 60 + log["run_minutes"])
