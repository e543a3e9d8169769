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
# **Expected run time:** 4 s on 2 CPU cores: it only reads the study's results (`docs/claims/*.json`, written by
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
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from stdrc_lib.toy import claims
from stdrc_lib.utils import seed_everything, smoke_mode

SMOKE = smoke_mode()  # nothing to shrink: this notebook never trains
SEED = 0
RESULTS = claims.RESULTS  # docs/claims/ in a clone of the repository, stdrc_lib/claims/ in an install
generator = seed_everything(SEED)
scores = claims.load_scores(RESULTS)
print(f"{sum(len(v) for v in scores.values())} scored variant runs in {RESULTS}")

# %% [markdown]
# ## 1 · The claims, decided

# %%
try:
    rows = claims.evaluate_claims(scores)
    display(Markdown(claims.claims_table(rows)))
except ValueError as e:
    print(f"not every primary contrast is scored yet ({e}).\nRun `python bench/claims.py` (resumable; --list shows "
          "progress), then `python bench/claims.py --pictures`.")  # fmt: skip

# %% [markdown]
# ## 2 · One picture per claim
#
# The two arms of each primary claim on the same held-out clips and noise: the reference first, then frames 0, 4,
# 8, 12 and 16.

# %%
for key in ("P1", "P2", "P3"):
    png = RESULTS / f"{key}.png"
    if png.is_file():
        plt.figure(figsize=(11, 6))
        plt.imshow(plt.imread(png))
        plt.axis("off")
        plt.title(next(c.text for c in claims.PRIMARY if c.key == key))
        plt.show()
    else:
        print(f"{key}: no picture yet")

# %% [markdown]
# <details><summary>Every variant, mean over its seeds (click to open)</summary>
#
# The table below lists each scored variant's mean of every metric over its clips and seeds. It is descriptive;
# the decisions are the ones above.
#
# </details>

# %%
metrics = ("identity_accuracy", "text_adherence", "copy_layout", "copy_background", "temporal_consistency")
lines = ["| variant | seeds | " + " | ".join(metrics) + " |", "|---|---:|" + "---:|" * len(metrics)]
for name, by_seed in sorted(scores.items()):
    means = [sum(sum(v[m]) / len(v[m]) for v in by_seed.values()) / len(by_seed) for m in metrics]
    lines.append(f"| {name} | {len(by_seed)} | " + " | ".join(f"{x:.3f}" for x in means) + " |")
display(Markdown("\n".join(lines)))

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
