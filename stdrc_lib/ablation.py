"""Reading the ablation study's results (``docs/ablation/*.json``, written by ``bench/ablate.py``).

Tables, the guidance-independence check and plots, shared by ``bench/ablation_report.py``,
``docs/ABLATION.md`` and ``notebooks/05_ablation.ipynb``. Nothing here trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "ablation"  # the repository's results
METRICS = ("identity_accuracy", "embedding_cosine", "copy_paste", "text_adherence", "temporal_consistency")


def load(folder: Path = RESULTS) -> tuple[dict, dict | None]:
    """``({variant: result}, guidance_grid or None)`` from whatever has finished so far."""
    variants, grid = {}, None
    for f in sorted(folder.glob("*.json")):
        data = json.loads(f.read_text())
        if f.stem == "guidance":
            grid = data
        else:
            variants[f.stem] = data
    return variants, grid


def variant_table(variants: dict) -> str:
    head = "| variant | scheme | aug | id loss | seed | " + " | ".join(METRICS) + " | identity, no ref |"
    lines = [head, "|" + "---|" * (len(METRICS) + 6)]
    for name, v in variants.items():
        m, nr = v["results"]["model"], v["results"].get("no_reference", {})
        cells = " | ".join(f"{m[k][0]:.3f} ± {m[k][1]:.3f}" for k in METRICS)
        ref = f"{nr['identity_accuracy'][0]:.3f} ± {nr['identity_accuracy'][1]:.3f}" if nr else "–"
        lines.append(
            f"| {name} | {v['scheme']} | {'on' if v['augmentation'] else 'off'} | "
            f"{'on' if v['identity_loss'] else 'off'} | {v['seed']} | {cells} | {ref} |"
        )
    return "\n".join(lines)


def grid_arrays(grid: dict, order: str, metric: str):
    s_ref = sorted({c["s_ref"] for c in grid["cells"]})
    s_txt = sorted({c["s_txt"] for c in grid["cells"]})
    a = np.full((len(s_ref), len(s_txt)), np.nan)
    for c in grid["cells"]:
        if c["order"] == order:
            a[s_ref.index(c["s_ref"]), s_txt.index(c["s_txt"])] = c[metric][0]
    return s_ref, s_txt, a


def independence(grid: dict) -> list[str]:
    """Does each knob move its own metric while the other metric stays within ±2 points?"""
    out = []
    for order in sorted({c["order"] for c in grid["cells"]}):
        s_ref, s_txt, ident = grid_arrays(grid, order, "identity_accuracy")
        _, _, text = grid_arrays(grid, order, "text_adherence")
        d_id_by_ref = np.nanmax(ident, 0) - np.nanmin(ident, 0)  # per s_txt column: range over s_ref
        d_txt_by_ref = np.nanmax(text, 0) - np.nanmin(text, 0)
        d_txt_by_txt = np.nanmax(text, 1) - np.nanmin(text, 1)  # per s_ref row: range over s_txt
        d_id_by_txt = np.nanmax(ident, 1) - np.nanmin(ident, 1)
        out.append(
            f"{order}: s_ref {s_ref[0]:g}→{s_ref[-1]:g} moves identity by up to {np.nanmax(d_id_by_ref) * 100:.1f} "
            f"points and text adherence by up to {np.nanmax(d_txt_by_ref) * 100:.1f}; s_txt {s_txt[0]:g}→"
            f"{s_txt[-1]:g} moves text adherence by up to {np.nanmax(d_txt_by_txt) * 100:.1f} points and identity "
            f"by up to {np.nanmax(d_id_by_txt) * 100:.1f}."
        )
    return out


def plot(variants: dict, grid: dict | None, folder: Path = RESULTS) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    if variants:
        names = list(variants)
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        for ax, metric in zip(axes, ("identity_accuracy", "copy_paste", "text_adherence")):
            vals = [variants[n]["results"]["model"][metric] for n in names]
            ax.bar(range(len(names)), [v[0] for v in vals], yerr=[v[1] for v in vals], color="tab:blue", capsize=3)
            if metric == "identity_accuracy":
                nr = [variants[n]["results"]["no_reference"][metric][0] for n in names]
                ax.scatter(range(len(names)), nr, color="k", marker="_", s=200, label="no reference", zorder=3)
                ax.legend(fontsize=8)
            ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
            ax.set_title(metric.replace("_", " ") + " (mean ± 95 % CI)")
        plt.tight_layout()
        paths.append(folder / "variants.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    if grid:
        orders = sorted({c["order"] for c in grid["cells"]})
        fig, axes = plt.subplots(len(orders), 2, figsize=(9, 3.6 * len(orders)), squeeze=False)
        for i, order in enumerate(orders):
            for j, metric in enumerate(("identity_accuracy", "text_adherence")):
                s_ref, s_txt, a = grid_arrays(grid, order, metric)
                ax = axes[i, j]
                im = ax.imshow(a, origin="lower", cmap="viridis")
                ax.set_xticks(range(len(s_txt)), [f"{v:g}" for v in s_txt])
                ax.set_yticks(range(len(s_ref)), [f"{v:g}" for v in s_ref])
                ax.set_xlabel("s_txt")
                ax.set_ylabel("s_ref")
                ax.set_title(f"{order}: {metric.replace('_', ' ')}")
                for (r, c), v in np.ndenumerate(a):
                    ax.text(c, r, f"{v:.3f}", ha="center", va="center", color="w", fontsize=8)
                plt.colorbar(im, ax=ax)
        plt.tight_layout()
        paths.append(folder / "guidance.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
