"""The default path: the shipped base with the shipped ST-DRC adapter, in every command, with nothing of the
renderer's ground truth at inference. Run on a tiny base and adapter laid out as the shipped ones."""

import json

import numpy as np
import pytest
import torch

from stdrc_lib.cli import main
from stdrc_lib.outputs import weight_hashes
from stdrc_lib.toy import weights as TW

pytestmark = pytest.mark.slow  # builds a tiny base and adapter once (about a minute)


def test_toy_backbone_is_the_base_with_the_adapter(use_tiny_shipped):
    b = TW.toy_backbone()
    assert b.trained and b.source == str(TW.BASE_DIR) and b.extra["adapter"] == str(TW.ADAPTER_DIR)
    assert b.scheme == "tass" and b.extra["look"] == "bold"
    assert any("lora_" in n for n, _ in b.transformer.named_parameters())
    base = TW.toy_backbone(adapter=False)
    assert base.extra.get("adapter") is None
    assert not any("lora_" in n for n, _ in base.transformer.named_parameters())


def test_missing_weights_say_what_to_get_and_where(use_tiny_shipped, tmp_path, monkeypatch):
    monkeypatch.setattr(TW, "ADAPTER_DIR", tmp_path / "stdrc")
    with pytest.raises(FileNotFoundError, match=r"not in .*stdrc.*STDRC_DATA"):
        TW.toy_backbone()
    assert TW.toy_backbone(adapter=False).trained  # the base alone is still there
    monkeypatch.setattr(TW, "BASE_DIR", tmp_path / "base")
    with pytest.raises(FileNotFoundError, match=r"not in .*base"):
        TW.toy_backbone(adapter=False)


def test_demo_records_base_and_adapter(use_tiny_shipped, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "ST-DRC adapter from" in out and "scheme=tass" in out
    rec = json.loads((tmp_path / "demo.json").read_text())
    assert rec["weights"] == str(TW.BASE_DIR) and rec["adapter"] == str(TW.ADAPTER_DIR)
    assert rec["adapter_sha256"] == {TW.LORA_FILE: rec["adapter_sha256"][TW.LORA_FILE]}
    assert "ref_light" not in rec["arguments"]  # no re-lighting anywhere in the demo


def test_eval_scores_the_default_model_with_the_scorer_and_whole_references(use_tiny_shipped, tmp_path, capsys):
    args = ["eval", "--n", "2", "--batch", "2", "--steps", "1", "--rows", "model", "no_reference", "other_person"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "scorer" in out and "upper bound" not in out
    d = json.loads((tmp_path / "a" / "eval.json").read_text())
    assert d["ref_light"] == "as-is" and d["provenance"]["adapter"] == str(TW.ADAPTER_DIR)
    assert set(d["paired"]) == {"model_minus_no_reference", "other_person_minus_no_reference"}
    # the base alone: no adapter recorded, other numbers
    assert main([*args, "--out", str(tmp_path / "b"), "--adapter", "none"]) == 0
    assert "adapter" not in json.loads((tmp_path / "b" / "eval.json").read_text())["provenance"]
    # the renderer's ground truth only when asked, and then labelled
    assert main([*args[:-2], "--out", str(tmp_path / "c"), "--ref-light", "prompt", "--face-cutout"]) == 0
    assert "upper bound" in capsys.readouterr().out


def test_eval_refuses_a_folder_without_an_adapter_before_loading(use_tiny_shipped, tmp_path, capsys):
    assert main(["eval", "--n", "2", "--adapter", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "`--adapter`" in err and str(tmp_path) in err and "--adapter none" in err


def test_train_fine_tunes_the_shipped_base_into_an_adapter_that_eval_loads(use_tiny_shipped, tmp_path, capsys):
    out = tmp_path / "adapter"
    args = ["train", "--steps", "2", "--batch", "2", "--clips", "4", "--runs", str(tmp_path / "runs")]
    assert main([*args, "--out", str(out)]) == 0
    assert "rank-16 LoRA" in capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "adapter" and m["train_config"]["lora_rank"] == 16 and m["train_config"]["p_cross_ref"] == 0.5
    assert m["base_sha256"] == weight_hashes(TW.BASE_DIR)
    full = tmp_path / "full"
    assert main([*args, "--out", str(full), "--lora-rank", "0", "--runs", str(tmp_path / "runs_full")]) == 0
    assert (full / "transformer").is_dir() and not (full / TW.LORA_FILE).exists()
    ev = ["eval", "--n", "2", "--batch", "2", "--steps", "1", "--rows", "model"]
    assert main([*ev, "--weights", str(TW.BASE_DIR), "--adapter", str(full), "--out", str(tmp_path / "e")]) == 0
    assert main([*ev, "--weights", str(TW.BASE_DIR), "--adapter", str(out), "--out", str(tmp_path / "f")]) == 0


def test_a_full_fine_tune_loads_in_place_of_the_transformer(use_tiny_shipped, tmp_path):
    from stdrc_lib.toy import adapter as AD

    cfg = AD.AdapterConfig(steps=1, batch=2, warmup=1, n_clips=4, lora_rank=0, lambda_id=0.0)
    AD.train_adapter(TW.BASE_DIR, cfg, tmp_path / "full", tmp_path / "runs", progress=False)
    base, tuned = TW.load_toy(TW.BASE_DIR), AD.load_adapter(TW.load_toy(TW.BASE_DIR), tmp_path / "full")
    changed = [
        k for k, v in tuned.transformer.state_dict().items() if not torch.equal(v, base.transformer.state_dict()[k])
    ]
    assert changed and tuned.extra["adapter"] == str(tmp_path / "full")
    assert np.isfinite(sum(v.float().sum().item() for v in tuned.transformer.state_dict().values()))
