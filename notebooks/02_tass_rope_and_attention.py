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
# # 02 · TASS-RoPE: where the reference sits, and where the video looks
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/stdrc/stdrc/blob/main/notebooks/02_tass_rope_and_attention.ipynb)
#
# **What you will learn**
#
# - how LTX-2 turns `(t, h, w)` boxes into rotary phases, and why attention only sees *offsets*
# - the seven reference position schemes (`shared`, `temporal`, `spatial`, `tass`, `temporal_pre`, `tass_pre`, `nope`)
#   as diagrams
# - how q·k falls off with the offset between a video token and a reference token
# - how to capture video→reference attention maps from the trained toy model without forking it
# - what copy-paste looks like, and how TASS avoids it
#
# **Prerequisites:** Notebook 01.
#
# **Expected run time:** about 1 minute on a laptop CPU (about 15 s with `STDRC_SMOKE=1`).

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
# | the paper | in the library |
# |---|---|
# | TASS-RoPE: the reference after the video in time, shifted in space | `core.positions.build_coords` (`scheme="tass"`) |
# | the alternatives it is compared with | `PositionConfig(scheme=...)`: `shared`, `temporal`, `spatial`, `nope` |
# | attention between video and reference tokens | `core.attention.capture_attention` |
#
# LTX-2 gives each token a box on three axes (seconds, pixels, pixels) and rotates each query/key channel pair by
# an angle set by the box's midpoint $p$:
#
# $$\theta_i(p) = \Bigl(\frac{2p}{p_{\max}} - 1\Bigr)\,\omega_i, \qquad
#   \bigl(R(\theta_a)\,q\bigr)^{\top} R(\theta_b)\,k = q^{\top} R(\theta_b - \theta_a)\,k ,$$
#
# so a logit depends only on the offset between two tokens. For a video of $F$ latent frames (time indices
# $0 \dots F-1$) of $H \times W$ pixels, TASS puts the reference at time index $F$ and moves it from
# $[0, H) \times [0, W)$ to $[H, 2H) \times [W, 2W)$: off the video's grid in time *and* space, where the
# pixel-aligned copy of frame 0 has no place to go.

# %% [markdown]
# ## Configuration

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from diffusers.models.transformers.transformer_ltx2 import apply_split_rotary_emb

from stdrc_lib.core import attention, positions
from stdrc_lib.pipeline import generate
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.evaluate import references_for
from stdrc_lib.utils import seed_everything, smoke_mode

SMOKE = smoke_mode()
SEED = 0
STEPS = 4 if SMOKE else 20  # sampling steps
NUM_FRAMES = 17
generator = seed_everything(SEED)
bb = TW.toy_backbone()
print("trained toy weights:", bb.trained)

# %% [markdown]
# ## 1 · Positions are boxes in seconds and pixels
#
# LTX-2 gives each token a box `[start, end)` on three axes. RoPE uses the midpoint `p`, divided by `max_pos`
# (20 s, 2048 px, 2048 px), and rotates channel pairs by `θ_i = (2p/max_pos − 1)·ω_i`. Because
# `R(θ_a)ᵀR(θ_b) = R(θ_b − θ_a)`, the logit between two tokens depends only on their **offset**.
# Below: the video tokens (all frames) and the 64 reference tokens under each scheme.

# %%
grid = bb.latent_grid(NUM_FRAMES, 64, 64)
n_video = grid[0] * grid[1] * grid[2]
fig, ax = plt.subplots(2, len(positions.SCHEMES), figsize=(2.8 * len(positions.SCHEMES), 6.4))
for j, scheme in enumerate(positions.SCHEMES):
    c = positions.build_coords(bb.transformer.rope, 1, grid, [(8, 8)], positions.PositionConfig(scheme)).mean(-1)[0]
    v, r = c[:, :n_video], c[:, n_video:]
    ax[0, j].scatter(v[2], v[1], s=5, label="video")
    ax[0, j].scatter(r[2], r[1], s=5, c="C3", label="reference")
    ax[0, j].set_title(scheme)
    ax[0, j].set_xlabel("w (px)")
    ax[0, j].set_ylabel("h (px)")
    ax[0, j].invert_yaxis()
    ax[1, j].scatter(v[2], v[0] * 24, s=5)
    ax[1, j].scatter(r[2], r[0] * 24, s=5, c="C3")
    ax[1, j].set_xlabel("w (px)")
    ax[1, j].set_ylabel("t (frames at 24 fps)")
