"""Identity accuracy by attribute, side by side for several ``stdrc eval`` runs on the same clips.

    python bench/compare_evals.py docs/results/as_is/eval.json docs/results/eval.json --names "own light" "re-lit"

One row per identity attribute (and their mean): the no-reference row of the first file, then for each file
the model's accuracy and its paired gain over no reference (mean ± 95 % CI), then the VAE reconstruction's
accuracy (the ceiling) where the first file scored it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stdrc_lib.toy.evaluate import load_results


def _cell(d: dict, signed: bool = False) -> str:
    return f"{d['mean']:+.3f} ± {d['ci95']:.3f}" if signed else f"{d['mean']:.3f}"


def load(paths: list[Path]) -> list[dict]:
    try:
        reports = load_results(paths)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from e
    for path, d in zip(paths, reports):
        by = d.get("identity_by_attribute")
        if not by or "model" not in by or "model_minus_no_reference" not in by:
            raise SystemExit(
                f"error: {path} has no per-attribute model and paired rows; rerun it with this version of "
                "`stdrc eval` and `--rows` including model and no_reference."
            )
    return reports


def table(reports: list[dict], names: list[str]) -> str:
    first = reports[0]
    attrs = list(first["identity_by_attribute"]["model"])
    vae = first["identity_by_attribute"].get("vae_reconstruction")
    head = ["attribute", "no reference"]
    for n in names:
        head += [f"model, {n}", f"gain, {n}"]
    head += ["VAE ceiling"] if vae else []
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for a in attrs:
        row = [a.replace("_", " "), _cell(first["identity_by_attribute"]["no_reference"][a])]
        for r in reports:
            by = r["identity_by_attribute"]
            row += [_cell(by["model"][a]), _cell(by["model_minus_no_reference"][a], signed=True)]
        row += [_cell(vae[a])] if vae else []
        lines.append("| " + " | ".join(row) + " |")
    row = ["**mean (identity accuracy)**", _cell(first["results"]["no_reference"]["identity_accuracy"])]
    for r in reports:
        row += [
            _cell(r["results"]["model"]["identity_accuracy"]),
            _cell(r["paired"]["model_minus_no_reference"]["identity_accuracy"], signed=True),
        ]
    row += [_cell(first["results"]["vae_reconstruction"]["identity_accuracy"])] if vae else []
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="eval.json files scored on the same clips")
    ap.add_argument("--names", nargs="+", help="a column name per file (default: the folder names)")
    args = ap.parse_args(argv)
    names = args.names or [f.parent.name for f in args.files]
    if len(names) != len(args.files):
        ap.error(f"--names must give one name per file: {len(args.files)} files, {len(names)} names")
    print(table(load(args.files), names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
