"""The paper's claims as paired contrasts with decision rules fixed in advance (``docs/ABLATION.md``).

Each variant is scored per clip on the same held-out clips and noise (``stdrc eval``'s ``per_clip``). A contrast
is the mean over clips and seeds of the paired per-clip difference between two variants; its interval is the wider
of a bootstrap over clips (a clip's differences in every seed move together) and Student's t over the seed means.
A claim **holds** when its interval lies on the claimed side of zero and its condition holds; it is **refuted**
when the interval lies on the wrong side, or inside ±margin; otherwise it is **not shown**. The primary claims are
Holm-corrected: each interval is taken at its Holm-adjusted level.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .weights import packaged

# the study's results: docs/claims/ in a checkout, stdrc_lib/claims/ in an install (bench/claims.py writes them)
RESULTS = packaged("stdrc_lib.claims", Path(__file__).resolve().parents[2] / "docs" / "claims")
ALPHA = 0.05
BOOTSTRAPS = 10_000


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    a: str  # variant whose mean is compared ...
    b: str  # ... with this one's: the contrast is a − b
    metric: str
    side: int  # +1: a − b > 0 claimed; −1: a − b < 0 claimed
    margin: float
    condition: tuple[str, float] | None = None  # (metric, bound): the lower end of its a − b interval must exceed it


PRIMARY = (
    Claim("P1", "TASS-RoPE reduces layout copying against shared positions, keeping identity", "tass", "shared",
          "copy_layout", -1, 0.02, ("identity_accuracy", -0.03)),
    Claim("P2", "Appearance-invariant augmentation reduces copy-paste", "tass", "tass_noaug",
          "copy_layout_and_scene", -1, 0.02, ("identity_accuracy", -0.03)),
    Claim("P3", "The face-guided identity loss raises identity", "tass", "tass_noid",
          "identity_accuracy", +1, 0.02, ("text_adherence", -0.02)),
)  # fmt: skip


def load_scores(folder: Path = RESULTS) -> dict:
    """``scores[variant][seed]``: the model row's per-clip values of every scored variant
    (``<variant>_s<seed>.json``)."""
    scores: dict = {}
    for f in sorted(Path(folder).glob("*_s*.json")) if Path(folder).is_dir() else []:
        name, _, seed = f.stem.rpartition("_s")
        scores.setdefault(name, {})[int(seed)] = json.loads(f.read_text())["per_clip"]["model"]
    return scores


def metric_values(per_clip: dict, metric: str) -> np.ndarray:
    """One metric of one scored variant, per clip; ``copy_layout_and_scene`` is the mean of the two copy parts."""
    if metric == "copy_layout_and_scene":
        return 0.5 * (np.asarray(per_clip["copy_layout"]) + np.asarray(per_clip["copy_background"]))
    if metric not in per_clip:
        raise KeyError(f"metric {metric!r} is not among the scored ones: {sorted(per_clip)}.")
    return np.asarray(per_clip[metric], dtype=float)


def paired_differences(scores: dict, a: str, b: str, metric: str) -> np.ndarray:
    """``(seeds, clips)`` per-clip differences ``a − b`` for the seeds both variants have. ``scores[variant][seed]``
    is a ``per_clip`` dict of the model row."""
    seeds = sorted(set(scores.get(a, {})) & set(scores.get(b, {})))
    if not seeds:
        raise ValueError(f"no seed scored for both {a!r} and {b!r}.")
    pairs = [(metric_values(scores[a][s], metric), metric_values(scores[b][s], metric)) for s in seeds]
    if len({x.shape for pair in pairs for x in pair}) != 1:
        raise ValueError(f"{a!r} and {b!r} were scored on different numbers of clips; the contrast must be paired.")
    return np.stack([x - y for x, y in pairs])


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (numerical inversion of the CDF; accurate to about 1e-4)."""
    if df < 1:
        raise ValueError(f"`df` must be ≥ 1, got {df}.")
    x = np.linspace(0.0, 200.0, 400_001)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(x**2 / df))
    cdf = 0.5 + np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))])
    return float(np.interp(p, cdf, x)) if p >= 0.5 else -float(np.interp(1 - p, cdf, x))


