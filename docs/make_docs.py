"""Regenerate the numbers in README.md and docs/BASE.md that come from results files, between
``<!-- generated: NAME -->`` and ``<!-- end generated -->`` markers.

    python docs/make_docs.py          # rewrite the blocks
    python docs/make_docs.py --check  # exit 1 if a block is stale (tests/test_docs.py runs this)

Blocks:
* README ``results``: the headline table, from ``docs/results/eval.json`` (written by ``stdrc eval``).
* README ``errors``: how many bad inputs ``docs/ERRORS.md`` lists.
* README ``notebook_times``: each notebook's measured run time, smoke and full mode, from
  ``docs/results/notebook_times.json`` (written by ``python bench/notebook_times.py``).
* ABLATION.md ``claims_summary`` (the claims table at the top) and ``claims_results`` (the runs, every contrast,
  the pictures), from ``docs/claims/`` (written by ``python bench/claims.py``), decided by
  ``stdrc_lib.toy.claims``; a claim whose runs are not all scored reads "pending".
* BASE.md ``base``: the base model's scores, from ``docs/results/base/eval.json`` (written by
  ``python -m stdrc_lib.toy.base_eval``), and its training minutes, from the shipped base's manifest.
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
    "text_adherence": "text adherence",
    "copy_layout": "layout copy",
    "copy_background": "scene copy",
    "temporal_consistency": "temporal consistency",
}
ROWS = {
    "model": "ST-DRC (base + adapter)",
    "no_reference": "the same, no reference",
    "other_person": "another person's reference",
    "ground_truth": "ground truth",
}
# the targets of docs/STDRC.md, fixed before the headline ran: (what, value, the bound, met when)
TARGETS = (
    ("identity accuracy", ("results", "model", "identity_accuracy"), 0.80, "≥"),
    ("identity, paired gain over no reference", ("paired", "model_minus_no_reference", "identity_accuracy"), 0.35, "≥"),
    ("layout copy, paired change", ("paired", "model_minus_no_reference", "copy_layout"), 0.02, "≤"),
    ("scene copy, paired change", ("paired", "model_minus_no_reference", "copy_background"), 0.02, "≤"),
    ("position copy, paired change", ("paired", "model_minus_no_reference", "copy_position"), 0.02, "≤"),
    ("text adherence, paired change", ("paired", "model_minus_no_reference", "text_adherence"), -0.02, "≥"),
    ("another person: identity of the target, paired change", ("paired", "other_person_minus_no_reference",
     "identity_accuracy"), 0.0, "≤"),
    ("another person: identity of that person, paired change", ("paired", "other_person_minus_no_reference",
     "identity_accuracy_other"), 0.0, ">"),
)  # fmt: skip


def _pm(s: dict, signed: bool = False) -> str:
    return f"{s['mean']:+.3f} ± {s['ci95']:.3f}" if signed else f"{s['mean']:.3f} ± {s['ci95']:.3f}"


def _met(value: float, op: str, bound: float) -> bool:
    return {"≥": value >= bound, "≤": value <= bound, ">": value > bound}[op]


def results_block(path: Path = ROOT / "docs" / "results" / "eval.json") -> str:
    d = json.loads(path.read_text())
    g = d["guidance"]
    head = "| | " + " | ".join(METRICS.values()) + " |\n|---|" + "---:|" * len(METRICS) + "\n"
    rows = [
        f"| {label} | " + " | ".join(_pm(d["results"][r][m]) if m in d["results"][r] else "" for m in METRICS) + " |"
        for r, label in ROWS.items()
        if r in d["results"]
    ]
    paired = d["paired"]["model_minus_no_reference"]
    rows.append("| **reference − no reference, paired per clip** | " + " | ".join(
        "" if m not in paired else f"**{_pm(paired[m], True)}**" if m == "identity_accuracy" else _pm(paired[m], True)
        for m in METRICS
    ) + " |")  # fmt: skip
    targets = ["", "| target (fixed in advance, docs/STDRC.md) | measured | |", "|---|---:|---|"]
    for what, (part, row, metric), bound, op in TARGETS:
        cell = d.get(part, {}).get(row, {}).get(metric)
        if cell is None:
            continue
        ok = _met(cell["mean"], op, bound)
        shown = f"{bound:+.2f}" if part == "paired" else f"{bound:.2f}"
        targets.append(f"| {what} {op} {shown} | {_pm(cell, part == 'paired')} | {'met' if ok else '**missed**'} |")
    note = (
        f"\n{d['n']} held-out clips (held-out identities × held-out prompts; references of the same person in "
        f"another pose, place, scale, light and background, given whole and in their own light), mean ± 95 % CI; "
        f"{d['steps']} Euler steps, `s_ref = {g['s_ref']:g}`, `s_txt = {g['s_txt']:g}`, `{g['order']}`; scored by the "
        f"base's scoring readout. From `{path.relative_to(ROOT)}`.\n"
    )
    return head + "\n".join(rows) + "\n" + "\n".join(targets) + "\n" + note


def errors_block(path: Path = ROOT / "docs" / "ERRORS.md") -> str:
    n = sum(1 for line in path.read_text().splitlines() if line.startswith("| ") and not line.startswith("| input |"))
    return f"- [docs/ERRORS.md](docs/ERRORS.md): {n} bad inputs and the exact message each one gets.\n"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def notebook_times_block(path: Path = ROOT / "docs" / "results" / "notebook_times.json") -> str:
    d = json.loads(path.read_text())
    cores = {r.get("cores") for r in d["runs"]}
    rows = [f"| {name} | {_duration(t.get('smoke'))} | {_duration(t.get('full'))} |"
            for name, t in sorted(d["seconds"].items())]  # fmt: skip
    return (
        "| notebook | smoke mode (`STDRC_SMOKE=1`, CI) | full mode |\n|---|---:|---:|\n" + "\n".join(rows) + "\n\n"
        f"Each notebook run end to end under nbmake (a fresh kernel) on a {'/'.join(str(c) for c in sorted(cores))}"
        f"-core machine by `python bench/notebook_times.py` (`{path.relative_to(ROOT)}`); a notebook's header "
        "states the same.\n"
    )


BASE_ROWS = {
    "ground_truth": "the renderer's clip",
    "vae_reconstruction": "VAE reconstruction",
    "image_to_video": "image-to-video (frames 1–16)",
    "text_to_video": "text-to-video",
}
BASE_METRICS = {
    "psnr": "PSNR (dB)",
    "identity_accuracy": "identity",
    "text_adherence": "text adherence",
    "temporal_consistency": "cross-frame identity agreement",
}
BASE_MINUTES = {"vae": "VAE", "readout": "training readout", "scorer": "scoring readout",
                "transformer_cache": "encoding the clips", "transformer": "transformer",
                "keyframes_cache": "the keyframe stage's clips", "keyframes": "keyframe stage"}  # fmt: skip


def base_block(
    path: Path = ROOT / "docs" / "results" / "base" / "eval.json",
    manifest: Path = ROOT / "data" / "toy" / "base" / "manifest.json",
) -> str:
    d = json.loads(path.read_text())
    res = d["results"]
    head = "| | " + " | ".join(BASE_METRICS.values()) + " |\n|---|" + "---:|" * len(BASE_METRICS) + "\n"

    def cell(r: str, m: str) -> str:
        if m not in res[r] or (r, m) == ("text_to_video", "identity_accuracy"):
            return ""
        return f"{res[r][m]['mean']:.1f} ± {res[r][m]['ci95']:.1f}" if m == "psnr" else _pm(res[r][m])

    rows = [f"| {label} | " + " | ".join(cell(r, m) for m in BASE_METRICS) + " |" for r, label in BASE_ROWS.items()
            if r in res]  # fmt: skip
    targets = ["", "| target (fixed before the base was trained) | measured | |", "|---|---:|---|"]
    for r, per in d["targets"].items():
        for m, t in per.items():
            shown = f"{t['mean']:.1f} dB" if m == "psnr" else f"{t['mean']:.3f}"
            label = f"{BASE_ROWS[r]}: {BASE_METRICS[m]} ≥ {t['target']:g}"
            targets.append(f"| {label} | {shown} | {'met' if t['reached'] else '**missed**'} |")
    m = json.loads(manifest.read_text())
    mins = m["minutes"]
    tr = m.get("training", {}).get("transformer", {})
    if "resumed_at" not in tr:  # a trainer that counted only the run which finished the weights
        mins = {k: v for k, v in mins.items() if k != "transformer_cache"}
        mins["transformer"] = None
    spent = ", ".join(f"{label} {mins[k]:.0f} min" for k, label in BASE_MINUTES.items() if mins.get(k) is not None)
    if mins.get("transformer") is None and tr:
        spent += f"; the transformer's last run {tr['train_minutes']:.0f} min, {tr['sec_per_step']:.2f} s a step"
    note = (
        f"\n{d['n']} held-out clips (held-out identities × held-out prompts), mean ± 95 % CI; "
        f"{d['steps']} Euler steps, `s_txt = {d['s_txt']:g}`; scored by the scoring readout. "
        f"From `{path.relative_to(ROOT)}`.\n\n"
        "Text-to-video chooses its own person, so its identity against the clip's means nothing and is left out.\n\n"
        f"Training on the 2-core machine (`{manifest.relative_to(ROOT)}`): {spent}.\n"
    )
    return head + "\n".join(rows) + "\n" + "\n".join(targets) + "\n" + note


CLAIMS = ROOT / "docs" / "claims"
PAPER = {
    "P1": "TASS-RoPE reduces copy-paste against shared positions, keeping identity",
    "P2": "Appearance-invariant augmentation reduces copy-paste",
    "P3": "The face-guided identity loss raises identity",
    "G1": "Identity rises with the reference scale while text adherence keeps",
    "G2": "Text adherence rises with the text scale while identity keeps",
}


def _ci(r: dict) -> str:
    from stdrc_lib.toy.claims import format_interval

    return format_interval(r)


def claims_summary_block(folder: Path = CLAIMS) -> str:
    from stdrc_lib.toy import claims as CL

    st = CL.decide(folder)
    missing, primary, lines, g_missing, guidance = (st[k] for k in ("missing", "primary", "guidance_lines",
                                                                    "guidance_missing", "guidance"))  # fmt: skip
    rows = ["| claim (the paper's) | verdict | effect [interval] | on |", "|---|---|---|---|"]
    for c in CL.PRIMARY:
        if primary is None:
            todo = missing[c.key]
            rows.append(f"| {c.key}. {PAPER[c.key]} | pending | {6 - len(todo)} of 6 runs scored | |")
            continue
        r = next(r for r in primary if r["claim"] == c.key)
        rows.append(
            f"| {c.key}. {PAPER[c.key]} | **{r['verdict']}** | {r['metric'].replace('_', ' ')}, `{r['contrast']}`: "
            f"{_ci(r)} | {r['seeds']} seeds × {r['clips']} clips, {100 * r['level']:.1f} % (Holm) |"
        )
    for key in ("G1", "G2"):
        if guidance is None:
            n = len(lines[key])
            done = n - len(g_missing[key])
            rows.append(f"| {key}. {PAPER[key]} | pending | {done} of {n} grid cells scored | |")
            continue
        r = next(r for r in guidance if r["claim"] == key)
        effect = "; ".join(f"`{o}` {_ci(v['slope'])}" for o, v in r["orders"].items())
        clips = next(iter(r["orders"].values()))["slope"]["clips"]
        rows.append(
            f"| {key}. {PAPER[key]} | **{r['verdict']}** | {r['metric'].replace('_', ' ')} per doubling of "
            f"`{r['knob']}`: {effect} | both orders × {clips} clips, 95 % |"
        )
    return (
        "\n".join(rows) + "\n\nGenerated by `python docs/make_docs.py` from the results in `docs/claims/`; "
        "the rules are the protocol's, below.\n"
    )


def _reproduces_headline(run: Path, headline: Path = ROOT / "docs" / "results" / "eval.json") -> str | None:
    """Whether a rerun of the shipped recipe scores exactly as the shipped adapter did on the same clips."""
    if not run.is_file() or not headline.is_file():
        return None
    a, b = (json.loads(p.read_text()) for p in (run, headline))
    if (a.get("n"), a.get("seed")) != (b.get("n"), b.get("seed")):
        return None
    rows = ("model", "no_reference")
    equal = all(a["per_clip"][r][m] == b["per_clip"][r][m] for r in rows for m in a["per_clip"][r])
    return "equal, value for value," if equal else "differ from"


def claims_results_block(folder: Path = CLAIMS) -> str:
    from stdrc_lib.core.config import ORDERS
    from stdrc_lib.toy import claims as CL

    st = CL.decide(folder)
    cells, missing, primary, g_missing, guidance = (st[k] for k in ("cells", "missing", "primary",
                                                                    "guidance_missing", "guidance"))  # fmt: skip
    n_grid = len(ORDERS) * len(st["grid"][0]) * len(st["grid"][1])  # every cell of the grid, in every order
    out = ["### Runs scored", ""]
    metrics = ("identity_accuracy", "copy_layout", "copy_background", "text_adherence")
    out.append(
        "| run | "
        + " | ".join(METRICS[m] for m in metrics)
        + " | identity, no reference | minutes (fine-tune + score) |"
    )
    out.append("|---|" + "---:|" * (len(metrics) + 2))
    for f in sorted(folder.glob("*_s*.json")):
        d = json.loads(f.read_text())
        res, t = d["results"], d.get("training", {})
        mins = t.get("train_minutes", 0.0) + t.get("cache_minutes", 0.0)
        row = [_pm(res["model"][m]) for m in metrics] + [_pm(res["no_reference"]["identity_accuracy"])]
        out.append(f"| `{f.stem}` | " + " | ".join(row) + f" | {mins:.0f} + {d['minutes']:.0f} |")
    if len(out) == 4:
        out.append("| (none yet) | | | | | | |")
    same = _reproduces_headline(folder / "tass_s0.json")
    if same is not None:
        out += ["", f"`tass_s0` is the shipped adapter's recipe and seed, fine-tuned again by the study's runner; on "
                f"the headline's clips and noise its per-clip scores {same} the headline's "
                "(`docs/results/eval.json`)."]  # fmt: skip
    m = CL.study_minutes(folder)
    spent = (
        f"{m['fine_tuning']:.0f} min fine-tuning, {m['scoring']:.0f} min scoring the variants, "
        f"{m['guidance_grid']:.0f} min scoring the guidance grid ({m['total'] / 60:.1f} h in all)"
    )
    complete = (
        primary is not None  # every primary arm, every seed
        and all(v in st["scores"] for a, b, _ in CL.SECONDARY for v in (a, b))
        and len(cells) == n_grid
        and st["attention"] is not None
    )
    when = "The whole study's time" if complete else "Time so far"
    out += ["", f"Mean ± 95 % CI over the protocol's 256 clips. {when} on the 2-core machine: {spent}; wall-clock "
            "time of the runs' own processes, so a run that shared the machine or was paused counts in full (an upper "
            "bound on the study's compute).", ""]  # fmt: skip
    out += ["### Primary claims", ""]
    if primary is None:
        todo = sorted({r for v in missing.values() for r in v})
        out.append(f"Pending: {len(todo)} runs still to score ({', '.join(f'`{r}`' for r in todo)}).")
        both = {c.key: sorted(set(st["scores"].get(c.a, {})) & set(st["scores"].get(c.b, {}))) for c in CL.PRIMARY}
        interim = [c for c in CL.PRIMARY if both[c.key]]  # the claims with a seed scored for both arms
        if interim:
            out += ["", "Interim, on the seeds scored for both arms so far (95 %: the wider of the clip bootstrap and "
                    "t over seeds, no Holm correction; not a verdict):", ""]  # fmt: skip
            for c in interim:
                ci = CL.interval(CL.paired_differences(st["scores"], c.a, c.b, c.metric))
                seeds = ("seed " if len(both[c.key]) == 1 else "seeds ") + ", ".join(str(s) for s in both[c.key])
                line = f"- {c.key}, `{c.a} − {c.b}` ({seeds}), {c.metric.replace('_', ' ')}: {_ci(ci)}"
                if c.condition is not None:
                    metric, bound = c.condition
                    cond = CL.interval(CL.paired_differences(st["scores"], c.a, c.b, metric))
                    line += (
                        f"; its condition, {metric.replace('_', ' ')}: {_ci(cond)} (lower end must exceed {bound:+.2f})"
                    )
                out.append(line)
    else:
        out.append(CL.claims_table(primary))
        if st["post_hoc"]:
            out += ["", CL.POST_HOC_CAPTION, "", CL.secondary_table(st["post_hoc"])]
    pics = [f"![{c.key}: {c.a} and {c.b} on the same clips and noise](claims/{c.key}.png)" for c in CL.PRIMARY
            if (folder / f"{c.key}.png").is_file()]  # fmt: skip
    if pics:
        out += ["", "Each picture: the reference, then frames 0, 4, 8, 12 and 16 of the two arms (seed 0) on the same "
                "clips and noise.", "", *pics]  # fmt: skip
    out += ["", "### Three-stream guidance", ""]
    if guidance is None:
        n = len({c for v in g_missing.values() for c in v})
        out.append(f"Pending: {n} cells on the claims' lines still to score ({len(cells)} of the grid scored).")
    else:
        out.append(CL.guidance_table(guidance))
        for r in guidance:
            other = "s_txt" if r["knob"] == "s_ref" else "s_ref"
            out += ["", f"{r['claim']}, the means along `{r['knob']}` ({other} at its default; 96 clips each):", ""]
            out.append(CL.guidance_means_table(r))
        out.append("")
        out += [f"![{k}](claims/{k}.png)" for k in ("G1", "G2") if (folder / f"{k}.png").is_file()]
    if cells:
        left = "" if len(cells) >= n_grid else f"; {n_grid - len(cells)} of {n_grid} cells not scored yet, –"
        out += ["", f"The whole grid, identity / text adherence, mean over 96 clips per cell{left}:", "",
                CL.grid_table(cells, st["grid"])]  # fmt: skip
    out += ["", "### Exploratory comparisons (one seed, no multiplicity control)", ""]
    secondary = st["secondary"]
    out.append(CL.secondary_table(secondary) if secondary else "Pending: no pair scored yet.")
    att = st["attention"]
    out += ["", "Pixel-aligned attention (frame-0 queries' share of reference attention on the reference token at "
            "their own position; mean over layers and heads, conditional stream, last step):", ""]  # fmt: skip
    if att is None:
        out.append("Pending: `python bench/claims.py --attention` has not run.")
    else:
        out += ["| variant | share (95 % interval) | minus `shared`, paired |", "|---|---:|---:|"]
        for r in CL.attention_rows(att["per_clip"]):
            diff = _ci(r["minus_baseline"]) if "minus_baseline" in r else "–"
            out.append(f"| `{r['variant']}` | {r['share']['mean']:.3f} [{r['share']['lo']:.3f}, "
                       f"{r['share']['hi']:.3f}] | {diff} |")  # fmt: skip
    return "\n".join(out) + "\n"


FILES = {
    ROOT / "README.md": {"results": results_block, "errors": errors_block, "notebook_times": notebook_times_block},
    ROOT / "docs" / "BASE.md": {"base": base_block},
    ROOT / "docs" / "ABLATION.md": {"claims_summary": claims_summary_block, "claims_results": claims_results_block},
}


def render(text: str, blocks: dict, name_of_file: str = "README.md") -> str:
    for name, make in blocks.items():
        pat = re.compile(rf"(<!-- generated: {name} -->\n)(.*?)(<!-- end generated -->)", re.S)
        if not pat.search(text):
            raise SystemExit(f"{name_of_file} has no `<!-- generated: {name} -->` block")
        text = pat.sub(lambda m, make=make: m[1] + make() + m[3], text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a generated block is not current")
    args = ap.parse_args(argv)
    stale = []
    for path, blocks in FILES.items():
        old = path.read_text()
        new = render(old, blocks, path.name)
        if new == old:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.write_text(new)
            print(f"wrote {path}")
    if stale:
        print(f"generated blocks are stale in {', '.join(stale)}; run python docs/make_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
