"""The ablation report's claim checks: verdicts from (mean, CI) pairs, and which comparisons run."""

from __future__ import annotations

import pytest

from stdrc_lib.toy import ablation as AB


def _variant(scheme, ident, copy, ident_noref=0.38, cos=0.1, text=0.6):
    m = {"identity_accuracy": [ident, 0.03], "copy_paste": [copy, 0.05], "embedding_cosine": [cos, 0.05],
         "text_adherence": [text, 0.04], "temporal_consistency": [0.8, 0.02]}  # fmt: skip
    nr = {k: list(v) for k, v in m.items()}
    nr["identity_accuracy"] = [ident_noref, 0.03]
    return {"scheme": scheme, "augmentation": True, "identity_loss": True, "seed": 0,
            "results": {"model": m, "no_reference": nr}}  # fmt: skip


@pytest.mark.parametrize(
    "a, b, sign, verdict",
    [
        ((0.5, 0.03), (0.4, 0.03), +1, "holds"),
        ((0.41, 0.03), (0.4, 0.03), +1, "not shown"),
        ((0.3, 0.03), (0.4, 0.03), +1, "refuted"),
        ((0.3, 0.03), (0.4, 0.03), -1, "holds"),
        ((0.5, 0.03), (0.4, 0.03), -1, "refuted"),
        ((0.39, 0.03), (0.4, 0.03), 0, "holds (no loss beyond CI)"),
        ((0.3, 0.03), (0.4, 0.03), 0, "refuted"),
    ],
)
def test_compare_verdicts(a, b, sign, verdict):
    d, ci, v = AB.compare(a, b, sign)
    assert v == verdict
    assert d == pytest.approx(a[0] - b[0])
    assert ci == pytest.approx((a[1] ** 2 + b[1] ** 2) ** 0.5)


def test_compare_rejects_bad_sign():
    with pytest.raises(ValueError, match="`sign`"):
        AB.compare((0, 0), (0, 0), 2)


def test_claims_use_only_finished_variants_and_pair_seeds():
    variants = {
        "tass_s0": _variant("tass", 0.55, 0.10),
        "shared_s0": _variant("shared", 0.50, 0.40),
        "tass_s1": _variant("tass", 0.50, 0.12),  # shared_s1 not finished: no seed-1 row
        "tass_noid_s0": _variant("tass", 0.40, 0.10),
    }
    rows = AB.claims(variants)
    pairs = {(r["claim"], r["a"], r["b"]): r for r in rows}
    assert ("TASS reduces copy-paste vs shared", "tass_s0", "shared_s0") in pairs
    assert not any(r["a"] == "tass_s1" and r["b"] == "shared_s1" for r in rows)
    assert pairs[("TASS reduces copy-paste vs shared", "tass_s0", "shared_s0")]["verdict"] == "holds"
    assert pairs[("identity loss raises identity accuracy", "tass_s0", "tass_noid_s0")]["verdict"] == "holds"
    # every finished variant gets a "reference carries identity" row against its own no-reference row
    carried = [r for r in rows if r["claim"] == "reference carries identity"]
    assert sorted(r["a"] for r in carried) == sorted(variants)
    table = AB.claims_table(rows)
    assert table.count("\n") == len(rows) + 1


def test_claims_on_the_first_round_results():
    variants, _ = AB.load(AB.RESULTS / "v1_first_readout")
    rows = {(r["claim"], r["a"]): r for r in AB.claims(variants)}
    # the first round's strongest finding: without augmentation the tass model pastes its reference
    assert rows[("augmentation reduces copy-paste (tass)", "tass_s0")]["verdict"] == "holds"
    assert rows[("reference carries identity", "tass_s0")]["verdict"] == "not shown"


