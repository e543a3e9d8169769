"""Tables and plots from the ablation results in docs/ablation/*.json (written by bench/ablate.py).

Usage: python bench/ablation_report.py      # prints the Markdown tables, writes docs/ablation/*.png

The logic lives in stdrc_lib/ablation.py (notebook 05 uses it too); it never trains anything.
"""

from __future__ import annotations

from stdrc_lib.ablation import RESULTS, claims, claims_table, independence, load, plot, variant_table


def main() -> None:
    variants, grid = load()
    if variants:
        print(variant_table(variants))
        print()
        print(claims_table(claims(variants)))
    if grid:
        print("\n".join(independence(grid)))
    for p in plot(variants, grid):
        print(f"wrote {p}")
    if not variants and not grid:
        print(f"no results in {RESULTS} yet: run python bench/ablate.py")


if __name__ == "__main__":
    main()
