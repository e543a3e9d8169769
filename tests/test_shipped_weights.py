"""Checks of the toy weights shipped in data/toy: the base model and the ST-DRC adapter (skipped when absent)."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from stdrc_lib.toy import weights as TW

DATA = Path(__file__).resolve().parents[1] / "data"
FOLDERS = {"base": DATA / "toy" / "base", "adapter": DATA / "toy" / "stdrc"}
pytestmark = pytest.mark.skipif(
    not all((f / "manifest.json").is_file() for f in FOLDERS.values()), reason="no shipped toy weights"
)


@pytest.mark.parametrize("part", sorted(FOLDERS))
def test_manifest_hashes_match(part):
    folder = FOLDERS[part]
    m = json.loads((folder / "manifest.json").read_text())
    assert m["files"] and m["command"] and m["revision"] and "seed" in (m.get("train_config") or m)
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.safetensors"))
    assert sorted(m["files"]) == on_disk
    for rel, info in m["files"].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == info["sha256"], rel


def test_shipped_files_stay_under_40_mb():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total <= 40 * 2**20, f"data/ is {total / 2**20:.1f} MB > 40 MB"


def test_the_adapter_names_the_shipped_base():
    m = json.loads((FOLDERS["adapter"] / "manifest.json").read_text())
    base = json.loads((FOLDERS["base"] / "manifest.json").read_text())
    assert {k: v["sha256"] for k, v in base["files"].items()} == m["base_sha256"]
    assert m["scheme"] == "tass" and m["look"] == base["look"] == "bold"


def test_toy_backbone_is_the_base_with_the_adapter():
    b = TW.toy_backbone()
    assert b.trained and b.source == str(TW.BASE_DIR) and b.extra["adapter"] == str(TW.ADAPTER_DIR)
    assert b.transformer.config.num_layers == TW.BASE_TRANSFORMER_CONFIG["num_layers"]
    assert any("lora_" in n for n, _ in b.transformer.named_parameters()) and b.scheme == "tass"
    assert all(p.dtype == torch.float32 for p in b.transformer.parameters())
    base = TW.toy_backbone(adapter=False)
    assert not any("lora_" in n for n, _ in base.transformer.named_parameters())


@pytest.mark.parametrize("name", ["readout", "scorer"])
def test_both_readouts_read_clean_renders(name):
    """The readouts of the bold world read every identity attribute of clean held-out renders (target 0.95 per
    attribute, measured on 300 clips in the base's manifest; here 40 clips, 120 frames). Hair colour is scored
    where it is drawn: a bald person without a beard shows none."""
    from stdrc_lib.toy.readout import Readout, make_frames
    from stdrc_lib.toy.world import IDENTITY_ATTRS

    r = Readout.load(FOLDERS["base"] / name)
    x, ident, _, _ = make_frames("eval", 40, seed=5, look="bold")
    p = r.predict(x)
    names = list(IDENTITY_ATTRS)
    shown = (ident[:, names.index("hair_style")] != IDENTITY_ATTRS["hair_style"].index("bald")) | (
        ident[:, names.index("beard")] == IDENTITY_ATTRS["beard"].index("yes")
    )
    acc = {}
    for i, k in enumerate(names):
        rows = shown if k == "hair_colour" else torch.ones_like(shown)
        acc[k] = float((p[k][rows] == ident[rows, i]).float().mean())
    assert all(v >= 0.9 for v in acc.values()), acc