def interval(diffs: np.ndarray, level: float = 0.95, seed: int = 0) -> dict:
    """Mean of ``(seeds, clips)`` paired differences with the wider of the clip-bootstrap and seed-t intervals, and
    a two-sided bootstrap p-value for "no difference"."""
    mean = float(diffs.mean())
    rng = np.random.default_rng(seed)
    n = diffs.shape[1]
    boot = diffs.mean(0)[rng.integers(0, n, size=(BOOTSTRAPS, n))].mean(1)
    tail = (1 - level) / 2
    lo, hi = (float(v) for v in np.quantile(boot, [tail, 1 - tail]))
    seed_means = diffs.mean(1)
    if len(seed_means) > 1:
        half = t_quantile(1 - tail, len(seed_means) - 1) * seed_means.std(ddof=1) / math.sqrt(len(seed_means))
        lo, hi = min(lo, mean - half), max(hi, mean + half)
    p = min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
    return {"mean": mean, "lo": lo, "hi": hi, "level": level, "p": p, "seeds": int(diffs.shape[0]), "clips": n}


def format_interval(r: dict) -> str:
    """``+0.012 [-0.003, +0.027]``: an interval from :func:`interval` (its mean, then its ends), as every table shows
    it."""
    if not isinstance(r, dict) or not {"mean", "lo", "hi"} <= set(r):
        raise TypeError(f"`r` must be an interval from claims.interval (a dict with mean, lo and hi), got {r!r}.")
    return f"{r['mean']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]"


def verdict(ci: dict, side: int, margin: float, condition_ok: bool = True) -> str:
    """The protocol's rule: holds, refuted or not shown."""
    claimed = ci["hi"] < 0 if side < 0 else ci["lo"] > 0
    wrong = ci["lo"] > 0 if side < 0 else ci["hi"] < 0
    negligible = -margin < ci["lo"] and ci["hi"] < margin
    if wrong or negligible:  # an effect inside ±margin is too small to matter, even when it excludes zero
        return "refuted"
    if claimed and condition_ok:
        return "holds"
    return "not shown"


def holm_levels(pvalues: list[float], alpha: float = ALPHA) -> list[float]:
    """Holm's step-down: the claim with the k-th smallest p-value (k = 0, 1, …) is tested at α / (m − k); returned
    as confidence levels, in the order given."""
    m = len(pvalues)
    order = np.argsort(pvalues, kind="stable")
    levels = [0.0] * m
    for rank, i in enumerate(order):
        levels[i] = 1 - alpha / (m - rank)
    return levels


def evaluate_claims(scores: dict, claims=PRIMARY, alpha: float = ALPHA) -> list[dict]:
    """Every claim's contrast, interval (at its Holm-adjusted level), condition and verdict."""
    first = [interval(paired_differences(scores, c.a, c.b, c.metric)) for c in claims]
    levels = holm_levels([f["p"] for f in first], alpha)
    rows = []
    for c, level in zip(claims, levels):
        ci = interval(paired_differences(scores, c.a, c.b, c.metric), level)
        cond, ok = None, True
        if c.condition is not None:
            metric, bound = c.condition
            cond = interval(paired_differences(scores, c.a, c.b, metric), level)
            ok = cond["lo"] > bound
        rows.append({"claim": c.key, "text": c.text, "contrast": f"{c.a} − {c.b}", "metric": c.metric,
                     "margin": c.margin, **ci, "condition": c.condition and {"metric": c.condition[0],
                     "bound": c.condition[1], **cond}, "verdict": verdict(ci, c.side, c.margin, ok)})  # fmt: skip
    return rows


