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
# # 03 · Fine-tuning ST-DRC on SynthFaces
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/stdrc/stdrc/blob/main/notebooks/03_finetuning.ipynb)
#
# **What you will learn**
#
# - what one ST-DRC training step does: flow matching on video tokens, clean reference tokens
# - why condition dropout is needed for three-stream guidance
# - what reference augmentation does to a training reference, and why it stops copy-paste
# - how ST-DRC is fine-tuned as a LoRA adapter on a pretrained video model, as the paper does with LTX-2.3
# - how to read loss curves and before/after samples
# - how the same recipe maps to LTX-2.3 with LoRA on a GPU
#
# **Prerequisites:** Notebooks 01 and 02.
#
# **Expected run time:** about 13 minutes on 2 CPU cores, most of it fine-tuning with the shipped adapter's recipe
# (1,000 steps), then comparing the two adapters on the same clips; 13 s with `STDRC_SMOKE=1`. Both as
# `python bench/notebook_times.py` measured them.

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
# | flow-matching loss on the video tokens | `core.losses.flow_matching_loss` |
# | face-guided identity loss | `core.losses.identity_loss` |
# | condition dropout (text, reference, both) | `train.trainer.dropout_masks` |
# | appearance-invariant reference augmentation | `prep.augment.augment` |
# | fine-tuning (LoRA, text encoder and VAE frozen) | `train.trainer.train`, `train.lora.add_lora` |
#
# With $\hat x_0 = x_\sigma - \sigma\,\hat v$, the decoder $\mathcal{D}$, a face embedder $E$ and the face crop
# $\mathrm{face}(\cdot)$:
#
# $$\mathcal{L}_{\mathrm{fm}} = \bigl\lVert \hat v - (\varepsilon - x_0) \bigr\rVert^2, \qquad
#   \mathcal{L}_{\mathrm{id}} = 1 - \cos\bigl(E(\mathrm{face}(\mathcal{D}(\hat x_0))),\, E(\mathrm{face}(I_r))\bigr),$$
#
# $$\mathcal{L} = \mathcal{L}_{\mathrm{fm}} + \lambda_{\mathrm{id}}\,\mathbb{1}[\sigma \le \sigma_{\mathrm{id}}]\,
#   \mathcal{L}_{\mathrm{id}} .$$
#
# The indicator can keep the identity loss to rows where $\hat x_0$ is still a picture rather than noise; the shipped
# recipe sets $\sigma_{\mathrm{id}} = 1$ (every row), since at high noise the reference is needed most, and draws
# most rows at high noise: σ = sigmoid(N(2, 1)), the way LTX-2's trainer shifts its noise levels for long sequences.

# %% [markdown]
# ## Configuration

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from stdrc_lib.pipeline import generate
from stdrc_lib.prep.augment import NO_AUGMENT, AugmentConfig, augment
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.adapter import AdapterConfig, load_adapter, train_adapter
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.utils import seed_everything, smoke_mode

SMOKE = smoke_mode()
SEED = 0
AUGMENT = True  # switch: appearance-invariant reference augmentation
IDENTITY_LOSS = 1.0  # switch: weight λ of the face-guided identity loss (0 = off)
LORA_RANK = 16  # 0 fine-tunes the whole transformer instead
STEPS = 4 if SMOKE else 1000  # optimizer steps (the shipped adapter's recipe: 1000)
CLIPS = 16 if SMOKE else 2000  # rendered + VAE-encoded training clips
SAMPLE_STEPS = 2 if SMOKE else 20
OUT = Path(tempfile.mkdtemp(prefix="stdrc_adapter_"))  # where this notebook's adapter goes
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the trainer (accelerate) picks the same device
generator = seed_everything(SEED)
print(f"training on {DEVICE}")

# %% [markdown]
# ## 1 · Start from the pretrained base
#
# The paper does not train ST-DRC from scratch: it fine-tunes LTX-2.3, which already draws people and already
# continues a first frame given as clean tokens at frame 0's positions (its image-to-video), and reads keyframes
# appended as extra clean tokens at the positions of the frames they show. The toy does the same.
# `toy_backbone(adapter=False)` is the shipped base model: trained on SynthFaces for text-to-video, image-to-video
# and keyframes, it has never seen a reference image. Fine-tuning teaches it to read one at TASS-RoPE's positions.

# %%
base = TW.toy_backbone(adapter=False)
LOOK = base.extra["look"]
print(f"base model: {base.transformer.config.num_layers} layers, trained on the {LOOK!r} look of SynthFaces")

