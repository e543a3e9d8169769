import pytest
import torch

from stdrc_lib.toy import metrics
from stdrc_lib.toy.evaluate import evaluate, format_table, save_results
from stdrc_lib.toy.readout import Readout, motion_from_boxes


def test_motion_from_boxes():
    t = torch.linspace(0, 1, 17)
    still = torch.stack([torch.full_like(t, 0.5), torch.full_like(t, 0.55), torch.full_like(t, 0.5)], -1)
    left, right, closer, away, nod = (still.clone() for _ in range(5))
    left[:, 0] -= 0.28 * t
    right[:, 0] += 0.28 * t
    closer[:, 2] += 0.22 * t
    away[:, 2] -= 0.22 * t
    nod[:, 1] += 0.05 * torch.sin(4 * torch.pi * t)
    assert motion_from_boxes(torch.stack([left, right, closer, away, nod])).tolist() == [0, 1, 2, 3, 4]


def test_mean_ci():
    r = metrics.mean_ci(torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert r["mean"] == 0.5 and r["n"] == 4 and abs(r["ci95"] - 1.96 * (1 / 3) ** 0.5 / 2) < 1e-9


def test_evaluate_runs_end_to_end(toy, tmp_path):
    """Random weights and an untrained readout: only the plumbing is checked, plus two exact facts."""
    torch.manual_seed(0)
    report = evaluate(toy, Readout().eval(), n=2, batch=2, steps=1, progress=False, keep_examples=1)
    res = report["results"]
    assert set(res) == {
        "model",
        "no_reference",
        "other_person",
        "ground_truth",
        "vae_reconstruction",
        "paste_reference",
    }
    for row in res.values():
        for v in row.values():
            assert 0.0 <= v["mean"] <= 1.0 or v is row["embedding_cosine"]
    # pasting the reference copies its background in every frame, by construction of the metric
    assert res["paste_reference"]["copy_background"]["mean"] == 1.0
    assert all("copy_layout" in row for row in res.values())  # the early-frame layout copy, scored on every row
    per = report["per_clip"]  # kept per clip, so paired tests can be redone from the file
    assert set(per) == set(res) and len(per["model"]["identity_accuracy"]) == report["n"]
    mean = sum(per["model"]["identity_accuracy"]) / report["n"]
    assert abs(mean - res["model"]["identity_accuracy"]["mean"]) < 1e-5 and "identity_skin" not in per["model"]
    assert res["paste_reference"]["temporal_consistency"]["mean"] == 1.0
    save_results(report, tmp_path)
    assert (tmp_path / "eval.json").is_file() and (tmp_path / "eval_examples.gif").is_file()
    assert "ground truth" in format_table(res)
    d = report["paired"]["model_minus_no_reference"]["identity_accuracy"]["mean"]
    acc = {r: res[r]["identity_accuracy"]["mean"] for r in ("model", "no_reference")}
    assert abs(d - (acc["model"] - acc["no_reference"])) < 1e-6
    assert "Paired" in (tmp_path / "eval.md").read_text()
    # identity accuracy is the mean of the per-attribute accuracies, row by row and for the paired difference
    by_attr = report["identity_by_attribute"]
    paired_rows = {"model_minus_no_reference", "other_person_minus_no_reference"}
    assert set(by_attr) == set(res) | paired_rows and len(by_attr["model"]) == 9
    for row, attrs in by_attr.items():
        total = (res[row] if row in res else report["paired"][row])["identity_accuracy"]["mean"]
        assert abs(sum(a["mean"] for a in attrs.values()) / 9 - total) < 1e-6, row
    assert "by attribute" in (tmp_path / "eval.md").read_text() and "identity_skin" not in res["model"]


def test_other_person_control_conditions_on_another_held_out_identity(toy, monkeypatch):
    """The control row sees the evaluation reference of another held-out person, on the same clips and noise, and is
    scored against both the clip's identity and the reference's."""
    import stdrc_lib.toy.evaluate as EV
    from stdrc_lib.toy.dataset import SynthFaces
    from stdrc_lib.toy.world import HELD_OUT_IDENTITIES, Identity

    item = SynthFaces("eval", 1, seed=0)[0]
    a, b = EV.other_person(item, 0, 0), EV.other_person(item, 0, 0)
    assert torch.equal(a["reference"], b["reference"])  # deterministic
    assert not torch.equal(a["identity"], item["identity"])
    assert Identity(*a["identity"].tolist()).index in set(HELD_OUT_IDENTITIES.tolist())
    seen = []
    real = EV.PL.generate
    monkeypatch.setattr(
        EV.PL,
        "generate",
        lambda *args, **kw: seen.append((args[2], kw["generator"].initial_seed())) or real(*args, **kw),
    )
    rep = evaluate(
        toy, Readout().eval(), n=2, batch=2, steps=1, progress=False, rows=("model", "no_reference", "other_person")
    )
    (model_refs, s_model), (_, s_none), (other_refs, s_other) = seen
    assert s_model == s_none == s_other  # the same noise in every row
    assert not any(torch.equal(torch.as_tensor(m), torch.as_tensor(o)) for m, o in zip(model_refs, other_refs))
    for row in ("model", "no_reference", "other_person"):
        assert "identity_accuracy_other" in rep["results"][row]
    assert "other_person_minus_no_reference" in rep["paired"]


def test_evaluate_ref_light_relights_only_the_model_reference(toy, monkeypatch):
    """``ref_light="prompt"`` hands each item's prompt light to ``match_light``, for the rows that see a reference:
    the model's and its other-person control, which is prepared the same way."""
    import stdrc_lib.toy.evaluate as EV

    seen, looks = [], []

    def spy(readout, px, light_to, look):
        seen.append(light_to.clone())
        looks.append(look)
        return px

    monkeypatch.setattr(EV, "match_light", spy)
    rep = evaluate(toy, Readout().eval(), n=3, batch=3, steps=1, progress=False, rows=("model",), ref_light="prompt")
    assert looks == [toy.extra.get("look", "classic")]  # the gains of the world the clips were drawn in
    from stdrc_lib.toy.dataset import SynthFaces

    ds = SynthFaces("eval", 3, seed=0)
    assert len(seen) == 1 and seen[0].tolist() == [int(ds[i]["prompt_attrs"][3]) for i in range(3)]
    assert rep["ref_light"] == "prompt"
    evaluate(toy, Readout().eval(), n=2, batch=2, steps=1, progress=False, rows=("ground_truth",), ref_light="prompt")
    assert len(seen) == 1
    rows = ("model", "other_person")
    evaluate(toy, Readout().eval(), n=3, batch=3, steps=1, progress=False, rows=rows, ref_light="prompt")
    assert len(seen) == 3 and seen[1].tolist() == seen[2].tolist() == seen[0].tolist()
    with pytest.raises(ValueError, match="`ref_light`"):
        evaluate(toy, Readout().eval(), n=2, ref_light="oracle")


def test_evaluate_rejects_bad_rows(toy):
    import pytest

    with pytest.raises(ValueError, match="rows"):
        evaluate(toy, Readout().eval(), n=2, rows=("model", "oracle"))
    with pytest.raises(ValueError, match="`n`"):
        evaluate(toy, Readout().eval(), n=1)


def test_denoising_identity_at_tiny_sigma_reads_the_truth(toy):
    """x̂₀ = x_σ − σ·v̂ → x₀ as σ → 0, whatever the weights: every condition reads like the VAE reconstruction,
    and the paired gains vanish. A wrong noise mix (x_σ = σ·x₀ + (1 − σ)·ε), or conditions that do not share
    clips, latents and noise, fail this."""
    import pytest

    from stdrc_lib.toy.evaluate import denoising_identity

    torch.manual_seed(0)
    readout = Readout().eval()
    rep = denoising_identity(toy, readout, n=4, sigmas=(1e-4, 0.5), batch=4)
    assert rep["sigmas"] == [1e-4, 0.5] and set(rep["gain"]) == {"clip reference", "evaluation reference"}
    for cond, rows in rep["accuracy"].items():
        assert abs(rows[0]["mean"] - rep["ceiling"]["mean"]) <= 0.03, cond
    for rows in rep["gain"].values():
        assert abs(rows[0]["mean"]) <= 0.03
    with pytest.raises(ValueError, match="`sigmas`"):
        denoising_identity(toy, readout, n=2, sigmas=(0.0,))
    with pytest.raises(ValueError, match="`n`"):
        denoising_identity(toy, readout, n=1)


@pytest.mark.parametrize("prep", ["face_crop", "face_cutout"])
def test_denoising_identity_with_face_crop_changes_only_the_conditioned_rows(toy, prep):
    """The crop (or cut-out) reaches the model (the with-reference rows change) and nothing else: the
    no-reference row and the VAE ceiling are the same clips, latents and noise either way."""
    from stdrc_lib.toy.evaluate import denoising_identity

    torch.manual_seed(0)
    readout = Readout().eval()
    a = denoising_identity(toy, readout, n=2, sigmas=(0.9,), batch=2)
    b = denoising_identity(toy, readout, n=2, sigmas=(0.9,), batch=2, **{prep: True})
    assert a["ceiling"] == b["ceiling"] and a["accuracy"]["no reference"] == b["accuracy"]["no reference"]


def test_model_references_whole_crop_and_cutout():
    from stdrc_lib.toy.dataset import SynthFaces
    from stdrc_lib.toy.evaluate import model_references

    items = [SynthFaces("eval", 2, seed=0)[i] for i in range(2)]
    whole = model_references(items)
    crop, cut = model_references(items, face_crop=True), model_references(items, face_cutout=True)
    assert torch.equal(whole, torch.stack([it["reference"] for it in items]))
    assert whole.shape == crop.shape == cut.shape == (2, 3, 64, 64)
    grey = cut.abs().amax(1) < 1e-4  # (B, H, W): where the scene was
    assert 0.2 < grey.float().mean() < 0.8 and crop.abs().amax(1).lt(1e-4).float().mean() < 0.05
    with pytest.raises(ValueError, match="choose one"):
        model_references(items, face_crop=True, face_cutout=True)


def _pick_guidance():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "bench" / "pick_guidance.py"
    spec = importlib.util.spec_from_file_location("pick_guidance", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sweep_file(path, s_ref, s_txt, gain, text=0.0, copy=0.0, text_model=0.9, seed=0):
    import json

    def cell(x):
        return {"mean": x, "ci95": 0.03, "n": 64}

    paired = {"identity_accuracy": cell(gain), "text_adherence": cell(text), "copy_paste": cell(copy)}
    d = {
        "guidance": {"s_ref": s_ref, "s_txt": s_txt},
        "n": 64,
        "seed": seed,
        "results": {"model": {"text_adherence": cell(text_model)}},
        "paired": {"model_minus_no_reference": paired},
    }
    path.write_text(json.dumps(d))
    return str(path)


def test_pick_guidance_s_ref_takes_the_smallest_within_tolerance_among_those_keeping_the_bounds(tmp_path, capsys):
    mod = _pick_guidance()
    rows = (
        (2, 0.10, 0.0, 0.0),
        (4, 0.18, 0.0, 0.0),
        (6, 0.195, -0.01, 0.0),
        (8, 0.20, 0.0, 0.0),
        (10, 0.30, -0.05, 0.0),
    )
    files = [_sweep_file(tmp_path / f"s{s}.json", s, 3, g, t, c) for s, g, t, c in rows]
    assert mod.main(["s_ref", *files]) == 0  # 10 loses text adherence: out; 6 is within 0.01 of 8
    assert "pick: s_ref = 6" in capsys.readouterr().out
    assert mod.main(["s_ref", *files, "--tol", "0"]) == 0
    assert "pick: s_ref = 8" in capsys.readouterr().out
    assert mod.main(["s_ref", *files, "--text-margin", "0.1", "--tol", "0"]) == 0
    assert "pick: s_ref = 10" in capsys.readouterr().out
    copying = [_sweep_file(tmp_path / f"c{s}.json", s, 3, 0.3, 0.0, 0.05) for s in (2, 4)]
    assert mod.main(["s_ref", *copying]) == 0
    assert "pick: s_ref = 2 (no value keeps" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="does not exist"):
        mod.main(["s_ref", str(tmp_path / "missing.json")])
    other_seed = _sweep_file(tmp_path / "seed1.json", 12, 3, 0.2, seed=1)
    with pytest.raises(SystemExit, match="same clips"):
        mod.main(["s_ref", *files, other_seed])


def test_pick_guidance_s_txt_takes_the_best_text_adherence_that_keeps_identity(tmp_path, capsys):
    mod = _pick_guidance()
    rows = ((1, 0.40, 0.70), (2, 0.39, 0.80), (3, 0.385, 0.805), (5, 0.30, 0.95))
    files = [_sweep_file(tmp_path / f"t{t}.json", 4, t, g, text_model=tm) for t, g, tm in rows]
    assert mod.main(["s_txt", *files]) == 0  # 5 loses identity; 2 and 3 tie on text: the smaller
    out = capsys.readouterr().out
    assert "pick: s_txt = 2" in out and "s_ref = 4" in out
    mixed = _sweep_file(tmp_path / "mixed.json", 6, 7, 0.4)
    with pytest.raises(SystemExit, match="differ in s_ref"):
        mod.main(["s_txt", *files, mixed])


def test_compare_evals_lines_up_attributes_of_two_runs(tmp_path, capsys):
    import importlib.util
    import json
    from pathlib import Path

    from stdrc_lib.toy.world import IDENTITY_ATTRS

    spec = importlib.util.spec_from_file_location("cmp", Path(__file__).parents[1] / "bench" / "compare_evals.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def cell(x):
        return {"mean": x, "ci95": 0.01, "n": 8}

    def report(model_acc):
        by = {r: {a: cell(v) for a in IDENTITY_ATTRS} for r, v in (("model", model_acc), ("no_reference", 0.4))}
        by["model_minus_no_reference"] = {a: cell(model_acc - 0.4) for a in IDENTITY_ATTRS}
        res = {r: {"identity_accuracy": cell(by[r]["skin"]["mean"])} for r in ("model", "no_reference")}
        paired = {"model_minus_no_reference": {"identity_accuracy": cell(model_acc - 0.4)}}
        return {"n": 8, "seed": 1, "identity_by_attribute": by, "results": res, "paired": paired}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report(0.5)))
    b.write_text(json.dumps(report(0.6)))
    assert mod.main([str(a), str(b), "--names", "own", "relit"]) == 0
    out = capsys.readouterr().out
    assert "| skin | 0.400 | 0.500 | +0.100 ± 0.010 | 0.600 | +0.200 ± 0.010 |" in out
    assert out.count("\n") == 2 + len(IDENTITY_ATTRS) + 1
    b.write_text(json.dumps({**report(0.6), "seed": 2}))
    with pytest.raises(SystemExit, match="same clips"):
        mod.main([str(a), str(b)])
    b.write_text(json.dumps({"n": 8, "seed": 1}))
    with pytest.raises(SystemExit, match="per-attribute"):
        mod.main([str(a), str(b)])


