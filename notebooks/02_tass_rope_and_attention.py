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
# **Expected run time:** about 15 s on 2 CPU cores (9 s with `STDRC_SMOKE=1`), as `python bench/notebook_times.py` measured it.

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


def time_offset(scheme):
    """Seconds between the reference tokens' time midpoint and frame 0's, as the scheme places them."""
    c = positions.build_coords(rope, 1, grid, [(8, 8)], positions.PositionConfig(scheme)).mean(-1)[0, 0]
    return float(c[n_video:].mean() - c[: grid[1] * grid[2]].mean())


fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
for a, scheme in zip(ax, ("shared", "tass", "tass_pre")):
    dt = time_offset(scheme)
    im = a.imshow(logit(dt, DH, DW), extent=[-256, 256, 256, -256], cmap="magma")
    at = (0, 0) if scheme == "shared" else (64, 64)  # where the pixel-aligned reference token sits
    a.scatter([at[1]], [at[0]], c="c", s=40)
    a.annotate("aligned token", (at[1], at[0]), color="c", xytext=(6, 8), textcoords="offset points")
    a.set_xlabel("Δw (px)")
    a.set_ylabel("Δh (px)")
    a.set_title(f"{scheme}: Δt = {dt * 24:+.1f} frames")
    plt.colorbar(im, ax=a)
plt.suptitle("Rotary logit between a frame-0 token and the same content in the reference, by offset")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · Where does a video token look in the reference?
#
# `capture_attention` installs a processor subclass on every block's `attn1`. It recomputes softmax(QKᵀ)
# after the Q/K norms and RoPE, one chunk of queries at a time, and keeps the video→reference block, per head.
# Outputs are unchanged (the tests check it bit for bit). We generate the same clip, with the same noise, with the
# reference placed three ways: `shared` (on frame 0's grid), `tass` (the paper's, and the scheme the shipped adapter
# was trained with) and `tass_pre` (Stand-In's). The maps are the conditional stream's at the last sampling step.
#
# **Pixel-aligned attention** is the share of a frame-0 query's reference attention that lands on the reference
# token at its own position: the copy channel that image-to-video's prior opens. Here it is read from one model
# under three placements at inference; the models *trained* with each placement are compared in notebook 05.