def claims_table(rows: list[dict]) -> str:
    """Markdown: one line per claim."""
    lines = ["| claim | contrast | metric | difference (interval) | condition | verdict |"]
    lines.append("|---|---|---|---:|---|---|")
    for r in rows:
        cond = r["condition"]
        c = "–"
        if cond:
            c = f"{cond['metric']}: {format_interval(cond)}"
            c += f", bound {cond['bound']:+.2f}"
        lines.append(
            f"| {r['claim']}. {r['text']} | `{r['contrast']}` | {r['metric']} | "
            f"{format_interval(r)} at {r['level']:.3f} | {c} | **{r['verdict']}** |"
        )
    return "\n".join(lines)


# Three-stream guidance on the shipped adapter (docs/ABLATION.md): a grid of both scales in both orders, the same
# clips and noise in every cell; the claims are slopes per doubling of a scale.
GUIDANCE_S_REF = (1.0, 2.0, 4.0, 8.0)
GUIDANCE_S_TXT = (1.0, 2.0, 3.0, 5.0)
GUIDANCE_EVAL = dict(n=96, seed=2)  # not the headline's clips, nor the sweep's
GUIDANCE_MARGIN = 0.02


def guidance_grid(s_ref_default: float, s_txt_default: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The grid's ``s_ref`` and ``s_txt`` values: the protocol's, plus the library's defaults where they are not
    among them (each claim is tested through the other knob's default)."""
    return tuple(sorted({*GUIDANCE_S_REF, s_ref_default})), tuple(sorted({*GUIDANCE_S_TXT, s_txt_default}))


def guidance_cell_name(order: str, s_ref: float, s_txt: float) -> str:
    return f"{order}_sref{s_ref:g}_stxt{s_txt:g}"


def load_guidance(folder: Path = RESULTS / "guidance") -> dict:
    """``cells[(order, s_ref, s_txt)]``: the model row's per-clip values of every scored cell."""
    cells = {}
    for f in sorted(Path(folder).glob("*_sref*_stxt*.json")) if Path(folder).is_dir() else []:
        d = json.loads(f.read_text())
        g = d["guidance"]
        cells[(g["order"], float(g["s_ref"]), float(g["s_txt"]))] = d["per_clip"]["model"]
    return cells


def slopes(values: np.ndarray, scales) -> np.ndarray:
    """Per-clip least-squares slope of ``values`` (scales, clips) against log2 of the scale: change per doubling."""
    x = np.log2(np.asarray(scales, dtype=float))
    x = x - x.mean()
    return (x[:, None] * (values - values.mean(0))).sum(0) / (x**2).sum()


def guidance_claims(cells: dict, s_ref_default: float, s_txt_default: float, margin: float = GUIDANCE_MARGIN) -> list:
    """G1: identity rises with ``s_ref`` (at the default ``s_txt``) while text adherence, from the smallest to the
    largest ``s_ref``, stays above −margin; G2 mirrored for ``s_txt`` (at the default ``s_ref``). Decided per order;
    a claim holds when it holds in both orders, is refuted when refuted in either, and is not shown otherwise."""
    claims = (
        ("G1", "Identity rises with s_ref while text adherence keeps", "s_ref", "identity_accuracy", "text_adherence"),
        ("G2", "Text adherence rises with s_txt while identity keeps", "s_txt", "text_adherence", "identity_accuracy"),
    )
    rows = []
    for key, text, knob, metric, kept in claims:
        per_order = {}
        for order in sorted({o for o, _, _ in cells}):
            if knob == "s_ref":
                line = sorted((s, c) for (o, s, t), c in cells.items() if o == order and t == s_txt_default)
            else:
                line = sorted((t, c) for (o, s, t), c in cells.items() if o == order and s == s_ref_default)
            if len(line) < 2:
                raise ValueError(f"the {order} grid has fewer than two {knob} values scored; nothing to fit.")
            scales = [s for s, _ in line]
            ys = np.stack([metric_values(c, metric) for _, c in line])
            keep = np.stack([metric_values(c, kept) for _, c in line])
            ci = interval(slopes(ys, scales)[None])
            cond = interval((keep[-1] - keep[0])[None])
            ok = cond["lo"] > -margin
            per_order[order] = {"scales": scales, "slope": ci, "kept_change": cond,
                                "verdict": verdict(ci, +1, margin, ok),
                                "means": {metric: ys.mean(1).tolist(), kept: keep.mean(1).tolist()}}  # fmt: skip
        verdicts = [v["verdict"] for v in per_order.values()]
        overall = "refuted" if "refuted" in verdicts else "holds" if set(verdicts) == {"holds"} else "not shown"
        rows.append({"claim": key, "text": text, "knob": knob, "metric": metric, "kept": kept, "margin": margin,
                     "orders": per_order, "verdict": overall})  # fmt: skip
    return rows


def guidance_table(rows: list[dict]) -> str:
    """Markdown: one line per guidance claim and order."""
    lines = ["| claim | order | slope per doubling (95 % interval) | kept metric, smallest → largest scale | verdict |"]
    lines.append("|---|---|---:|---:|---|")
    for r in rows:
        for order, v in r["orders"].items():
            s, k = v["slope"], v["kept_change"]
            lines.append(
                f"| {r['claim']}. {r['text']} | `{order}` | {r['metric']}: {format_interval(s)} | "
                f"{r['kept']}: {format_interval(k)} | {v['verdict']} |"
            )
        lines.append(f"| {r['claim']} overall | both | | | **{r['verdict']}** |")
    return "\n".join(lines)


def guidance_means_table(row: dict) -> str:
    """Markdown: one guidance claim's line, the mean of both metrics at each value of its scale, in each order."""
    if (
        not isinstance(row, dict)
        or not all("means" in v for v in row.get("orders", {}).values())
        or not row.get("orders")
    ):
        raise TypeError(f"`row` must be one row of claims.guidance_claims, got {str(row)[:80]!r}.")
    names = {"identity_accuracy": "identity", "text_adherence": "text adherence"}
    orders = list(row["orders"])
    head = " | ".join(f"{names[m]}, `{o}`" for o in orders for m in (row["metric"], row["kept"]))
    lines = [f"| `{row['knob']}` | {head} |", "|---:|" + "---:|" * (2 * len(orders))]
    for i, scale in enumerate(row["orders"][orders[0]]["scales"]):
        vals = [row["orders"][o]["means"][m][i] for o in orders for m in (row["metric"], row["kept"])]
        lines.append(f"| {scale:g} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines)


GRID_METRICS = {"identity_accuracy": "identity", "text_adherence": "text adherence"}


def grid_means(cells: dict, metric: str, grid: tuple | None = None) -> dict:
    """The guidance grid as arrays: ``{order: (s_refs, s_txts, means)}`` with ``means[i, j]`` the mean of
    ``metric`` over clips at ``s_refs[i]``, ``s_txts[j]``, and NaN where that cell is not scored yet. ``grid``
    ``(s_refs, s_txts)`` lays out the whole grid (``decide``'s ``"grid"``); without it, the scored values only."""
    if metric not in GRID_METRICS:
        raise ValueError(f"`metric` must be one of {sorted(GRID_METRICS)}, got {metric!r}.")
    if grid is not None and not (isinstance(grid, (tuple, list)) and len(grid) == 2):
        raise ValueError(f"`grid` must be (s_refs, s_txts) as claims.guidance_grid gives it, got {grid!r}.")
    out = {}
    for order in sorted({o for o, _, _ in cells}):
        refs = sorted({r for o, r, _ in cells if o == order} | set(grid[0] if grid else ()))
        txts = sorted({t for o, _, t in cells if o == order} | set(grid[1] if grid else ()))
        means = np.full((len(refs), len(txts)), np.nan)
        for (o, r, t), c in cells.items():
            if o == order:
                means[refs.index(r), txts.index(t)] = metric_values(c, metric).mean()
        out[order] = (refs, txts, means)
    return out


def grid_table(cells: dict, grid: tuple | None = None) -> str:
    """Markdown: per order, one row per ``s_ref`` and one column per ``s_txt``, each cell "identity / text"
    ("–" where not scored)."""
    ident, text = grid_means(cells, "identity_accuracy", grid), grid_means(cells, "text_adherence", grid)
    lines = []
    for order, (refs, txts, mi) in ident.items():
        mt = text[order][2]
        lines += [f"| `{order}`: `s_ref` ↓, `s_txt` → | " + " | ".join(f"{t:g}" for t in txts) + " |",
                  "|---:|" + "---:|" * len(txts)]  # fmt: skip
        for i, r in enumerate(refs):
            vals = ["–" if np.isnan(mi[i, j]) else f"{mi[i, j]:.3f} / {mt[i, j]:.3f}" for j in range(len(txts))]
            lines.append(f"| {r:g} | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines[:-1])


def plot_guidance_grid(cells: dict, grid: tuple | None = None, axes=None):
    """Heatmaps of the grid's mean identity and text adherence, one row per order, ``s_txt`` across and ``s_ref``
    down, each cell labelled with its value (blank where not scored). Returns the axes array."""
    import matplotlib.pyplot as plt

    orders = sorted({o for o, _, _ in cells})
    if not orders:
        raise ValueError("`cells` must hold at least one scored guidance cell, got none.")
    if axes is None:
        _, axes = plt.subplots(len(orders), 2, figsize=(8, 3.4 * len(orders)), squeeze=False)
    for col, (metric, name) in enumerate(GRID_METRICS.items()):
        for row, (order, (refs, txts, m)) in enumerate(grid_means(cells, metric, grid).items()):
            ax = axes[row][col]
            im = ax.imshow(m, cmap="viridis", origin="lower")
            ax.set_xticks(range(len(txts)), [f"{t:g}" for t in txts])
            ax.set_yticks(range(len(refs)), [f"{r:g}" for r in refs])
            ax.set_xlabel("s_txt")
            ax.set_ylabel("s_ref")
            ax.set_title(f"{name}, {order}", fontsize=9)
            for (i, j), v in np.ndenumerate(m):
                if not np.isnan(v):
                    bright = im.norm(v) > 0.6  # dark text on the yellow end of viridis
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="k" if bright else "w")
    return axes


# Exploratory comparisons (one seed, 95 % intervals, no multiplicity control): docs/ABLATION.md's secondary list.
SECONDARY = (
    *((v, "tass", m) for v in ("tass_pre", "temporal", "spatial", "nope")
      for m in ("copy_layout", "copy_background", "identity_accuracy")),
    ("shared", "shared_noaug", "copy_layout"),
    ("shared", "shared_noaug", "copy_background"),
)  # fmt: skip


def secondary_contrasts(scores: dict, pairs=SECONDARY, seeds=(0,)) -> list[dict]:
    """Each exploratory contrast ``a − b`` over ``seeds`` (both arms must have every one), with its 95 % interval;
    pairs not yet scored are left out."""
    rows = []
    for a, b, metric in pairs:
        if any(s not in scores.get(v, {}) for v in (a, b) for s in seeds):
            continue
        some = {v: {s: scores[v][s] for s in seeds} for v in (a, b)}
        rows.append({"contrast": f"{a} − {b}", "metric": metric, **interval(paired_differences(some, a, b, metric))})
    return rows


# Contrasts chosen after the primary verdicts were read, to say what they mean; reported with their intervals over
# the primary claims' three seeds, never decided.
POST_HOC = (
    ("tass", "tass_noaug", "copy_layout"),  # P2's metric without its scene half, which no variant shows
    ("tass", "tass_noaug", "text_adherence"),
    ("tass", "tass_noid", "copy_layout"),  # what the identity loss does to copying
    ("tass", "tass_noid", "text_adherence"),  # P3's condition at 95 %, not at its Holm level
    ("tass", "shared", "text_adherence"),
)
POST_HOC_CAPTION = (
    "Read after the verdicts, to say what they mean (contrasts chosen after seeing them, so exploratory: "
    "seeds 0, 1 and 2, no multiplicity control):"
)


def secondary_table(rows: list[dict]) -> str:
    lines = ["| contrast | metric | difference (95 % interval) |", "|---|---|---:|"]
    lines += [f"| `{r['contrast']}` | {r['metric']} | {format_interval(r)} |" for r in rows]
    return "\n".join(lines)


# What the study has scored so far, for the docs: which runs each claim still needs, the pixel-aligned attention,
# and the time the finished runs took.
PRIMARY_SEEDS = (0, 1, 2)


def missing_runs(scores: dict, claim: Claim, seeds=PRIMARY_SEEDS) -> list[str]:
    """The ``<variant>_s<seed>`` runs a primary claim needs that are not scored yet."""
    return [f"{v}_s{s}" for v in (claim.a, claim.b) for s in seeds if s not in scores.get(v, {})]


def guidance_lines(s_ref_default: float, s_txt_default: float) -> dict[str, list[tuple[str, float, float]]]:
    """The grid cells each guidance claim is decided on: G1 along ``s_ref`` at the default ``s_txt``, G2 along
    ``s_txt`` at the default ``s_ref``, in both orders."""
    from ..core.config import ORDERS

    refs, txts = guidance_grid(s_ref_default, s_txt_default)
    return {
        "G1": [(o, r, s_txt_default) for o in ORDERS for r in refs],
        "G2": [(o, s_ref_default, t) for o in ORDERS for t in txts],
    }


def load_attention(folder: Path = RESULTS) -> dict | None:
    """The pixel-aligned attention file (``pixel_aligned.json``): per-clip shares by variant, or None."""
    path = Path(folder) / "pixel_aligned.json"
    return json.loads(path.read_text()) if path.is_file() else None


def attention_rows(per_clip: dict, baseline: str = "shared") -> list[dict]:
    """Each variant's mean pixel-aligned share with its 95 % bootstrap interval, and its paired difference from
    ``baseline`` on the same clips (exploratory)."""
    rows = []
    for v, values in per_clip.items():
        x = np.asarray(values, dtype=float)[None]
        row = {"variant": v, "share": interval(x)}
        if v != baseline and baseline in per_clip:
            row["minus_baseline"] = interval(x - np.asarray(per_clip[baseline], dtype=float)[None])
        rows.append(row)
    return rows


def study_minutes(folder: Path = RESULTS) -> dict:
    """Wall-clock minutes of the finished runs, from their results files: fine-tuning (with the clip cache) and scoring
    of every variant, and scoring of every guidance cell."""
    folder = Path(folder)
    train = score = grid = 0.0
    for f in sorted(folder.glob("*_s*.json")) if folder.is_dir() else []:
        d = json.loads(f.read_text())
        t = d.get("training", {})
        train += t.get("train_minutes", 0.0) + t.get("cache_minutes", 0.0)
        score += d.get("minutes", 0.0)
    for f in sorted((folder / "guidance").glob("*.json")) if (folder / "guidance").is_dir() else []:
        grid += json.loads(f.read_text()).get("minutes", 0.0)
    return {"fine_tuning": train, "scoring": score, "guidance_grid": grid, "total": train + score + grid}


def decide(folder: Path = RESULTS, s_ref: float | None = None, s_txt: float | None = None) -> dict:
    """Everything the study has decided so far, from the results in ``folder``: the primary claims (or, per claim,
    the runs still missing), the guidance claims at the library's default scales (or the cells still missing),
    the exploratory contrasts and the pixel-aligned attention. Read by docs/make_docs.py and notebook 05."""
    from ..core.config import GuidanceConfig

    d = GuidanceConfig()
    s_ref, s_txt = s_ref if s_ref is not None else d.s_ref, s_txt if s_txt is not None else d.s_txt
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"`folder` must be a folder of the claims study's results, got {str(folder)!r}, which does not exist; "
            "they are in docs/claims/ (written by `python bench/claims.py`)."
        )
    scores, cells = load_scores(folder), load_guidance(folder / "guidance")
    missing = {c.key: missing_runs(scores, c) for c in PRIMARY}
    lines = guidance_lines(s_ref, s_txt)
    g_missing = {k: [c for c in v if c not in cells] for k, v in lines.items()}
    guidance = None
    if not any(g_missing.values()):
        guidance = guidance_claims({c: cells[c] for v in lines.values() for c in v}, s_ref, s_txt)
    return {
        "scores": scores,
        "cells": cells,
        "primary": None if any(missing.values()) else evaluate_claims(scores),
        "missing": missing,
        "guidance": guidance,
        "guidance_lines": lines,
        "grid": guidance_grid(s_ref, s_txt),
        "guidance_missing": g_missing,
        "secondary": secondary_contrasts(scores),
        "post_hoc": secondary_contrasts(scores, POST_HOC, PRIMARY_SEEDS),
        "attention": load_attention(folder),
    }


VERDICT_COLOURS = {"holds": "tab:green", "refuted": "tab:red", "not shown": "tab:gray"}


def plot_claims(state: dict, ax=None):
    """Every decided claim as one interval, turned so that the claimed direction points right (a reduction claimed
    as ``a − b < 0`` is drawn as ``b − a``), with its margin shaded and its verdict as the colour; per order for the
    guidance claims. Returns the axes (None when nothing is decided yet)."""
    import matplotlib.pyplot as plt

    items = []
    sides = {c.key: c.side for c in PRIMARY}
    for r in state["primary"] or []:
        s = sides[r["claim"]]
        lo, hi = sorted((s * r["lo"], s * r["hi"]))
        items.append((f"{r['claim']}: {r['metric'].replace('_', ' ')}", s * r["mean"], lo, hi, r["margin"],
                      r["verdict"]))  # fmt: skip
    for r in state["guidance"] or []:
        for order, v in r["orders"].items():
            sl = v["slope"]
            items.append((f"{r['claim']} ({order}): {r['metric'].replace('_', ' ')} per doubling of {r['knob']}",
                          sl["mean"], sl["lo"], sl["hi"], r["margin"], v["verdict"]))  # fmt: skip
    if not items:
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.5 * len(items) + 1.2))
    for y, (_, mean, lo, hi, margin, verdict_) in enumerate(items[::-1]):
        colour = VERDICT_COLOURS[verdict_]
        ax.fill_betweenx([y - 0.35, y + 0.35], -margin, margin, color="0.9", lw=0)
        ax.plot([lo, hi], [y, y], color=colour, lw=3)
        ax.plot([mean], [y], "o", color=colour)
        ax.text(hi, y + 0.15, f"  {verdict_}", color=colour, va="bottom", fontsize=8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(items)), [i[0] for i in items[::-1]], fontsize=8)
    ax.set_xlabel("effect in the claimed direction (grey: inside the margin)")
    return ax


def plot_attention(per_clip: dict, ax=None):
    """Each variant's mean pixel-aligned share as a bar with its 95 % interval over clips. Returns the axes."""
    import matplotlib.pyplot as plt

    rows = attention_rows(per_clip)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 2.5))
    means = [r["share"]["mean"] for r in rows]
    err = [[m - r["share"]["lo"] for m, r in zip(means, rows)], [r["share"]["hi"] - m for m, r in zip(means, rows)]]
    ax.barh([r["variant"] for r in rows], means, xerr=err, color="tab:orange")
    ax.set_xlabel("pixel-aligned share of frame 0's reference attention (95 % interval over clips)")
    return ax