def test_pick_guidance_pairs_model_only_files_with_one_no_reference_baseline(tmp_path, capsys):
    import json

    mod = _pick_guidance()

    def per_clip_file(path, s_ref, rows, s_txt=3):
        d = {"guidance": {"s_ref": s_ref, "s_txt": s_txt}, "n": 4, "seed": 0, "steps": 20,
             "results": {"model": {"text_adherence": {"mean": 0.9, "ci95": 0.0}}} if "model" in rows else {},
             "per_clip": rows}  # fmt: skip
        path.write_text(json.dumps(d))
        return str(path)

    def clips(identity):
        return {"identity_accuracy": identity, "text_adherence": [0.9] * 4, "copy_paste": [0.0] * 4}

    base = per_clip_file(tmp_path / "nr.json", 1, {"no_reference": clips([0.1, 0.2, 0.3, 0.4])})
    files = [
        per_clip_file(tmp_path / "a.json", 2, {"model": clips([0.2, 0.3, 0.4, 0.5])}),  # +0.10 on every clip
        per_clip_file(tmp_path / "b.json", 4, {"model": clips([0.5, 0.6, 0.7, 0.8])}),  # +0.40
    ]
    assert mod.main(["s_ref", *files, "--baseline", base]) == 0
    out = capsys.readouterr().out
    assert "| 4 | +0.400 ± 0.000" in out and "pick: s_ref = 4" in out
    with pytest.raises(SystemExit, match="no paired gain"):
        mod.main(["s_ref", *files])
    other = per_clip_file(tmp_path / "nr5.json", 1, {"no_reference": clips([0.1] * 4)}, s_txt=5)
    with pytest.raises(SystemExit, match="cannot be its baseline"):
        mod.main(["s_ref", *files, "--baseline", other])


def test_the_examples_animate_whatever_rows_were_scored():
    from stdrc_lib.toy.evaluate import animated_grid

    u8 = torch.uint8
    ex = {"reference": torch.zeros(8, 8, 3, dtype=u8), "no_reference": torch.ones(5, 8, 8, 3, dtype=u8)}
    grid = animated_grid([ex, ex])
    assert grid.shape == (5, 2 * 10 + 2, 2 * 10 + 2, 3)  # 5 frames; 2 clips × 2 columns (reference, no reference)
    assert (grid[:, 2:10, 12:20] == 1).all()
