"""Pick ``s_ref`` and ``s_txt`` from sweeps of ``stdrc eval`` by a rule fixed before the sweeps run.

Every file of a sweep scores ``model`` and ``no_reference`` on the same clips and noise (``--rows model
no_reference``), so each gain is paired per clip. The sweep clips are not the headline's (another ``--seed``).

The rule, in two steps (``docs/STDRC.md`` gives the commands):

1. ``s_ref`` (files that differ only in ``s_ref``): keep the values whose mean paired text-adherence change is
   at least ``-text_margin`` and whose mean paired copy-paste change is at most ``copy_margin``; among them, the
   smallest ``s_ref`` whose paired identity gain is within ``tol`` of the best. Larger scales buy little identity
   and cost text adherence, so ties go to the smaller. When no value keeps both bounds, the rule picks the
   smallest ``s_ref`` in the sweep and says so.
2. ``s_txt`` (files that differ only in ``s_txt``, at the ``s_ref`` of step 1): keep the values whose paired
   identity gain is within ``id_margin`` of the best in that sweep; among them, the ``s_txt`` with the highest
   text adherence, ties (within ``tol``) to the smaller.

    python bench/pick_guidance.py s_ref runs/sweep/sref_*/eval.json
    python bench/pick_guidance.py s_txt runs/sweep/stxt_*/eval.json

The ``no_reference`` row does not depend on ``s_ref`` (only on ``s_txt``, the clips and the noise), so an
``s_ref`` sweep may score it once: files with ``--rows model`` alone, and ``--baseline FILE`` with
``--rows no_reference`` at the same ``s_txt``, clips and seed. Every row draws its noise from the seed and the
clip's index, whatever other rows run, so the pairs are the same clips and noise either way.

Prints one row per value (paired gains of identity, text adherence, copy-paste; the model's text adherence) and
the pick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stdrc_lib.toy.evaluate import load_results

KNOBS = ("s_ref", "s_txt")


def _paired_with(d: dict, base: dict, p: Path, b: Path) -> dict:
    """``model − no_reference`` per clip, the model from ``d`` and no reference from ``base``."""
    import torch

    from stdrc_lib.toy.metrics import summarize

    if (d["n"], d["seed"], d["steps"], d["guidance"]["s_txt"]) != (
        base["n"], base["seed"], base["steps"], base["guidance"]["s_txt"]
    ):  # fmt: skip
        raise SystemExit(f"error: {b} does not score {p}'s clips, seed, steps and s_txt; it cannot be its baseline.")
    m, nr = d["per_clip"]["model"], base["per_clip"]["no_reference"]
    return summarize({k: torch.tensor(v) - torch.tensor(nr[k]) for k, v in m.items() if k in nr})


def load(paths: list[Path], knob: str, baseline: Path | None = None) -> list[dict]:
    """One row per file: the knob's value, the paired gains and the model's text adherence; refuses files that
    differ in anything but ``knob``. Files without a ``no_reference`` row are paired with ``baseline``'s."""
    try:
        reports = load_results(paths + ([baseline] if baseline else []))
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from e
    base = reports.pop() if baseline else None
    if base is not None and "no_reference" not in base.get("per_clip", {}):
        raise SystemExit(f"error: {baseline} has no per-clip no_reference row; run `stdrc eval --rows no_reference`.")
    rows, other = [], "s_txt" if knob == "s_ref" else "s_ref"
    for p, d in zip(paths, reports):
        paired = d.get("paired", {}).get("model_minus_no_reference")
        if not paired and base is not None and "model" in d.get("per_clip", {}):
            paired = _paired_with(d, base, p, baseline)
        if not paired:
            raise SystemExit(
                f"error: {p} has no paired gain; run `stdrc eval` with `--rows model no_reference`, or give "
                "--baseline (an eval.json with the no_reference row)."
            )
        rows.append(
            {
                "path": str(p),
                "value": d["guidance"][knob],
                "fixed": d["guidance"][other],
                "n": d["n"],
                "seed": d["seed"],
                "text_model": d["results"]["model"]["text_adherence"]["mean"],
                **paired,
            }
        )
    if len({r["value"] for r in rows}) < len(rows):
        raise SystemExit(f"error: two files have the same {knob}.")
    for key in ("fixed", "n", "seed"):
        if len({r[key] for r in rows}) > 1:
            name = other if key == "fixed" else key
            raise SystemExit(f"error: the files differ in {name}; a sweep varies {knob} alone.")
    return sorted(rows, key=lambda r: r["value"])


def pick_s_ref(rows: list[dict], tol: float, text_margin: float, copy_margin: float) -> tuple[dict, str]:
    ok = [r for r in rows if r["text_adherence"]["mean"] >= -text_margin and r["copy_paste"]["mean"] <= copy_margin]
    if not ok:
        return rows[0], "no value keeps the text and copy-paste bounds: the smallest s_ref"
    best = max(r["identity_accuracy"]["mean"] for r in ok)
    why = f"the smallest within {tol} of the best identity gain among those keeping the bounds"
    return next(r for r in ok if r["identity_accuracy"]["mean"] >= best - tol), why


def pick_s_txt(rows: list[dict], tol: float, id_margin: float) -> tuple[dict, str]:
    best_id = max(r["identity_accuracy"]["mean"] for r in rows)
    ok = [r for r in rows if r["identity_accuracy"]["mean"] >= best_id - id_margin]
    best_text = max(r["text_model"] for r in ok)
    why = (
        f"the highest text adherence (ties within {tol} to the smaller) among those within {id_margin} of the "
        "best identity gain"
    )
    return next(r for r in ok if r["text_model"] >= best_text - tol), why


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("knob", choices=KNOBS, help="which scale the files sweep")
    ap.add_argument("files", nargs="+", type=Path, help="eval.json files of one sweep (same clips and seed)")
    ap.add_argument(
        "--baseline", type=Path, default=None, help="eval.json with the no_reference row, for files without one"
    )
    ap.add_argument("--tol", type=float, default=0.01, help="how close to the best counts as a tie (0.01)")
    ap.add_argument("--text-margin", type=float, default=0.02, help="s_ref: largest text-adherence loss (0.02)")
    ap.add_argument("--copy-margin", type=float, default=0.02, help="s_ref: largest copy-paste rise (0.02)")
    ap.add_argument("--id-margin", type=float, default=0.02, help="s_txt: largest identity-gain loss (0.02)")
    args = ap.parse_args(argv)
    for name in ("tol", "text_margin", "copy_margin", "id_margin"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    rows = load(args.files, args.knob, args.baseline)
    print(f"| `{args.knob}` | identity, paired gain | text adherence, paired | copy-paste, paired | text adherence |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [
            f"{r[k]['mean']:+.3f} ± {r[k]['ci95']:.3f}" for k in ("identity_accuracy", "text_adherence", "copy_paste")
        ]
        print(f"| {r['value']:g} | " + " | ".join(cells) + f" | {r['text_model']:.3f} |")
    if args.knob == "s_ref":
        p, why = pick_s_ref(rows, args.tol, args.text_margin, args.copy_margin)
    else:
        p, why = pick_s_txt(rows, args.tol, args.id_margin)
    other = "s_txt" if args.knob == "s_ref" else "s_ref"
    print(
        f"\npick: {args.knob} = {p['value']:g} ({why}; {other} = {p['fixed']:g}, {rows[0]['n']} clips, "
        f"seed {rows[0]['seed']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