# %% [markdown]
# ## 2 · What augmentation does to a training reference
#
# Training references are frames of the clip itself, so without augmentation the model can copy background and
# layout. Re-layout pastes the face elsewhere on a new canvas; flips, small affine moves, blur and noise add more.
# Colour jitter is off for SynthFaces because colour *is* identity there; the colour change this world allows is
# another of its lights, applied to a share of the references (`p_relight`).

# %%
ds = SynthFaces("train", 6, seed=SEED, look=LOOK)
items = [ds[i] for i in range(6)]
refs = torch.stack([it["reference"] for it in items])
boxes = torch.stack([it["ref_box"] for it in items])
aug = augment(refs, boxes, AugmentConfig(), torch.Generator().manual_seed(SEED))
fig, ax = plt.subplots(2, 6, figsize=(10, 3.6))
for j in range(6):
    ax[0, j].imshow((refs[j].permute(1, 2, 0) + 1) / 2)
    ax[1, j].imshow((aug[j].permute(1, 2, 0) + 1) / 2)
for a in ax.flat:
    a.set_xticks([])
    a.set_yticks([])
ax[0, 0].set_ylabel("frame of the clip")
ax[1, 0].set_ylabel("augmented")
plt.suptitle("Training references before and after augmentation")
plt.show()

# %% [markdown]
# ## 3 · Fine-tune
#
# `train_adapter` wraps the base transformer in a peft LoRA (rank `LORA_RANK`) on the LTX-2 trainer's attention and
# feed-forward targets and freezes everything else, the text encoder and the VAE included. Each step samples σ from
# a logit-normal shifted to high noise, noises the clip latents, encodes the augmented reference as clean tokens at
# TASS-RoPE positions, drops the text (10 %), the reference (10 %) or both (10 %), and regresses the velocity
# `ε − x₀` on the video tokens only. Half the references are the clip's own frame, half another rendering of the
# same person. With `IDENTITY_LOSS > 0` it also decodes the one-step estimate `x̂₀` of every row (first latent frame only),
# embeds it with the frozen training readout and adds `λ·(1 − cos)` against the reference's embedding; the gradient
# flows through the VAE decoder into the adapter. The adapter is saved in diffusers' LoRA layout.

# %%
held = SynthFaces("eval", 2, seed=SEED, look=LOOK)
probe = [held[i] for i in range(2)]
probe_refs = [((p["reference"].permute(1, 2, 0) + 1) * 127.5).byte().numpy() for p in probe]


def samples(model):
    return generate(
        model,
        [p["prompt"] for p in probe],
        probe_refs,
        num_steps=SAMPLE_STEPS,
        generator=torch.Generator().manual_seed(SEED),
        progress=False,
    ).frames


