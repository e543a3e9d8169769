"""``stdrc eval``: held-out identities × held-out prompts, evaluation-mode references.

Four rows are scored with the same readout and metrics (:mod:`stdrc_lib.toy.metrics`):

* ``model``          – ST-DRC with the reference;
* ``no_reference``   – the same model with the reference removed (text-only CFG): the lower
  bound on identity;
* ``other_person``   – the control: the same clips and noise, with the evaluation reference of *another*
  held-out identity. Identity accuracy against the clip's own identity must not rise above
  ``no_reference`` (else the gain is guidance, not identity); against the reference's identity
  (``identity_accuracy_other``) it should rise;
* ``ground_truth``   – the renderer's true clip for (identity, prompt): the upper bound;
* ``vae_reconstruction`` – the true clip through the toy VAE (encode → decode): the best the
  model can do through this VAE;
* ``paste_reference``– the reference image repeated for every frame: the copy-paste extreme.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import pipeline as PL
from .. import viz
from ..core import guidance as G
from ..core import positions as P
from ..core import reference as R
from ..core.io import atomic_write
from ..core.losses import flow_matching_loss
from ..outputs import write_record
from ..prep import crop as PC
from .choices import REF_LIGHTS, ROWS
from .dataset import SynthFaces
from .metrics import PROMPT_COLS, clip_metrics, mean_ci, summarize
from .readout import match_light
from .render import render_eval_reference
from .world import HELD_OUT_IDENTITIES, IDENTITY_ATTRS, Identity, Prompt


@torch.no_grad()
def evaluate(
    backbone,
    readout,
    n: int = 200,
    seed: int = 0,
    batch: int = 8,
    steps: int = 20,
    guidance: G.GuidanceConfig = G.GuidanceConfig(),
    positions: P.PositionConfig | None = None,
    rows=ROWS,
    progress: bool = True,
    keep_examples: int = 4,
    ref_mode: str = "eval",
    isolated_reference: bool = False,
    face_crop: bool = False,
    face_cutout: bool = False,
    ref_light: str = "as-is",
) -> dict:
    """Score ``rows`` on ``n`` held-out clips; returns per-row mean ± 95 % CI and a few examples.

    ``ref_mode="clip"`` takes the reference from the clip itself (the training distribution) instead
    of an evaluation-mode reference; it separates "does not use the reference" from "does not
    generalise to new poses and backgrounds". With ``face_crop`` the model is conditioned on a square
    cut around the reference's face (:func:`reference.crop_face`, for models trained that way); with
    ``face_cutout`` on the person alone on mid grey, cut the same way (:func:`reference.cutout_face`, the mask
    being the renderer's). The metrics still compare the output with the whole reference image.

    ``ref_light="prompt"`` re-lights each reference to the prompt's light before it is prepared
    (:func:`toyworld.readout.match_light`: the reference's own light is estimated by ``readout``).
    """
    if ref_light not in REF_LIGHTS:
        raise ValueError(f"`ref_light` must be one of {REF_LIGHTS}, got {ref_light!r}.")
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise ValueError(f"`rows` must be drawn from {ROWS}, got unknown {unknown}.")
    if n < 2:
        raise ValueError(f"`n` must be at least 2 for a confidence interval, got {n}.")
    look = backbone.extra.get("look", "classic")  # the clips are drawn the way the model's world was
    ds = SynthFaces("eval", n, seed=seed, ref_mode=ref_mode, look=look)
    per_row: dict[str, dict[str, list]] = {r: {} for r in rows}
    examples = []
    t0 = time.time()
    for start in tqdm(range(0, n, batch), desc="eval", disable=not progress):
        items = [ds[i] for i in range(start, min(n, start + batch))]
        refs = torch.stack([R.to_uint8(it["reference"].permute(1, 2, 0)) for it in items])  # (B, H, W, 3)
        truth = torch.stack([R.to_uint8(it["video"].permute(1, 2, 3, 0)) for it in items])  # (B, F, H, W, 3)
        prompts = [it["prompt"] for it in items]
        clips = {}

        def generate(images, cfg, prompts=prompts, noise_seed=seed * 100_003 + start):  # same noise for every row
            gen = torch.Generator().manual_seed(noise_seed)
            return PL.generate(
                backbone,
                prompts,
                images,
                num_steps=steps,
                guidance=cfg,
                positions=positions,
                generator=gen,
                progress=False,
                isolated_reference=isolated_reference,
            ).frames

        light_to = _prompt_lights(items) if ref_light == "prompt" else None
        if "model" in rows:
            cond = model_references(items, face_crop, face_cutout, readout=readout, light_to=light_to, look=look)
            cond = R.to_uint8(cond.permute(0, 2, 3, 1))
            clips["model"] = generate([r.numpy() for r in cond], guidance)
        if "no_reference" in rows:  # the reference removed: plain text CFG
            clips["no_reference"] = generate(None, G.GuidanceConfig(1.0, guidance.s_txt, "ref_first"))
        if "other_person" in rows:  # another held-out person's reference, prepared the way the model's is
            others = [other_person(it, seed, start + i, look) for i, it in enumerate(items)]
            cond_o = model_references(others, face_crop, face_cutout, readout=readout, light_to=light_to, look=look)
            cond_o = R.to_uint8(cond_o.permute(0, 2, 3, 1))
            clips["other_person"] = generate([r.numpy() for r in cond_o], guidance)
            other_ident = torch.stack([o["identity"] for o in others])
        if "ground_truth" in rows:
            clips["ground_truth"] = truth
        if "vae_reconstruction" in rows:
            video = torch.stack([it["video"] for it in items])
            clips["vae_reconstruction"] = R.to_uint8(
                R.decode(backbone.vae, R.encode(backbone.vae, video)).permute(0, 2, 3, 4, 1)
            )
        if "paste_reference" in rows:
            clips["paste_reference"] = refs[:, None].expand_as(truth).contiguous()
        ident = torch.stack([it["identity"] for it in items])
        pattr = torch.stack([it["prompt_attrs"] for it in items])
        ref_box = torch.stack([it["ref_box"] for it in items])
        boxes = torch.stack([it["boxes"] for it in items])
        for r, c in clips.items():
            m = clip_metrics(readout, c, refs, ident, pattr, ref_box, boxes, by_attribute=True)
            if "other_person" in rows and r in ("model", "no_reference", "other_person"):  # against the other's
                m["identity_accuracy_other"] = clip_metrics(readout, c, refs, other_ident, pattr, ref_box, boxes)[
                    "identity_accuracy"
                ]
            for k, v in m.items():
                per_row[r].setdefault(k, []).append(v)
        if len(examples) < keep_examples:
            for i in range(min(keep_examples - len(examples), len(items))):
                ex = {"prompt": prompts[i], "reference": refs[i], **{r: clips[r][i] for r in clips}}
                if "model" in clips:  # what the model was conditioned on (cut out, re-lit)
                    ex["model_input"] = cond[i]
                examples.append(ex)
    cat = {r: {k: torch.cat(v) for k, v in per_row[r].items()} for r in rows}
    split = {r: _split_by_attribute(summarize(cat[r])) for r in rows}
    paired, paired_attr = {}, {}
    for row in ("model", "other_person"):  # same clips and noise: the reference's effect, clip by clip
        if row in rows and "no_reference" in rows:
            diff = summarize({k: v - cat["no_reference"][k] for k, v in cat[row].items() if k in cat["no_reference"]})
            paired[f"{row}_minus_no_reference"], paired_attr[f"{row}_minus_no_reference"] = _split_by_attribute(diff)
    return {
        "results": {r: split[r][0] for r in rows},
        "paired": paired,
        "identity_by_attribute": {**{r: split[r][1] for r in rows}, **paired_attr},
        "n": n,
        "seed": seed,
        "steps": steps,
        "minutes": (time.time() - t0) / 60,
        "guidance": {"s_ref": guidance.s_ref, "s_txt": guidance.s_txt, "order": guidance.order},
        "ref_light": ref_light,
        # clip i is SynthFaces("eval", n, seed)[i]; every row saw the same clips and noise, so any paired test can
        # be redone from these
        "per_clip": {
            r: {k: [round(float(x), 6) for x in v] for k, v in cat[r].items() if k not in PER_ATTRIBUTE} for r in rows
        },
        "examples": examples,
    }


PER_ATTRIBUTE = {f"identity_{k}" for k in IDENTITY_ATTRS}  # per-attribute accuracies: summarised, not kept per clip


def other_person(item: dict, seed: int, index: int, look: str = "classic") -> dict:
    """An evaluation reference of another held-out identity than ``item``'s, drawn for ``item``'s prompt (another
    scene and light than it, like every evaluation reference); deterministic in ``(seed, index)``."""
    rng = np.random.default_rng([seed, 5, index])
    own = int(Identity(*item["identity"].tolist()).index)
    choices = HELD_OUT_IDENTITIES[HELD_OUT_IDENTITIES != own]
    ident = Identity.from_index(int(rng.choice(choices)))
    img, box, mask = render_eval_reference(
        ident, Prompt(*item["prompt_attrs"].tolist()), rng, item["reference"].shape[-1], return_alpha=True,
        look=look,
    )  # fmt: skip
    return {
        "reference": torch.from_numpy(img).permute(2, 0, 1) * 2 - 1,
        "ref_box": torch.from_numpy(box),
        "ref_mask": torch.from_numpy(mask),
        "identity": torch.from_numpy(ident.as_array()),
    }


def _split_by_attribute(summary: dict) -> tuple[dict, dict]:
    """``clip_metrics(..., by_attribute=True)`` summaries → (the metrics, identity accuracy per attribute)."""
    per_attr = {f"identity_{k}" for k in IDENTITY_ATTRS}
    return (
        {k: v for k, v in summary.items() if k not in per_attr},
        {k.removeprefix("identity_"): v for k, v in summary.items() if k in per_attr},
    )


def references_for(backbone, items: list[dict]) -> torch.Tensor:
    """:func:`model_references` prepared the way ``backbone`` was trained (``backbone.extra["reference_prep"]``,
    read from the toy manifest by :func:`backbone.load_toy`): whole images, in their own light, for the shipped
    model."""
    return _prepared(items, backbone.extra.get("reference_prep", "whole"))


def model_references(
    items: list[dict], face_crop: bool = False, face_cutout: bool = False, readout=None, light_to=None, look="classic"
) -> torch.Tensor:
    """The references a model is conditioned on, ``(B, 3, H, W)`` in ``[−1, 1]``, from SynthFaces items: whole,
    cut to the square around the face (``face_crop``), or the person alone on mid grey in that square
    (``face_cutout``, with the renderer's mask standing in for a face parser). With ``light_to`` (one light
    index per item) each whole reference is first re-lit to that light of ``look`` (the world the items were drawn
    in) by :func:`match_light`, which needs ``readout``."""
    if face_crop and face_cutout:
        raise ValueError("`face_crop` and `face_cutout` are two ways to prepare the reference; choose one.")
    if light_to is not None and readout is None:
        raise ValueError("`readout` is needed with `light_to`: it estimates each reference's own light.")
    return _prepared(items, "crop" if face_crop else "cutout" if face_cutout else "whole", readout, light_to, look)


def _prompt_lights(items: list[dict]) -> torch.Tensor:
    """The light each item's prompt names, as indices into ``PROMPT_ATTRS["lighting"]``."""
    return torch.stack([it["prompt_attrs"][PROMPT_COLS["lighting"]] for it in items])


def _prepared(items: list[dict], prep: str, readout=None, light_to=None, look="classic") -> torch.Tensor:
    px = torch.stack([it["reference"] for it in items])
    if light_to is not None:
        px = match_light(readout, px, light_to, look)
    boxes = torch.stack([it["ref_box"] for it in items])
    masks = torch.stack([it["ref_mask"] for it in items]) if prep == "cutout" else None
    return PC.prepare(px, prep, boxes, masks)


def format_table(results: dict) -> str:
    """Markdown table: rows × metrics, ``mean ± ci95`` (blank where a row lacks a metric)."""
    metrics = list(dict.fromkeys(m for vals in results.values() for m in vals))
    head = "| | " + " | ".join(m.replace("_", " ") for m in metrics) + " |\n|---|" + "---:|" * len(metrics) + "\n"
    cell = lambda v: "" if v is None else f"{v['mean']:.3f} ± {v['ci95']:.3f}"  # noqa: E731
    line = lambda r, v: f"| {r.replace('_', ' ')} | " + " | ".join(cell(v.get(m)) for m in metrics) + " |\n"  # noqa: E731
    return head + "".join(line(r, v) for r, v in results.items())


EVAL_FILES = ("eval.json", "eval.md", "eval_examples.png", "eval_examples.gif")


def save_results(report: dict, out: Path, record: dict | None = None) -> None:
    """Write ``eval.json`` (with ``record``: the command, revision and weights' sha256), ``eval.md`` and the
    example strips into ``out``, each file whole."""
    out = Path(out)
    data = {k: v for k, v in report.items() if k != "examples"} | ({"provenance": record} if record else {})
    write_record(out / "eval.json", data)
    md = format_table(report["results"])
    if report.get("paired"):
        md += "\nPaired per clip (same clips and noise):\n\n" + format_table(report["paired"])
    if report.get("identity_by_attribute"):
        md += "\nIdentity accuracy by attribute:\n\n" + format_table(report["identity_by_attribute"])
    atomic_write(out / "eval.md", lambda p: Path(p).write_text(md))
    rows, labels = [], []
    for ex in report["examples"]:
        for r in ("ground_truth", "model", "no_reference"):
            if r in ex:
                first = ex["model_input"] if r == "model" and "model_input" in ex else ex["reference"]
                rows.append(np.concatenate([first.numpy()[None], ex[r].numpy()[::4]]))
                tag = {
                    "ground_truth": f": {ex['prompt'][9:40]}",
                    "model": " (first: its input)" if first is not ex["reference"] else "",
                }.get(r, "")
                labels.append(r.replace("_", " ") + tag)
    if rows:
        viz.save_image(out / "eval_examples.png", viz.contact_sheet(rows, labels, upscale=2))
    if report["examples"]:
        viz.write_video(out / "eval_examples.gif", animated_grid(report["examples"]), fps=8, upscale=2)


def load_results(paths: list[Path]) -> list[dict]:
    """Reports written by :func:`save_results` (their ``eval.json``), checked to score the same clips."""
    reports = []
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist; pass eval.json files written by `stdrc eval`.")
        reports.append(json.loads(p.read_text()))
    clips = sorted({(r["n"], r["seed"]) for r in reports})
    if len(clips) > 1:
        raise ValueError(f"`paths` must all score the same clips (same --n and --seed); got (n, seed) {clips}.")
    return reports


def animated_grid(examples: list[dict], cols=("reference", "ground_truth", "model", "no_reference"), pad: int = 2):
    """One row per example, columns reference | truth | model | no reference, animated over frames."""
    cols = [c for c in cols if c in examples[0]]
    f = next(examples[0][c].shape[0] for c in cols if examples[0][c].ndim == 4)  # the clips' frame count
    h, w = examples[0]["reference"].shape[:2]
    grid = np.full((f, len(examples) * (h + pad) + pad, len(cols) * (w + pad) + pad, 3), 255, np.uint8)
    for i, ex in enumerate(examples):
        for j, c in enumerate(cols):
            v = ex[c].numpy()
            v = np.broadcast_to(v[None], (f, h, w, 3)) if v.ndim == 3 else v
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            grid[:, y : y + h, x : x + w] = v
    return grid


DENOISING_SIGMAS = (0.1, 0.3, 0.5, 0.7, 0.9)
DENOISING_CONDITIONS = {  # name → (reference mode of the dataset, reference present)
    "clip reference": ("clip", True),
    "evaluation reference": ("eval", True),
    "no reference": ("eval", False),
}


@torch.no_grad()
def denoising_identity(
    backbone,
    readout,
    n: int = 64,
    sigmas=DENOISING_SIGMAS,
    batch: int = 16,
    seed: int = 0,
    positions: P.PositionConfig | None = None,
    isolated_reference: bool = False,
    face_crop: bool = False,
    face_cutout: bool = False,
) -> dict:
    """Identity accuracy of the one-step estimate ``x̂₀ = x_σ − σ·v̂`` at each σ, with a clip reference, an
    evaluation-mode reference, or none, on ``n`` held-out clips.

    Every condition sees the same clips, latents and noise (the dataset draws the video before the
    reference), so the reference's effect is a paired per-clip difference (``gain``). This is more sensitive
    than scoring full samples: it asks whether the model adds identity from the reference where the noise has
    hidden it, even when its samples are too blurry to read.

    Returns ``{"sigmas", "ceiling" (VAE reconstruction), "accuracy": {condition: [mean_ci per σ]},
    "gain": {"clip reference" | "evaluation reference": [mean_ci per σ]}}``.
    """
    if n < 2:
        raise ValueError(f"`n` must be at least 2 for a confidence interval, got {n}.")
    sigmas = tuple(float(s) for s in sigmas)
    if not sigmas or any(not 0 < s < 1 for s in sigmas):
        raise ValueError(f"`sigmas` must be a non-empty list of values in (0, 1), got {sigmas}.")
    positions = positions or backbone.positions()
    acc: dict[str, dict[float, list]] = {c: {s: [] for s in sigmas} for c in DENOISING_CONDITIONS}
    ceiling = []
    for mode in ("clip", "eval"):
        ds = SynthFaces("eval", n, seed=seed, ref_mode=mode, look=backbone.extra.get("look", "classic"))
        for start in range(0, n, batch):
            items = [ds[i] for i in range(start, min(n, start + batch))]
            k = len(items)
            x0 = R.encode(backbone.vae, torch.stack([it["video"] for it in items]))
            # the model may see the face square or the cut-out person; the metrics still get the whole reference
            refs_px_model = model_references(items, face_crop, face_cutout)
            refs_u8 = torch.stack([R.to_uint8(it["reference"].permute(1, 2, 0)) for it in items])
            meta = [torch.stack([it[key] for it in items]) for key in ("identity", "prompt_attrs", "ref_box", "boxes")]

            def identity_of(latents, meta=meta, refs_u8=refs_u8):
                frames = R.to_uint8(R.decode(backbone.vae, latents).permute(0, 2, 3, 4, 1))
                return clip_metrics(readout, frames, refs_u8, *meta)["identity_accuracy"]

            if mode == "eval":
                ceiling.append(identity_of(x0))
            noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed * 100_003 + start))
            for name, (m, with_ref) in DENOISING_CONDITIONS.items():
                if m != mode:
                    continue
                for s in sigmas:
                    _, x0_hat = flow_matching_loss(
                        backbone, x0, refs_px_model, [it["prompt"] for it in items], torch.ones(k, dtype=torch.bool),
                        torch.full((k,), with_ref), torch.full((k,), s), noise, positions,
                        isolated_reference=isolated_reference,
                    )  # fmt: skip
                    acc[name][s].append(identity_of(x0_hat))
    none = {s: torch.cat(acc["no reference"][s]) for s in sigmas}
    return {
        "sigmas": list(sigmas),
        "clips": n,
        "ceiling": mean_ci(torch.cat(ceiling)),
        "accuracy": {c: [mean_ci(torch.cat(acc[c][s])) for s in sigmas] for c in DENOISING_CONDITIONS},
        "gain": {
            c: [mean_ci(torch.cat(acc[c][s]) - none[s]) for s in sigmas]
            for c in ("clip reference", "evaluation reference")
        },
    }
