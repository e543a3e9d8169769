# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Do the paper's claims hold? Reading the claims study
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/stdrc/stdrc/blob/main/notebooks/05_ablation.ipynb)
#
# **What you will learn**
#
# - how a claim is tested: variants fine-tuned from the same base with equal budgets, scored on the same held-out
#   clips and noise, decided by a rule written before the runs
# - how to read a paired difference with its interval, and why "not shown" is not "holds"
# - why several claims tested together need a correction (Holm)
#
# **Prerequisites:** Notebooks 02–04.
#
# **Expected run time:** 5 s on 2 CPU cores: it only reads the study's results (`docs/claims/*.json`, written by
# `python bench/claims.py`, which fine-tunes and scores the variants and is never rerun here).

# %% tags=["skip-execution"]
# Colab only: install stdrc (this cell is tagged `skip-execution`; CI and local runs skip it)
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "stdrc[faces] @ git+https://github.com/stdrc/stdrc.git"],
        check=True,
    )

# %% [markdown]
# ## The paper
#
# Chen et al., *Spatial-Temporal Decoupled Reference Conditioning for Identity-Preserving Text-to-Video Generation*,
# [arXiv:2606.02441](https://arxiv.org/abs/2606.02441) (built on LTX-2.3; no code released). The library implements
# it from the method as described; every choice the paper leaves open is a documented, configurable default.
#
# | the paper's claim | where it is tested |
# |---|---|
# | TASS-RoPE reduces copy-paste against shared positions, keeping identity | P1: `tass − shared`, layout copy |
# | appearance-invariant augmentation reduces copy-paste | P2: `tass − tass_noaug`, layout and scene copy |
# | the face-guided identity loss raises identity | P3: `tass − tass_noid`, identity accuracy |
# | each of TASS's two shifts matters | `temporal`, `spatial`, `nope`, `tass_pre` against `tass` (exploratory) |
# | each guidance scale moves its own condition and leaves the other | G1, G2: slopes along `s_ref` and `s_txt`, both orders |
#
# For a contrast $a - b$ over clips $i$ and seeds $s$, with $d_{is} = m_i(a_s) - m_i(b_s)$ the paired difference of
# metric $m$ on the same clip and noise, the estimate is $\bar d = \frac{1}{SN}\sum_{s,i} d_{is}$. Its interval is the
# wider of a bootstrap over clips and Student's $t$ over the seed means; a claim **holds** when the interval lies on
# the claimed side of 0 (and its condition holds), is **refuted** when it lies on the wrong side or inside
# $\pm$margin, and is **not shown** otherwise. Holm's correction widens each primary interval to level
# $1 - \alpha/(m - k)$ for the claim with the $k$-th smallest p-value.

# %% [markdown]
# ## Configuration

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from stdrc_lib.toy import claims
from stdrc_lib.utils import seed_everything, smoke_mode

SMOKE = smoke_mode()  # nothing to shrink: this notebook never trains
SEED = 0
RESULTS = claims.RESULTS  # docs/claims/ in a clone of the repository, stdrc_lib/claims/ in an install
generator = seed_everything(SEED)
state = claims.decide(RESULTS)  # every claim the saved results decide, and what is still missing
scores = state["scores"]
print(
    f"{sum(len(v) for v in scores.values())} scored variant runs and {len(state['cells'])} guidance cells in {RESULTS}"
)

# %% [markdown]
# ## 1 · The claims, decided
#
# One line per claim: its verdict, or the runs it still waits for (the study runs for hours in the background with
# `python bench/claims.py --all` and is resumable; `--list` shows its progress).

# %%
lines = ["| claim | verdict | effect [interval] |", "|---|---|---|"]
decided = {r["claim"]: r for r in (state["primary"] or []) + (state["guidance"] or [])}
for c in claims.PRIMARY:
    r = decided.get(c.key)
    todo = state["missing"][c.key]
    lines.append(f"| {c.key}. {c.text} | " + (f"**{r['verdict']}** | {r['metric']}: "
                 f"{claims.format_interval(r)}" if r else f"pending | {len(todo)} runs to go") + " |")  # fmt: skip
