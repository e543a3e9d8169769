"""Regenerate the numbers in README.md that come from results files, between ``<!-- generated: NAME -->`` and
``<!-- end generated -->`` markers.

    python docs/make_docs.py          # rewrite the blocks
    python docs/make_docs.py --check  # exit 1 if a block is stale (tests/test_docs.py runs this)

Blocks:
* ``results``: the headline table, from ``docs/results/eval.json`` (written by ``stdrc eval``).
* ``errors``: how many bad inputs ``docs/ERRORS.md`` lists.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = {
    "identity_accuracy": "identity",
    "embedding_cosine": "identity embedding cosine",
    "text_adherence": "text adherence",
    "copy_paste": "copy-paste",
    "temporal_consistency": "temporal consistency",
}
ROWS = {"model": "ST-DRC (toy model)", "no_reference": "the same model, no reference", "ground_truth": "ground truth"}


def _pm(s: dict, signed: bool = False) -> str:
    return f"{s['mean']:+.3f} ± {s['ci95']:.3f}" if signed else f"{s['mean']:.3f} ± {s['ci95']:.3f}"


def results_block(path: Path = ROOT / "docs" / "results" / "eval.json") -> str:
    d = json.loads(path.read_text())
    g = d["guidance"]
    head = "| | " + " | ".join(METRICS.values()) + " |\n|---|" + "---:|" * len(METRICS) + "\n"
    rows = [f"| {label} | " + " | ".join(_pm(d["results"][r][m]) for m in METRICS) + " |" for r, label in ROWS.items()]
    paired = d["paired"]["model_minus_no_reference"]
    rows.append("| **reference − no reference, paired per clip** | " + " | ".join(
        f"**{_pm(paired[m], True)}**" if m == "identity_accuracy" else _pm(paired[m], True) for m in METRICS
    ) + " |")  # fmt: skip
    note = (
        f"\n{d['n']} held-out clips (held-out identities × held-out prompts, references in another pose, place, "
        f"scale, light and background), mean ± 95 % CI; {d['steps']} Euler steps, `s_ref = {g['s_ref']:g}`, "
        f"`s_txt = {g['s_txt']:g}`, `{g['order']}`, references re-lit to the prompt's light "
        f"(`--ref-light {d['ref_light']}`). From `{path.relative_to(ROOT)}`.\n"
    )
    as_is = path.parent / "as_is" / "eval.json"
    if as_is.is_file():
        a = json.loads(as_is.read_text())
        gain = a["paired"]["model_minus_no_reference"]["identity_accuracy"]
        note += (
            f"\nThe same clips and noise with each reference in its own light, not re-lit (`--ref-light "
            f"{a['ref_light']}`; still cut out, `{as_is.relative_to(ROOT)}`): paired identity gain "
            f"{_pm(gain, True)}.\n"
        )
    return head + "\n".join(rows) + "\n" + note


def errors_block(path: Path = ROOT / "docs" / "ERRORS.md") -> str:
    n = sum(1 for line in path.read_text().splitlines() if line.startswith("| ") and not line.startswith("| input |"))
    return f"- [docs/ERRORS.md](docs/ERRORS.md): {n} bad inputs and the exact message each one gets.\n"


BLOCKS = {"results": results_block, "errors": errors_block}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pat = re.compile(rf"(<!-- generated: {name} -->\n)(.*?)(<!-- end generated -->)", re.S)
        if not pat.search(text):
            raise SystemExit(f"README.md has no `<!-- generated: {name} -->` block")
        text = pat.sub(lambda m, make=make: m[1] + make() + m[3], text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if README.md is not current")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md's generated blocks are stale; run python docs/make_docs.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
