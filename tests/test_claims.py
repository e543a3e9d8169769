"""The claims' decision rules (docs/ABLATION.md) on synthetic per-clip scores whose answer is known."""

import numpy as np
import pytest

from stdrc_lib.toy import claims as CL

N = 256


def _scores(effects: dict, noise=0.05, seeds=(0, 1, 2), seed_spread=0.0):
    """``scores[variant][seed]`` per-clip dicts: every metric 0.5 plus the variant's effect, plus clip noise shared
    by all variants (the same clips) and a little of the variant's own."""
    rng = np.random.default_rng(0)
    clip = {
        m: rng.normal(0, noise, N) for m in ("identity_accuracy", "text_adherence", "copy_layout", "copy_background")
    }
    out = {}
    for v, eff in effects.items():
        out[v] = {}
        for s in seeds:
            shift = rng.normal(0, seed_spread)
            out[v][s] = {m: list(0.5 + clip[m] + eff.get(m, 0.0) + shift + rng.normal(0, 0.01, N)) for m in clip}
    return out


def test_t_quantile_matches_the_tables():
    assert CL.t_quantile(0.975, 2) == pytest.approx(4.303, abs=2e-3)
    assert CL.t_quantile(0.975, 10) == pytest.approx(2.228, abs=2e-3)
    assert CL.t_quantile(0.025, 2) == pytest.approx(-4.303, abs=2e-3)


def test_a_real_reduction_holds_a_tiny_one_is_refuted_and_a_noisy_one_is_not_shown():
    big = _scores({"tass": {"copy_layout": -0.10}, "shared": {}})
    rows = CL.evaluate_claims(big, claims=CL.PRIMARY[:1])
    assert rows[0]["verdict"] == "holds" and rows[0]["mean"] == pytest.approx(-0.10, abs=0.01)
    tiny = _scores({"tass": {"copy_layout": -0.005}, "shared": {}})
    assert CL.evaluate_claims(tiny, claims=CL.PRIMARY[:1])[0]["verdict"] == "refuted"  # inside the 0.02 margin
    wrong = _scores({"tass": {"copy_layout": +0.10}, "shared": {}})
    assert CL.evaluate_claims(wrong, claims=CL.PRIMARY[:1])[0]["verdict"] == "refuted"
    noisy = _scores({"tass": {"copy_layout": -0.03}, "shared": {}}, seed_spread=0.05)  # seeds disagree: t is wide
    assert CL.evaluate_claims(noisy, claims=CL.PRIMARY[:1])[0]["verdict"] == "not shown"


def test_a_reduction_that_costs_identity_does_not_hold():
    costly = _scores({"tass": {"copy_layout": -0.10, "identity_accuracy": -0.10}, "shared": {}})
    row = CL.evaluate_claims(costly, claims=CL.PRIMARY[:1])[0]
    assert row["condition"]["lo"] < -0.03 and row["verdict"] == "not shown"


def test_holm_levels_and_the_three_primary_claims():
    assert CL.holm_levels([0.04, 0.001, 0.02]) == pytest.approx([0.95, 1 - 0.05 / 3, 0.975])
    scores = _scores({"tass": {"copy_layout": -0.1, "copy_background": -0.1, "identity_accuracy": 0.1},
                      "shared": {}, "tass_noaug": {}, "tass_noid": {}})  # fmt: skip
    rows = CL.evaluate_claims(scores)
    levels = sorted(r["level"] for r in rows)
    assert [r["verdict"] for r in rows] == ["holds"] * 3 and levels[0] == pytest.approx(0.95) and levels[-1] > 0.98
    assert "P2" in CL.claims_table(rows) and "**holds**" in CL.claims_table(rows)


def test_contrasts_must_be_paired():
    s = _scores({"tass": {}, "shared": {}}, seeds=(0,))
    s["shared"][0]["copy_layout"] = s["shared"][0]["copy_layout"][:10]
    with pytest.raises(ValueError, match="paired"):
        CL.paired_differences(s, "tass", "shared", "copy_layout")
    with pytest.raises(ValueError, match="no seed"):
        CL.paired_differences(s, "tass", "nope", "copy_layout")