for key, todo in state["guidance_missing"].items():
    r = decided.get(key)
    effect = r and "; ".join(f"`{o}`: {v['slope']['mean']:+.3f} per doubling, {r['kept'].replace('_', ' ')} "
                             f"{v['kept_change']['mean']:+.3f} end to end" for o, v in r["orders"].items())  # fmt: skip
    lines.append(f"| {key}. {r['text'] if r else 'guidance scale'} | "
                 + (f"**{r['verdict']}** | {effect}" if r else f"pending | {len(todo)} grid cells to go") + " |")  # fmt: skip
display(Markdown("\n".join(lines)))

# %% [markdown]
# A claim that says "while X keeps" needs two things: its effect on the claimed side, and X's change inside its
# bound (0.02 for the guidance claims, from the smallest to the largest scale of the line). A guidance line whose
# own metric rises while the other falls far past the bound is "not shown" by the rule, and is evidence against the
# claim's second half; `docs/ABLATION.md` says what each verdict means for the method.
#
# The same, as a picture: each claim's interval turned so that the direction the paper claims points right, the
# margin shaded grey. An interval right of the grey band holds (if its condition does too); one inside the band or
# left of 0 is refuted; one that crosses the band's edge is not shown.

# %%
ax = claims.plot_claims(state)
if ax is None:
    print("no claim decided yet")
else:
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## 2 · One picture per claim
#
# The two arms of each primary claim on the same held-out clips and noise (the reference first, then frames 0, 4,
# 8, 12 and 16), and for the guidance claims one scale's values on the same clip and noise.

# %%
titles = {c.key: c.text for c in claims.PRIMARY} | {"G1": "identity against s_ref", "G2": "text against s_txt"}
for key, title in titles.items():
    png = RESULTS / f"{key}.png"
    if png.is_file():
        plt.figure(figsize=(11, 6))
        plt.imshow(plt.imread(png))
        plt.axis("off")
        plt.title(f"{key}: {title}")
        plt.show()
    else:
        print(f"{key}: no picture yet (python bench/claims.py --pictures)")

# %% [markdown]
# The guidance claims test two lines through the grid; here is all of it, in both orders: mean identity (left) and
# text adherence (right), `s_txt` across and `s_ref` down, 96 clips per cell. Independent knobs would give
# stripes: identity changing only down a column, text adherence only along a row. Blank cells are not scored yet.

# %%
if state["cells"]:
    claims.plot_guidance_grid(state["cells"], state["grid"])
    plt.tight_layout()
    plt.show()
else:
    print("no guidance cell scored yet (python bench/claims.py --guidance)")

# %% [markdown]
# ## 3 · Look at the clips behind a contrast
#
# A contrast is a mean over clips of paired differences. Pick one: the histogram shows the per-clip differences
# (mean over the seeds both arms have), the line their mean. Many exact zeros mean the two arms agree on most clips
# and the effect lives in a few.

# %%
pairs = [(c.a, c.b, c.metric) for c in claims.PRIMARY] + list(claims.SECONDARY)
pairs = [p for p in pairs if set(scores.get(p[0], {})) & set(scores.get(p[1], {}))]


def show_contrast(index=0):
    if not pairs:
        print("no contrast has both arms scored yet")
        return
    a, b, metric = pairs[index]
    diffs = claims.paired_differences(scores, a, b, metric)
    ci = claims.interval(diffs)
    plt.figure(figsize=(7, 3))
    plt.hist(diffs.mean(0), bins=41, color="tab:blue", log=True)  # log counts: the few clips that differ show
    plt.axvline(ci["mean"], color="k")
    plt.title(f"{a} − {b}, {metric}: {claims.format_interval(ci)} ({ci['seeds']} seed{'s' * (ci['seeds'] > 1)})")
    plt.xlabel("paired difference per clip")
    plt.ylabel("clips")
    plt.show()


show_contrast()  # the first claim with both arms scored; pick another below
options = [(f"{a} − {b}: {m}", i) for i, (a, b, m) in enumerate(pairs)] or [("none yet", 0)]
display(widgets.interactive(show_contrast, index=widgets.Dropdown(options=options, description="contrast")))

