"""Pick ``s_ref`` from a sweep of ``stdrc eval`` results by a rule fixed before the sweep ran.

The rule: the smallest ``s_ref`` whose paired identity gain (model minus no reference) is within ``--tol`` of
the best gain in the sweep. Larger values buy little identity and cost text adherence, so ties go to the smaller.

    for s in 2 4 6 8 10; do stdrc eval --n 64 --s-ref $s --seed 0 --rows model no_reference --out runs/sweep_$s; done
    python bench/pick_sref.py runs/sweep_*/eval.json

Prints one row per ``s_ref`` (paired identity, embedding and text-adherence gains) and the pick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stdrc_lib.toy.evaluate import load_results


def load(paths: list[Path]) -> list[dict]:
    try:
        reports = load_results(paths)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from e
    rows = []
    for p, d in zip(paths, reports):
        paired = d.get("paired", {}).get("model_minus_no_reference")
        if not paired:
            raise SystemExit(f"error: {p} has no paired gain; run `stdrc eval` with `--rows model no_reference`.")
        rows.append({"path": str(p), "s_ref": d["guidance"]["s_ref"], "n": d["n"], "seed": d["seed"], **paired})
    if len({r["s_ref"] for r in rows}) < len(rows):
        raise SystemExit("error: two files have the same s_ref.")
    return sorted(rows, key=lambda r: r["s_ref"])


def pick(rows: list[dict], tol: float) -> dict:
    best = max(r["identity_accuracy"]["mean"] for r in rows)
    return next(r for r in rows if r["identity_accuracy"]["mean"] >= best - tol)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="eval.json files of one sweep (same clips and seed)")
    ap.add_argument("--tol", type=float, default=0.01, help="how close to the best gain counts as a tie (0.01)")
    args = ap.parse_args(argv)
    if args.tol < 0:
        ap.error(f"--tol must be >= 0, got {args.tol}")
    rows = load(args.files)
    print("| `s_ref` | identity, paired gain | embedding cosine, paired gain | text adherence, paired gain |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        cells = [
            f"{r[k]['mean']:+.3f} ± {r[k]['ci95']:.3f}"
            for k in ("identity_accuracy", "embedding_cosine", "text_adherence")
        ]
        print(f"| {r['s_ref']:g} | " + " | ".join(cells) + " |")
    p = pick(rows, args.tol)
    print(
        f"\npick: s_ref = {p['s_ref']:g} (smallest within {args.tol} of the best identity gain; {rows[0]['n']} "
        f"clips, seed {rows[0]['seed']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