ax[0, 0].legend(loc="lower left")
plt.suptitle(
    "Reference positions: top, the h–w plane; bottom, time against width. "
    "`nope` puts every reference token at max_pos/2, where the rotary phase is exactly zero."
)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · q·k as a function of the offset
#
# Take one query vector and one key vector, place the query at the origin and the key at offset `(Δt, Δh, Δw)`,
# and compute the rotary logit. A random pair shows the *structure* of RoPE; the trained model's actual q and k
# decide what it does with it.

# %%
rope = bb.transformer.rope
g = torch.Generator().manual_seed(1)
q = torch.randn(1, 1, 128, generator=g)
k = q.clone()  # identical content: the logit is all position
offsets = torch.linspace(-256, 256, 65)


def logit(dt, dh, dw):
    n = dh.numel()
    boxes = torch.zeros(1, 3, n + 1, 2)
    boxes[0, 1, 1:, 0] = dh.flatten()
    boxes[0, 2, 1:, 0] = dw.flatten()
    boxes[0, 0, 1:, 0] = dt
    boxes[..., 1] = boxes[..., 0]  # zero-width boxes: midpoint = start
    cos, sin = rope(boxes)
    qq = apply_split_rotary_emb(q.expand(1, n + 1, 128), (cos, sin))
    return (qq[0, :1] * qq[0, 1:]).sum(-1).reshape(dh.shape) / 128**0.5


DH, DW = torch.meshgrid(offsets, offsets, indexing="ij")
fig, ax = plt.subplots(1, 2, figsize=(10, 4.2))
for a, dt, title in [(ax[0], 0.0, "same time (Δt = 0)"), (ax[1], -1 / 24, "one frame earlier (as tass_pre)")]:
    im = a.imshow(logit(dt, DH, DW), extent=[-256, 256, 256, -256], cmap="magma")
    a.scatter([0, 64], [0, 64], c=["w", "c"], s=30)
    a.annotate("shared", (0, 0), color="w", xytext=(5, -8))
    a.annotate("TASS", (64, 64), color="c", xytext=(5, 12))
    a.set_xlabel("Δw (px)")
    a.set_ylabel("Δh (px)")
    a.set_title(title)
    plt.colorbar(im, ax=a)
plt.suptitle("Rotary logit between a token and the same content at an offset")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · Where does each video frame look in the reference?
#
# `capture_attention` installs a processor subclass on every block's `attn1`. It recomputes softmax(QKᵀ)
# after the Q/K norms and RoPE, one chunk of queries at a time, and keeps the video→reference block. Outputs are
# unchanged (the tests check it bit for bit). We run the same clip under the scheme the toy model was trained with
# (`bb.scheme`: the paper's `tass` for the shipped model) and under `shared`.

