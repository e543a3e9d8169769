"""Tables and plots from the ablation results in docs/ablation/*.json (written by bench/ablate.py).

Usage: python bench/ablation_report.py               # prints the Markdown tables, writes docs/ablation/*.png
       python bench/ablation_report.py --write-doc   # also puts the tables into the study's page (between markers),
                                                     # docs/history/ABLATION_FIRST_MODEL.md

The logic lives in stdrc_lib/toy/ablation.py (notebook 05 uses it too); it never trains anything.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from stdrc_lib.toy.ablation import (
    RESULTS,
    claims,
    claims_table,
    grid_table,
    independence,
    load,
    load_grids,
    plot,
    variant_table,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "history" / "ABLATION_FIRST_MODEL.md"


def write_block(text: str, name: str, body: str) -> str:
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` with ``body``."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC} has no <!-- {name}:start --> / <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--write-doc", action="store_true", help="also write the tables into docs/history/ABLATION_FIRST_MODEL.md"
    )
    args = ap.parse_args()
    variants, _ = load()
    grids = load_grids()
    tables = {"variants": variant_table(variants), "claims": claims_table(claims(variants))} if variants else {}
    if variants:
        print(tables["variants"])
        print()
        print(tables["claims"])
    for name, grid in grids.items():
        print(f"{name} ({grid.get('ref_mode', 'eval')} references):")
        print("\n".join(independence(grid)))
    for p in plot(variants, grids):
        print(f"wrote {p}")
    tables.update({name: grid_table(grid) for name, grid in grids.items()})
    if args.write_doc and tables:
        text = DOC.read_text()
        for name, body in tables.items():
            text = write_block(text, name, body)
        DOC.write_text(text)
        print(f"wrote the tables into {DOC}")
    if not variants and not grids:
        print(f"no results in {RESULTS} yet: run python bench/ablate.py")


if __name__ == "__main__":
    main()
