"""Reading the ablation study's results (``docs/ablation/*.json``, written by ``bench/ablate.py``).

Tables, the guidance-independence check and plots, shared by ``bench/ablation_report.py``,
``docs/history/ABLATION_FIRST_MODEL.md`` and ``notebooks/05_ablation.ipynb``. Nothing here trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..prep.augment import AugmentConfig
from .weights import packaged

# the study's results: docs/ablation/ in a checkout, stdrc_lib/results/ in an install
RESULTS = packaged("stdrc_lib.results", Path(__file__).resolve().parents[2] / "docs" / "ablation")
METRICS = ("identity_accuracy", "embedding_cosine", "copy_paste", "text_adherence", "temporal_consistency")


def load(folder: Path = RESULTS) -> tuple[dict, dict | None]:
    """``({variant: result}, guidance_grid or None)`` from whatever has finished so far (the grid with
    evaluation-mode references; :func:`load_grids` has every grid)."""
    if not any(Path(folder).glob("*.json")):
        raise FileNotFoundError(f"no ablation results in {folder}; they ship with stdrc (docs/ablation/).")
    variants = {f.stem: json.loads(f.read_text()) for f in sorted(folder.glob("*.json")) if not _is_grid(f)}
    return variants, load_grids(folder).get("guidance")


def load_grids(folder: Path = RESULTS) -> dict[str, dict]:
    """``{name: grid}`` for the finished guidance grids: ``guidance`` (evaluation-mode references) and
    ``guidance_clipref`` (a frame of the clip as reference)."""
    return {f.stem: json.loads(f.read_text()) for f in sorted(folder.glob("*.json")) if _is_grid(f)}


def _is_grid(f: Path) -> bool:
    return f.stem == "guidance" or f.stem.startswith("guidance_")


def variant_table(variants: dict) -> str:
    head = (
        "| variant | scheme | aug | id loss | seed | " + " | ".join(METRICS) + " | identity, no ref | ref gain σ=0.9 |"
    )
    lines = [head, "|" + "---|" * (len(METRICS) + 7)]
    for name, v in variants.items():
        m = v["results"]["model"]
        cells = " | ".join(f"{m[k][0]:.3f} ± {m[k][1]:.3f}" for k in METRICS)
        nr = _value(variants, f"{name}:no_reference", "identity_accuracy")
        ref = f"{nr[0]:.3f} ± {nr[1]:.3f}" if nr else "–"
        g = _value(variants, name, "eval_ref_gain_0.9")
        gain = f"{g[0]:+.3f} ± {g[1]:.3f}" if g else "–"
        lines.append(
            f"| {name} | {v['scheme']} | {_augmentation(v)} | "
            f"{'on' if v['identity_loss'] else 'off'} | {v['seed']} | {cells} | {ref} | {gain} |"
        )
    return "\n".join(lines)


def _augmentation(v: dict) -> str:
    """ "on" / "off", or the re-layout share where a variant changed it from the default."""
    if not v["augmentation"]:
        return "off"
    p = v.get("train_config", {}).get("augment", {}).get("p_relayout")
    default = AugmentConfig().p_relayout
    return "on" if p is None or p == default else f"on, re-layout {p:g}"


# one-step denoising probe (bench/ablate.py --denoising): paired gain of a reference at σ = 0.9, against 0
PROBES = {"eval_ref_gain_0.9": ("evaluation reference", 0.9)}

# (claim, metric, variant a, variant b, expected sign of a − b; 0 = "no worse": a must not fall below b)
CLAIMS = (
    ("reference carries identity", "identity_accuracy", "{v}", "{v}:no_reference", +1),
    ("reference adds identity at σ = 0.9 (one-step probe)", "eval_ref_gain_0.9", "{v}", "zero", +1),
    ("TASS reduces copy-paste vs shared", "copy_paste", "tass_s{s}", "shared_s{s}", -1),
    ("TASS keeps identity vs shared", "identity_accuracy", "tass_s{s}", "shared_s{s}", 0),
    ("TASS reduces copy-paste vs temporal-only shift", "copy_paste", "tass_s0", "temporal_s0", -1),
    ("TASS reduces copy-paste vs spatial-only shift", "copy_paste", "tass_s0", "spatial_s0", -1),
    ("TASS reduces copy-paste vs no positions (NoPE)", "copy_paste", "tass_s0", "nope_s0", -1),
    ("TASS keeps identity vs temporal-only shift", "identity_accuracy", "tass_s0", "temporal_s0", 0),
    ("TASS keeps identity vs spatial-only shift", "identity_accuracy", "tass_s0", "spatial_s0", 0),
    ("TASS keeps identity vs no positions (NoPE)", "identity_accuracy", "tass_s0", "nope_s0", 0),
    ("TASS reduces copy-paste vs shared, no augmentation", "copy_paste", "tass_noaug_s0", "shared_noaug_s0", -1),
    ("augmentation reduces copy-paste (tass)", "copy_paste", "tass_s0", "tass_noaug_s0", -1),
    ("augmentation reduces copy-paste (shared)", "copy_paste", "shared_s0", "shared_noaug_s0", -1),
    ("identity loss raises identity accuracy", "identity_accuracy", "tass_s0", "tass_noid_s0", +1),
    ("identity loss raises embedding cosine", "embedding_cosine", "tass_s0", "tass_noid_s0", +1),
    ("identity loss raises the one-step reference gain", "eval_ref_gain_0.9", "tass_s0", "tass_noid_s0", +1),
    ("cross-context references raise identity (beyond the paper)", "identity_accuracy", "tass_xref_s0", "tass_s0", +1),
    (
        "reference positions let the model use its reference (TASS vs NoPE, one-step probe)",
        "eval_ref_gain_0.9",
        "tass_s0",
        "nope_s0",
        +1,
    ),
    (
        "re-lit references raise the one-step reference gain (beyond the paper)",
        "eval_ref_gain_0.9",
        "tass_relight_s0",
        "tass_s0",
        +1,
    ),
    (
        "face-crop references raise the one-step reference gain (beyond the paper)",
        "eval_ref_gain_0.9",
        "tass_crop_s0",
        "tass_s0",
        +1,
    ),
    ("face-crop references raise identity (beyond the paper)", "identity_accuracy", "tass_crop_s0", "tass_s0", +1),
    (
        "face cut-out references raise identity (beyond the paper)",
        "identity_accuracy",
        "tass_cutout_s0",
        "tass_s0",
        +1,
    ),
    (
        "face cut-outs copy less than face crops (beyond the paper)",
        "copy_paste",
        "tass_cutout_s0",
        "tass_crop_s0",
        -1,
    ),
    (
        "face cut-outs follow the text better than face crops (beyond the paper)",
        "text_adherence",
        "tass_cutout_s0",
        "tass_crop_s0",
        +1,
    ),
    (
        "more re-layout reduces copy-paste (0.8 vs 0.3, beyond the paper)",
        "copy_paste",
        "tass_s0",
        "tass_relayout30_s0",
        -1,
    ),
    ("isolated reference (K/V cache) keeps identity", "identity_accuracy", "tass_iso_s0", "tass_s0", 0),
    (
        "isolated reference (K/V cache) keeps the one-step reference gain",
        "eval_ref_gain_0.9",
        "tass_iso_s0",
        "tass_s0",
        0,
    ),
    ("isolated reference (K/V cache) keeps text adherence", "text_adherence", "tass_iso_s0", "tass_s0", 0),
)


def _value(variants: dict, key: str, metric: str):
    """``(mean, ci95)`` of ``metric`` for ``"variant"`` (model row) or ``"variant:row"``; None if missing."""
    if key == "zero":
        return (0.0, 0.0)
    name, _, row = key.partition(":")
    if metric in PROBES:
        den = variants.get(name, {}).get("denoising")
        cond, sigma = PROBES[metric]
        if not den or sigma not in den["sigmas"]:
            return None
        v = den["gain"][cond][den["sigmas"].index(sigma)]
        return (float(v[0]), float(v[1]))
    v = variants.get(name, {}).get("results", {}).get(row or "model", {}).get(metric)
    return None if v is None else (float(v[0]), float(v[1]))


def compare(a: tuple[float, float], b: tuple[float, float], sign: int) -> tuple[float, float, str]:
    """``(Δ = a − b, ±CI of Δ, verdict)`` for two independent (mean, 95 % CI) pairs.

    The CI of the difference is ``sqrt(ci_a² + ci_b²)`` (independent normal approximation, conservative for
    variants scored on the same clips). ``sign`` +1 / −1: the claim is that Δ is positive / negative; it
    *holds* when Δ has that sign and exceeds the CI, is *refuted* when Δ has the other sign beyond the CI,
    and is *not shown* otherwise. ``sign`` 0 ("a is no worse than b"): *refuted* only when a is below b
    beyond the CI, otherwise it holds in the weak sense "no loss beyond the CI".
    """
    if sign not in (-1, 0, 1):
        raise ValueError(f"`sign` must be -1, 0 or +1, got {sign!r}.")
    d, ci = a[0] - b[0], float(np.hypot(a[1], b[1]))
    if sign == 0:
        return d, ci, "refuted" if d < -ci else "holds (no loss beyond CI)"
    if d * sign > ci:
        return d, ci, "holds"
    if d * sign < -ci:
        return d, ci, "refuted"
    return d, ci, "not shown"


def claims(variants: dict, seeds=(0, 1, 2)) -> list[dict]:
    """Every claim of :data:`CLAIMS` that the finished variants can test, one row per comparison.

    ``{v}`` rows run over every finished variant; ``{s}`` rows over ``seeds``. Rows whose variants have not
    finished are left out.
    """
    rows = []
    for claim, metric, ka, kb, sign in CLAIMS:
        if "{v}" in ka:
            pairs = [(ka.format(v=v), kb.format(v=v)) for v in variants]
        elif "{s}" in ka:
            pairs = [(ka.format(s=s), kb.format(s=s)) for s in seeds]
        else:
            pairs = [(ka, kb)]
        found = []
        for a_key, b_key in pairs:
            a, b = _value(variants, a_key, metric), _value(variants, b_key, metric)
            if a is None or b is None:
                continue
            found.append((a, b))
            d, ci, verdict = compare(a, b, sign)
            rows.append({"claim": claim, "metric": metric, "a": a_key, "b": b_key, "a_value": a, "b_value": b,
                         "delta": d, "ci95": ci, "verdict": verdict})  # fmt: skip
        if "{s}" in ka and len(found) >= 2:
            a, b, d, ci = pool_seeds(found)
            verdict = compare((d, ci), (0.0, 0.0), sign)[2]
            rows.append({"claim": claim + f" ({len(found)} seeds pooled)", "metric": metric,
                         "a": ka.format(s="*"), "b": kb.format(s="*"), "a_value": a, "b_value": b,
                         "delta": d, "ci95": ci, "verdict": verdict})  # fmt: skip
    return rows


# Student's t at 97.5 % by degrees of freedom (for seed-pooled intervals; ~2.0 beyond the table)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def pool_seeds(pairs: list[tuple[tuple[float, float], tuple[float, float]]]):
    """``(mean a, mean b, mean Δ, CI of mean Δ)`` over seeds, from per-seed ``((mean, ci), (mean, ci))`` pairs.

    The CI is the larger of two: the evaluation noise of the mean, ``sqrt(Σ ci_a² + ci_b²) / n``, and the
    seed-to-seed spread, ``t(n−1) · sd(Δ) / √n`` (Student's t at 97.5 %). With 3 seeds the second is wide on
    purpose: three training runs say little about a small difference.
    """
    n = len(pairs)
    if n < 2:
        raise ValueError(f"`pairs` must hold at least 2 seeds to pool, got {n}.")
    deltas = np.array([a[0] - b[0] for a, b in pairs])
    noise = float(np.sqrt(sum(a[1] ** 2 + b[1] ** 2 for a, b in pairs)) / n)
    spread = float(_T975.get(n - 1, 2.0) * deltas.std(ddof=1) / np.sqrt(n))
    a_mean = (float(np.mean([a[0] for a, _ in pairs])), 0.0)
    b_mean = (float(np.mean([b[0] for _, b in pairs])), 0.0)
    return a_mean, b_mean, float(deltas.mean()), max(noise, spread)


def claims_table(rows: list[dict]) -> str:
    lines = ["| claim | a | b | metric | a | b | Δ = a − b | verdict |", "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['claim']} | {r['a']} | {r['b']} | {r['metric'].replace('_', ' ')} | {r['a_value'][0]:.3f} | "
            f"{r['b_value'][0]:.3f} | {r['delta']:+.3f} ± {r['ci95']:.3f} | {r['verdict']} |"
        )
    return "\n".join(lines)


VERDICT_COLOURS = {"holds": "tab:green", "holds (no loss beyond CI)": "tab:olive", "not shown": "tab:grey",
                   "refuted": "tab:red"}  # fmt: skip


def plot_claims(rows: list[dict], ax=None):
    """A forest plot: one line per comparison, Δ = a − b with its 95 % CI, coloured by verdict."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.42 * max(len(rows), 1) + 1.2))
    for i, r in enumerate(rows):
        c = VERDICT_COLOURS[r["verdict"]]
        ax.errorbar(r["delta"], i, xerr=r["ci95"], fmt="o", color=c, capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    labels = [f"{r['claim']}  [{r['a']} − {r['b']}]" for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Δ = a − b (mean ± 95 % CI)")
    for verdict, c in VERDICT_COLOURS.items():
        ax.scatter([], [], color=c, label=verdict)
    ax.legend(fontsize=7, loc="lower right")
    return ax


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


def grid_table(grid: dict) -> str:
    """Markdown table of a guidance grid: identity accuracy, text adherence and copy-paste at each
    (order, s_ref), across s_txt; then the largest 95 % half-width in the grid and the independence check."""
    s_txt = sorted({c["s_txt"] for c in grid["cells"]})
    cols = " / ".join(f"{v:g}" for v in s_txt)
    head = [f"{m} at s_txt = {cols}" for m in ("identity", "text adherence", "copy-paste")]
    lines = [
        "| order | s_ref | " + " | ".join(head) + " |",
        "|---|---:|---|---|---|",
    ]
    for order in sorted({c["order"] for c in grid["cells"]}):
        for s_ref in sorted({c["s_ref"] for c in grid["cells"]}):
            row = sorted(
                (c for c in grid["cells"] if c["order"] == order and c["s_ref"] == s_ref), key=lambda c: c["s_txt"]
            )
            cells = [
                " / ".join(f"{c[m][0]:.3f}" for c in row) for m in ("identity_accuracy", "text_adherence", "copy_paste")
            ]
            lines.append(f"| {order} | {s_ref:g} | " + " | ".join(cells) + " |")
    ci = {m: max(c[m][1] for c in grid["cells"]) for m in ("identity_accuracy", "text_adherence")}
    lines += [
        "",
        f"{len(grid['cells'])} cells of {grid['clips']} held-out clips, {grid['steps']} sampling steps, "
        f"{grid['minutes']:.0f} minutes; 95 % half-widths up to ±{ci['identity_accuracy']:.3f} (identity) and "
        f"±{ci['text_adherence']:.3f} (text adherence) per cell.",
        "",
    ]
    lines += [f"- {line}" for line in independence(grid)]
    return "\n".join(lines)


def plot(variants: dict, grids: dict[str, dict] | None, folder: Path = RESULTS) -> list[Path]:
    """Bar chart and claims forest plot of the variants, and one heat-map figure ``<name>.png`` per grid
    of ``grids`` (``{name: grid}``, as :func:`load_grids` returns)."""
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
        rows = claims(variants)
        if rows:
            ax = plot_claims(rows)
            ax.figure.tight_layout()
            paths.append(folder / "claims.png")
            ax.figure.savefig(paths[-1], dpi=110)
            plt.close(ax.figure)
    for name, grid in (grids or {}).items():
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
                ref = "clip-frame" if grid.get("ref_mode") == "clip" else "evaluation"
                ax.set_title(f"{order}: {metric.replace('_', ' ')} ({ref} references)", fontsize=9)
                for (r, c), v in np.ndenumerate(a):
                    ax.text(c, r, f"{v:.3f}", ha="center", va="center", color="w", fontsize=8)
                plt.colorbar(im, ax=ax)
        plt.tight_layout()
        paths.append(folder / f"{name}.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