# %%
item = SynthFaces("eval", 1, seed=SEED, look=bb.extra["look"])[0]
# the reference as the model gets it: the whole image
ref_img = ((references_for(bb, [item])[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
maps, clips = {}, {}
for scheme in ("shared", bb.scheme):
    with attention.capture_attention(bb.transformer, n_video) as store:
        out = generate(
            bb,
            item["prompt"],
            ref_img,
            num_steps=STEPS,
            num_frames=NUM_FRAMES,
            positions=positions.PositionConfig(scheme),
            generator=torch.Generator().manual_seed(SEED),
            progress=False,
        )
    # last step, conditional stream (row 2 of the 3 batched streams), mean over layers: (N_v, N_r)
    m = torch.stack([store.maps[l][2] for l in sorted(store.maps)]).mean(0)
    maps[scheme] = attention.reference_maps(m[None], grid, (8, 8))[0]  # (F, H, W, 8, 8)
    clips[scheme] = out.frames[0]

fig, ax = plt.subplots(2, grid[0] + 1, figsize=(2.2 * (grid[0] + 1), 4.6))
for i, scheme in enumerate(maps):
    ax[i, 0].imshow(ref_img)
    ax[i, 0].set_title("reference")
    ax[i, 0].set_ylabel(scheme)
    for f in range(grid[0]):
        a = maps[scheme][f].mean((0, 1))  # average over the frame's video tokens
        ax[i, f + 1].imshow(ref_img)
        ax[i, f + 1].imshow(a, cmap="jet", alpha=0.55, extent=[0, 64, 64, 0])
        ax[i, f + 1].set_title(f"latent frame {f}\nmass {float(maps[scheme][f].sum(-1).sum(-1).mean()):.2f}")
for a in ax.flat:
    a.set_xticks([])
    a.set_yticks([])
plt.suptitle(f"Video→reference attention (mean over layers and the frame's tokens) — prompt: {item['prompt']}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4 · Copy-paste
#
# Copy-paste is when the clip follows the reference's *layout and background* instead of the prompt's. The
# strongest form is literally pasting the reference into every frame. Below: the ground-truth clip for the
# prompt, the toy model's clip under its own scheme, and under `shared` (a position the model never saw in
# training), each next to the reference.

# %%
truth = ((item["video"].permute(1, 2, 3, 0) + 1) * 127.5).byte()
rows = {
    "ground truth": truth,
    bb.scheme: clips[bb.scheme],
    "shared": clips["shared"],
    "paste the reference": torch.from_numpy(ref_img)[None].expand_as(truth),
}
fig, ax = plt.subplots(len(rows), 6, figsize=(11, 2 * len(rows)))
for i, (name, clip) in enumerate(rows.items()):
    ax[i, 0].imshow(ref_img)
    ax[i, 0].set_ylabel(name)
    for j, f in enumerate(np.linspace(0, NUM_FRAMES - 1, 5).astype(int)):
        ax[i, j + 1].imshow(clip[f])
        ax[i, j + 1].set_title(f"frame {f}", fontsize=8)
for a in ax.flat:
    a.set_xticks([])
    a.set_yticks([])
plt.suptitle(item["prompt"])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# - Positions enter LTX-2 only through `video_coords`; the rotary logit depends on **offsets**, so where the
#   reference sits relative to the video is a design choice with consequences.
# - `shared` puts the reference on top of frame 0 (pixel-aligned: easy to copy); `tass` puts it at the latent
#   frame after the video's last and diagonally outside the canvas (the paper's TASS-RoPE); `tass_pre` puts it one
#   frame before frame 0, diagonally outside (Stand-In's placement); `nope` removes its phase entirely.
# - A processor subclass on `attn1` shows where each video frame reads the reference, with outputs unchanged.
# - Whether each scheme changes copy-paste and identity is what the claims study tests (`docs/ABLATION.md`,
#   notebook 05).

# %% [markdown]
# ## Exercises

# %% [markdown]
# **1.** Rerun section 3 with `positions.PositionConfig('tass', dh=3, dw=3)`. Does the attention mass on the reference change? Why might it, for a model trained with `dh = dw = 1`?
#
# <details><summary>Solution</summary>
#
# The offset is now 192 px instead of 64 px; the rotary logits at that offset differ from anything seen in training, so the mass usually drops or shifts. RoPE is relative but the *learned* q/k are tuned to the training offsets.
#
# </details>

# %% [markdown]
# **2.** Show numerically that shifting every token by the same `(Δt, Δh, Δw)` leaves the logits unchanged.
#
# <details><summary>Solution</summary>
#
# ```python
# c = positions.build_coords(rope, 1, grid, [(8, 8)])
# c2 = c.clone(); c2[:, 1] += 100
# qk = lambda cc: apply_split_rotary_emb(q.expand(1, cc.shape[2], 128), rope(cc))
# a, b = qk(c), qk(c2)
# print(((a[0] @ a[0].T) - (b[0] @ b[0].T)).abs().max())  # ~1e-3 relative: float32
# ```
#
# </details>

# %% [markdown]
# **3.** Capture per-head maps (`per_head=True`) and find the head that looks most at the reference.
#
# <details><summary>Solution</summary>
#
# ```python
# with attention.capture_attention(bb.transformer, n_video, per_head=True) as st:
#     generate(bb, item['prompt'], ref_img, num_steps=2, progress=False)
# print(st.maps[0][2].sum(-1).mean(-1))  # mass per head, layer 0
# ```
#
# </details>