# %%
SCHEMES_SHOWN = ("shared", "tass", "tass_pre")
item = SynthFaces("eval", 1, seed=SEED, look=bb.extra["look"])[0]
# the reference as the model gets it: the whole image
ref_img = ((references_for(bb, [item])[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
maps, clips = {}, {}
for scheme in SCHEMES_SHOWN:
    with attention.capture_attention(bb.transformer, n_video, per_head=True) as store:
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
    # conditional stream (row 2 of the 3 batched streams): (layers, heads, N_v, N_r)
    maps[scheme] = torch.stack([store.maps[layer][2] for layer in sorted(store.maps)])
    clips[scheme] = out.frames[0]
LAYERS, HEADS = maps["tass"].shape[:2]
share = {s: attention.pixel_aligned_share(m, grid, (8, 8)) for s, m in maps.items()}  # (layers, heads, H·W)
print("pixel-aligned share of frame-0 queries' reference attention (mean over layers, heads and queries):")
for s in SCHEMES_SHOWN:
    print(f"  {s:9s} {float(share[s].mean()):.3f}   (uniform attention would give {1 / 64:.3f})")

# %% [markdown]
# Choose a layer, a head (or their mean) and a query token: frame `f`, row `i`, column `j` of the latent grid. Each
# panel is that query's attention over the 8×8 reference tokens, on one colour scale for all three placements; the
# white square is the reference token at the query's own position. Sliders update when released.

# %%
import ipywidgets as W
from IPython.display import display


def show_query(layer=LAYERS - 1, head="mean", frame=0, i=4, j=4):
    q = frame * grid[1] * grid[2] + i * grid[2] + j
    pick = {s: (m[layer].mean(0) if head == "mean" else m[layer, int(head)])[q].reshape(8, 8) for s, m in maps.items()}
    vmax = max(float(a.max()) for a in pick.values())
    fig, ax = plt.subplots(1, len(SCHEMES_SHOWN) + 1, figsize=(3.4 * (len(SCHEMES_SHOWN) + 1), 3.8))
    frame_px = clips["tass"][min(NUM_FRAMES - 1, frame * bb.vae_factors[0])]
    ax[0].imshow(frame_px)
    ax[0].add_patch(plt.Rectangle((j * 8 - 0.5, i * 8 - 0.5), 8, 8, fill=False, color="red", lw=2))
    ax[0].set_title(f"query: latent frame {frame}\ntoken ({i}, {j})", fontsize=10)
    for k, s in enumerate(SCHEMES_SHOWN):
        im = ax[k + 1].imshow(pick[s], cmap="viridis", vmin=0, vmax=vmax)
        ax[k + 1].add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, color="white", lw=1.5))
        ax[k + 1].set_title(f"{s}\n{float(pick[s].sum()):.2f} of it on the reference", fontsize=10)
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    fig.colorbar(im, ax=list(ax[1:]), shrink=0.8, label="attention probability")
    plt.suptitle(f"layer {layer}, head {head}")
    plt.show()


show_query()  # the last layer, mean over heads, the centre of frame 0
controls = dict(
    layer=W.IntSlider(value=LAYERS - 1, min=0, max=LAYERS - 1, continuous_update=False),
    head=W.Dropdown(options=["mean", *map(str, range(HEADS))], value="mean"),
    frame=W.IntSlider(value=0, min=0, max=grid[0] - 1, continuous_update=False),
    i=W.IntSlider(value=4, min=0, max=grid[1] - 1, continuous_update=False),
    j=W.IntSlider(value=4, min=0, max=grid[2] - 1, continuous_update=False),
)
display(W.interactive(show_query, **controls))

# %% [markdown]
# Pixel-aligned share by layer (mean over heads and frame-0 queries), for each placement: where in depth the model
# reads the reference at the query's own position.

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for s in SCHEMES_SHOWN:
    ax.plot(range(LAYERS), share[s].mean((1, 2)).numpy(), marker="o", label=s)
ax.axhline(1 / 64, color="grey", ls=":", label="uniform")
ax.set_xlabel("layer")
ax.set_ylabel("pixel-aligned share")
ax.legend()
plt.title("Frame-0 queries: reference attention on the aligned token")
plt.show()

# %% [markdown]
# Above, one model (trained with `tass`) is read under three placements, two of which it never trained with. The
# claims study ([docs/ABLATION.md](../docs/ABLATION.md)) fine-tunes the base once per placement and measures the same
# share on 32 held-out clips, each model under the placement it was trained with (`python bench/claims.py
# --attention`; read here, never recomputed).

# %%
from stdrc_lib.toy import claims

measured = claims.load_attention(claims.RESULTS)
if measured is None:
    print("not measured yet: python bench/claims.py --attention writes docs/claims/pixel_aligned.json")
else:
    ax = claims.plot_attention(measured["per_clip"])
    ax.axvline(1 / 64, color="grey", ls=":", label="uniform")
    ax.legend()
    plt.title("Each placement, on the model trained with it")
    plt.show()
    for r in claims.attention_rows(measured["per_clip"]):  # paired on the same clips and noise (exploratory)
        if "minus_baseline" in r:
            print(f"{r['variant']} − shared: {claims.format_interval(r['minus_baseline'])}")

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
# - A processor subclass on `attn1` shows where each video token reads the reference, per layer and head, with
#   outputs unchanged; the pixel-aligned share measures the copy channel directly.
# - The measured effect of each scheme on copy-paste and identity is in notebook 05 and `docs/ABLATION.md`.

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
# **3.** Find the layer and head that look most at the reference, and the one with the highest pixel-aligned share.
#
# <details><summary>Solution</summary>
#
# ```python
# mass = maps['tass'].sum(-1).mean(-1)  # (layers, heads): reference mass per head
# print(divmod(int(mass.argmax()), HEADS), divmod(int(share['shared'].mean(-1).argmax()), HEADS))
# ```
#
# </details>