before = samples(base)
cfg = AdapterConfig(
    steps=STEPS,
    n_clips=CLIPS,
    seed=SEED,
    augment=AugmentConfig() if AUGMENT else NO_AUGMENT,
    lambda_id=IDENTITY_LOSS,
    lora_rank=LORA_RANK,
    log_every=max(1, STEPS // 20),
)
log = train_adapter(TW.BASE_DIR, cfg, OUT, OUT / "runs")
after = samples(load_adapter(TW.toy_backbone(adapter=False), OUT))
shipped = samples(TW.toy_backbone())
print(f"{STEPS} steps, {log['training']['sec_per_step']:.2f} s/step; adapter in {OUT}")

# %%
losses = np.array(log["losses"])
k = max(1, len(losses) // 50)
smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
plt.figure(figsize=(7, 3))
plt.plot(losses, alpha=0.3, label="per step")
plt.plot(np.arange(len(smooth)) + k // 2, smooth, label=f"moving mean ({k})")
if log["id_losses"]:
    plt.plot(log["id_losses"], alpha=0.6, label="identity loss 1 − cos (gated rows)")
plt.xlabel("step")
plt.ylabel("loss")
plt.yscale("log")
plt.legend()
plt.title("Training loss")
plt.show()

# %%
rows = []
for i, p in enumerate(probe):
    truth = ((p["video"].permute(1, 2, 3, 0) + 1) * 127.5).byte()
    rows += [("truth", i, truth), ("base", i, before[i]), ("fine-tuned here", i, after[i]), ("shipped", i, shipped[i])]
fig, ax = plt.subplots(len(rows), 6, figsize=(10, 1.8 * len(rows)))
for r, (name, i, clip) in enumerate(rows):
    ax[r, 0].imshow(probe_refs[i])
    ax[r, 0].set_ylabel(name)
    for j, f in enumerate(np.linspace(0, clip.shape[0] - 1, 5).astype(int)):
        ax[r, j + 1].imshow(clip[f])
for a in ax.flat:
    a.set_xticks([])
    a.set_yticks([])
plt.suptitle("Held-out identity and prompt: reference | frames")
plt.show()

# %% [markdown]
# ## 4 · The same recipe on LTX-2.3: `stdrc train --preset full`
#
# The full preset fine-tunes a LoRA of a diffusers-format pipeline folder on a folder of captioned videos (one
# `.txt` caption per video, or a `captions.jsonl`), with the same trainer and the LTX-2 trainer's LoRA targets. Below
# it runs for real on a tiny pipeline that the notebook builds (LTX-2.3's classes at toy widths) and three SynthFaces
# clips written as MP4. With LTX-2.3's weights (`docs/GPU.md` says where to get them) the command is the same, with
# the real folder and the memory savers a GPU needs:
#
# ```bash
# stdrc train --preset full --model models/LTX-2.3-Diffusers --data my_videos --lora-rank 32 \
#     --gradient-checkpointing --optimizer adamw8bit --quantize-base int8
# ```

# %%
import shlex

from stdrc_lib.cli import main as stdrc
from stdrc_lib.pipeline import pipeline_from_backbone
from stdrc_lib.viz import write_video

work = Path(tempfile.mkdtemp(prefix="stdrc_full_"))
pipeline_from_backbone(TW.build_toy(seed=SEED, num_layers=1)).save_pretrained(work / "model")  # a tiny pipeline folder
(work / "videos").mkdir()
clips = SynthFaces("train", 3, seed=SEED, look=LOOK)
for i in range(3):
    it = clips[i]
    frames = ((it["video"].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    write_video(work / "videos" / f"clip{i}.mp4", frames, fps=8, upscale=1)
    (work / "videos" / f"clip{i}.txt").write_text(it["prompt"])
args = ["train", "--preset", "full", "--model", str(work / "model"), "--data", str(work / "videos"),
        "--out", str(work / "lora"), "--frames", "17", "--height", "64", "--width", "64",
        "--steps", "2" if SMOKE else "40", "--batch", "2", "--lora-rank", "4", "--dtype", "fp32",
        "--no-detect-face", "--ckpt-every", "0"]  # fmt: skip
print("$", shlex.join(["stdrc", *args]))
assert stdrc(args) == 0
print(sorted(p.name for p in (work / "lora").iterdir()))

# %% [markdown]
# What LTX-2.3 needs, computed from its configs on the meta device (no weights, no GPU): one row per memory saver.

# %%
from stdrc_lib.train.memory import estimate

for name, gib, flag in estimate(121, 512, 768, lora_rank=32)["tiers"]:
    print(f"{name:28s} {gib:6.1f} GiB   {flag}")

# %% [markdown]
# With a GPU and the weights on disk, the real run starts from here; anywhere else the cell says what is missing.

# %%
REAL = Path("models/LTX-2.3-Diffusers")
if torch.cuda.is_available() and (REAL / "model_index.json").is_file() and Path("my_videos").is_dir():
    real = ["train", "--preset", "full", "--model", str(REAL), "--data", "my_videos", "--lora-rank", "32",
            "--gradient-checkpointing", "--optimizer", "adamw8bit", "--quantize-base", "int8"]  # fmt: skip
    stdrc(real)
else:
    need = [w for w, ok in (("a GPU", torch.cuda.is_available()), (f"the weights in {REAL}", REAL.is_dir()),
                            ("captioned videos in my_videos/", Path("my_videos").is_dir())) if not ok]  # fmt: skip
    print("the LTX-2.3 run needs " + ", ".join(need) + " (docs/GPU.md)")

# %% [markdown]
# ## Summary
#
# - An ST-DRC step is plain flow matching on the video tokens, with clean reference tokens appended in context.
# - Condition dropout trains the unconditional, reference-only and fully conditioned streams that three-stream
#   guidance combines at inference.
# - Reference augmentation removes the copy shortcut that a frame-of-the-clip reference offers.
# - Nothing about the recipe is toy-specific: `stdrc train --preset full` runs the same trainer on LTX-2.3's classes,
#   and memory savers (checkpointing, cached prompts, 8-bit optimizer and base) bring it to a 32 GB GPU.

# %% [markdown]
# ## Exercises

# %% [markdown]
# **1.** Set `AUGMENT = False`, retrain, and compare the samples' backgrounds with the reference's. What do you see?
#
# <details><summary>Solution</summary>
#
# Without augmentation the model tends to reproduce the reference's background and layout (copy-paste); `stdrc eval` measures this as the copy-paste score.
#
# </details>

# %% [markdown]
# **2.** Change the dropout probabilities in `AdapterConfig` to 0. What happens to guidance at inference?
#
# <details><summary>Solution</summary>
#
# The model never sees the null prompt or a missing reference, so `v(∅,∅)` and `v(r,∅)` are untrained and the guidance differences become meaningless (often noisy samples).
#
# </details>
