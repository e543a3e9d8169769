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

Prints one row per value (paired gains of identity, text adherence, copy-paste; the model's text adherence) and
the pick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stdrc_lib.toy.evaluate import load_results

KNOBS = ("s_ref", "s_txt")


def load(paths: list[Path], knob: str) -> list[dict]:
    """One row per file: the knob's value, the paired gains and the model's text adherence; refuses files that
    differ in anything but ``knob``."""
    try:
        reports = load_results(paths)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from e
    rows, other = [], "s_txt" if knob == "s_ref" else "s_ref"
    for p, d in zip(paths, reports):
        paired = d.get("paired", {}).get("model_minus_no_reference")
        if not paired:
            raise SystemExit(f"error: {p} has no paired gain; run `stdrc eval` with `--rows model no_reference`.")
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
    ap.add_argument("--tol", type=float, default=0.01, help="how close to the best counts as a tie (0.01)")
    ap.add_argument("--text-margin", type=float, default=0.02, help="s_ref: largest text-adherence loss (0.02)")
    ap.add_argument("--copy-margin", type=float, default=0.02, help="s_ref: largest copy-paste rise (0.02)")
    ap.add_argument("--id-margin", type=float, default=0.02, help="s_txt: largest identity-gain loss (0.02)")
    args = ap.parse_args(argv)
    for name in ("tol", "text_margin", "copy_margin", "id_margin"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    rows = load(args.files, args.knob)
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