def test_plot_claims_draws_one_marker_per_row(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    variants, _ = AB.load(AB.RESULTS / "v1_first_readout")
    rows = AB.claims(variants)
    ax = AB.plot_claims(rows)
    assert len(ax.get_yticklabels()) == len(rows)
    paths = AB.plot(variants, None, folder=tmp_path)
    assert sorted(p.name for p in paths) == ["claims.png", "variants.png"]


def test_probe_claims_read_the_denoising_gain_at_sigma_0_9():
    v = _variant("tass", 0.4, 0.1)
    v["denoising"] = {"sigmas": [0.7, 0.9], "gain": {"evaluation reference": [[0.0, 0.01], [0.05, 0.02]],
                                                     "clip reference": [[0.0, 0.01], [0.0, 0.02]]}}  # fmt: skip
    rows = [r for r in AB.claims({"tass_s0": v}) if r["metric"] == "eval_ref_gain_0.9"]
    assert len(rows) == 1 and rows[0]["b"] == "zero"
    assert rows[0]["delta"] == pytest.approx(0.05) and rows[0]["verdict"] == "holds"
    assert "+0.050 ± 0.020" in AB.variant_table({"tass_s0": v})
    # a variant scored before the probe existed gets no probe row and a dash in the table
    assert not [r for r in AB.claims({"tass_s0": _variant("tass", 0.4, 0.1)}) if r["metric"] == "eval_ref_gain_0.9"]


def test_report_writes_tables_between_the_markers_of_ablation_md():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("ablation_report", root / "bench" / "ablation_report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc = (root / "docs" / "history" / "ABLATION_FIRST_MODEL.md").read_text()
    for name in ("variants", "claims"):
        out = mod.write_block(doc, name, "NEW TABLE")
        assert f"<!-- {name}:start -->\nNEW TABLE\n<!-- {name}:end -->" in out
        assert out.count("NEW TABLE") == 1
    with pytest.raises(SystemExit, match="markers"):
        mod.write_block("no markers here", "variants", "x")


def _grid(ref_mode: str) -> dict:
    cells = [
        {
            "order": o,
            "s_ref": r,
            "s_txt": t,
            "identity_accuracy": [0.4 + 0.01 * r, 0.03],
            "text_adherence": [0.5, 0.04],
            "copy_paste": [0.1, 0.02],
        }  # fmt: skip
        for o in ("ref_first", "text_first")
        for r in (1.0, 2.0)
        for t in (1.0, 3.0)
    ]
    return {"clips": 2, "steps": 1, "ref_mode": ref_mode, "cells": cells, "minutes": 0.1}


def test_grids_are_not_read_as_variants_and_each_gets_its_plot(tmp_path):
    import json

    (tmp_path / "tass_s0.json").write_text(json.dumps(_variant("tass", 0.4, 0.1)))
    (tmp_path / "guidance.json").write_text(json.dumps(_grid("eval")))
    (tmp_path / "guidance_clipref.json").write_text(json.dumps(_grid("clip")))
    variants, grid = AB.load(tmp_path)
    assert list(variants) == ["tass_s0"] and grid["ref_mode"] == "eval"
    grids = AB.load_grids(tmp_path)
    assert sorted(grids) == ["guidance", "guidance_clipref"]
    paths = AB.plot({}, grids, folder=tmp_path)
    assert sorted(p.name for p in paths) == ["guidance.png", "guidance_clipref.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    table = AB.grid_table(grids["guidance"])
    assert "| text_first | 2 | 0.420 / 0.420 |" in table  # identity 0.4 + 0.01 · s_ref, across s_txt
    assert "s_ref 1→2 moves identity by up to 1.0 points and text adherence by up to 0.0" in table


def test_seeds_pool_into_one_row_with_the_wider_interval():
    """Three seeds of the main pair give three per-seed rows and one pooled row; its interval is the wider of the
    evaluation noise and Student's t over the seed-to-seed spread, so inconsistent seeds cannot pass as a result."""
    consistent = {
        f"{k}_s{s}": _variant(k, 0.4, c + 0.01 * s) for s in range(3) for k, c in (("tass", 0.1), ("shared", 0.3))
    }
    rows = [r for r in AB.claims(consistent) if r["claim"].startswith("TASS reduces copy-paste vs shared")]
    assert [r["a"] for r in rows] == ["tass_s0", "tass_s1", "tass_s2", "tass_s*"]
    pooled = rows[-1]
    assert pooled["delta"] == pytest.approx(-0.2) and pooled["verdict"] == "holds"
    assert pooled["ci95"] == pytest.approx((3 * 2 * 0.05**2) ** 0.5 / 3)  # no spread: evaluation noise only
    noisy = dict(consistent, shared_s1=_variant("shared", 0.4, 0.05))  # one seed the other way round
    pooled = [r for r in AB.claims(noisy) if r["a"] == "tass_s*" and r["metric"] == "copy_paste"][0]
    assert pooled["verdict"] == "not shown" and pooled["ci95"] > 0.2
    with pytest.raises(ValueError, match="`pairs`"):
        AB.pool_seeds([((0.1, 0.01), (0.2, 0.01))])