# %% [markdown]
# <details><summary>Every run, every exploratory contrast, and where frame 0 attends (click to open)</summary>
#
# The tables below are descriptive or exploratory (one seed, no multiplicity control); the decisions are the ones
# above. Pixel-aligned attention is the share of a frame-0 query's reference attention that lands on the reference
# token at its own position: with shared positions the two line up, so a high share is the mechanism behind
# pasting the reference into the first frame.
#
# </details>

# %%
metrics = ("identity_accuracy", "text_adherence", "copy_layout", "copy_background", "temporal_consistency")
lines = ["| variant | seeds | " + " | ".join(metrics) + " |", "|---|---:|" + "---:|" * len(metrics)]
for name, by_seed in sorted(scores.items()):
    means = [np.mean([np.mean(v[m]) for v in by_seed.values()]) for m in metrics]
    lines.append(f"| {name} | {len(by_seed)} | " + " | ".join(f"{x:.3f}" for x in means) + " |")
display(Markdown("\n".join(lines)))
if state["secondary"]:
    display(Markdown(claims.secondary_table(state["secondary"])))
if state["post_hoc"]:
    display(Markdown(claims.POST_HOC_CAPTION + "\n\n" + claims.secondary_table(state["post_hoc"])))
if state["attention"]:
    claims.plot_attention(state["attention"]["per_clip"])
    plt.show()
else:
    print("pixel-aligned attention: not measured yet (python bench/claims.py --attention)")

# %% [markdown]
# The first toy model's study (trained from scratch, before the base model existed) could not decide these claims:
# every augmented variant sat at chance on identity. It is kept, with its lessons, in
# `docs/history/ABLATION_FIRST_MODEL.md`.

# %% [markdown]
# ## Summary
#
# - A claim is tested by a paired contrast between two fine-tunes of the same base that differ in one ingredient,
#   on the same clips and noise, with the decision rule and the margin written before the run.
# - "Holds" needs the whole interval on the claimed side; an effect inside the margin is "refuted" even when it is
#   not zero; everything else is "not shown", which is not "holds".
# - Testing three claims at once, each at 95 %, would let one pass by chance one time in seven; Holm's correction
#   keeps that at one in twenty.
# - Two guidance knobs are independent when the grid's heatmaps are stripes; on this model they are not: each scale
#   buys its own metric with the other's.

# %% [markdown]
# ## Exercises

# %% [markdown]
# **1.** With 256 clips and a per-clip standard deviation of 0.3 in the paired difference, about how wide is the 95 % interval of one seed's contrast?
#
# <details><summary>Solution</summary>
#
# About ±1.96 · 0.3 / √256 ≈ ±0.037: enough to separate a reduction of 0.05 from zero, not one of 0.02.
#
# </details>

# %% [markdown]
# **2.** Why is a paired difference on the same clips and noise tighter than the difference of two independent means?
#
# <details><summary>Solution</summary>
#
# The clip-to-clip variation (some people and prompts are harder than others) is shared by both arms and cancels in the per-clip difference; only the arms' disagreement remains.
#
# </details>

# %% [markdown]
# **3.** A claim can clear its margin and still not hold. Find, in `state["primary"]`, a claim whose own interval
# lies entirely beyond its margin on the claimed side, yet whose verdict is not "holds". What stopped it?
#
# <details><summary>Solution</summary>
#
# ```python
# for c, r in zip(claims.PRIMARY, state["primary"] or []):
#     beyond = r["lo"] > c.margin if c.side > 0 else r["hi"] < -c.margin
#     if beyond and r["verdict"] != "holds":
#         print(c.key, r["verdict"], "condition:", r["condition"]["metric"], round(r["condition"]["lo"], 3),
#               "must exceed", r["condition"]["bound"])
# ```
#
# The condition attached to the claim: its interval's lower end is past the bound. On the study's results this is
# the identity loss (P3): it raises identity by more than the margin, but text adherence may fall by more than the
# claim allows, so "raises identity" is shown and "without costing the text" is not.
#
# </details>
