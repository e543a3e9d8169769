"""Reproduce the shipped toy weights: VAE → readout → ST-DRC transformer + text encoder.

    stdrc train --preset toy --from-scratch          # everything, ~1 hour on 2 cores
    stdrc train --preset toy                         # transformer only, reusing data/toy/vae
    stdrc train --preset toy --init-from data/toy    # continue the saved transformer + text encoder

The exact chain that made the shipped files is the manifest's ``reproduce_all``.

Writes ``data/toy/{vae,readout,transformer,text_encoder}`` and ``data/toy/manifest.json``
(config, seed, steps, the exact command, metrics, sha256 of every weight file).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from .. import pipeline as PL
from .. import viz
from ..core.io import atomic_folder, read_json
from . import weights as TW
from .dataset import SynthFaces
from .evaluate import model_references
from .manifest import write_manifest
from .readout import Readout, ToyFaceEmbedder, train_readout
from .text import ToyTextEncoder
from .train import ToyTrainConfig, train_toy
from .train_vae import train_vae


def sample_grid_callback(
    out_dir: Path, n: int = 4, steps: int = 12, face_crop: bool = False, face_cutout: bool = False
):
    """Save a contact sheet of held-out generations every ``sample_every`` training steps (the references
    prepared the way the model is trained: whole, face crop or face cut-out)."""
    ds = SynthFaces("eval", n, seed=123)
    items = [ds[i] for i in range(n)]
    ref_px = model_references(items, face_crop, face_cutout)

    def cb(step: int, backbone) -> None:
        refs = [((r.permute(1, 2, 0) + 1) / 2).numpy() for r in ref_px]
        res = PL.generate(
            backbone,
            [it["prompt"] for it in items],
            refs,
            num_steps=steps,
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )
        rows, labels = [], []
        for it, ref, frames in zip(items, refs, res.frames):
            truth = ((it["video"].permute(1, 2, 3, 0) + 1) / 2).numpy()[::4]  # (5, H, W, 3)
            rows += [np.concatenate([ref[None], truth]), np.concatenate([ref[None], frames.numpy()[::4] / 255])]
            labels += ["truth: " + it["prompt"][:38], "generated"]
        viz.save_image(out_dir / f"samples_step{step:05d}.png", viz.contact_sheet(rows, labels, upscale=2))

    return cb


def build_toy_weights(
    out: Path,
    cfg: ToyTrainConfig,
    from_scratch: bool = False,
    vae_steps: int = 2400,
    readout_steps: int = 4000,
    runs: Path = Path("runs/toy"),
    resume: bool = True,
    init_from: Path | None = None,
) -> dict:
    """Train the toy transformer + text encoder into ``out`` (and, ``from_scratch``, the VAE and readout
    first). ``init_from`` continues the transformer and text encoder saved in that folder instead of
    starting from random weights (the VAE stays ``out``'s); the manifest then keeps the earlier run's
    record under ``training.transformer.continued_from``."""
    out, runs = Path(out), Path(runs)
    earlier = None
    if init_from is not None:
        if from_scratch:
            raise ValueError("`init_from` continues a trained model; it cannot be combined with `from_scratch`.")
        init_from = Path(init_from)
        missing = [p for p in ("transformer", "text_encoder") if not (init_from / p).is_dir()]
        if missing:
            raise FileNotFoundError(f"`init_from` must hold a toy model; {init_from} lacks {missing}.")
        prep = TW.reference_prep_of(init_from)
        asked = "cutout" if cfg.face_cutout else "crop" if cfg.face_crop else "whole"
        if prep != asked:
            raise ValueError(
                f"`init_from`: the model in {init_from} was trained on {prep!r} references, the config asks for "
                f"{asked!r}; continue it the way it was trained (--face-cutout / --face-crop)."
            )
        path = init_from / "manifest.json"
        if path.is_file():
            m = read_json(path, "manifest")
            # the transformer's record carries its own "config" (the manifest's "train_config" is the same)
            earlier = {"command": m.get("command"), **(m.get("training") or {}).get("transformer", {})}
    runs.mkdir(parents=True, exist_ok=True)
    info: dict = {}
    if not from_scratch:  # a new folder takes the shipped VAE and readout rather than training them again
        for part in ("vae", "readout"):
            src = TW.TOY_DIR / part
            if not (out / part).is_dir() and src.is_dir() and out.resolve() != TW.TOY_DIR.resolve():
                atomic_folder(out / part, lambda d, src=src: shutil.copytree(src, d, dirs_exist_ok=True))
                shipped = TW.TOY_DIR / "manifest.json"
                record = (
                    (read_json(shipped, "manifest").get("training") or {}).get(part, {}) if shipped.is_file() else {}
                )
                info[part] = {**record, "copied_from": str(src)}
    if from_scratch or not (out / "vae").is_dir():
        info["vae"] = train_vae(vae_steps, out / "vae", seed=cfg.seed)
    from diffusers import AutoencoderKLLTX2Video

    backbone = TW.build_toy(cfg.seed)
    if init_from is not None:
        from diffusers import LTX2VideoTransformer3DModel

        backbone.transformer = LTX2VideoTransformer3DModel.from_pretrained(
            init_from / "transformer", local_files_only=True
        )
        backbone.text_encoder = ToyTextEncoder.load(init_from / "text_encoder")
        backbone.trained = True
    backbone.vae = AutoencoderKLLTX2Video.from_pretrained(out / "vae", local_files_only=True).eval()
    # the readout needs only the VAE; it comes first because the identity loss embeds with it
    if from_scratch or not (out / "readout").is_dir():
        _, info["readout"] = train_readout(
            readout_steps,
            out / "readout",
            seed=cfg.seed,
            pool_clips=3000,
            vae=backbone.vae,
            vae_fraction=0.3,
            p_augment=0.5,
        )
    embedder = None
    if cfg.lambda_id > 0:
        embedder = ToyFaceEmbedder(Readout.load(out / "readout"))
    log = train_toy(
        backbone,
        cfg,
        out=runs,
        on_sample=sample_grid_callback(runs, face_crop=cfg.face_crop, face_cutout=cfg.face_cutout),
        embedder=embedder,
        ckpt_dir=runs / "ckpt" if cfg.ckpt_every else None,
        resume=resume,
    )
    atomic_folder(out / "transformer", lambda d: backbone.transformer.save_pretrained(d, safe_serialization=True))
    atomic_folder(out / "text_encoder", backbone.text_encoder.save)
    info["transformer"] = {k: v for k, v in log.items() if k not in ("losses", "id_losses")}
    info["transformer"]["final_loss_mean_last_100"] = sum(log["losses"][-100:]) / len(log["losses"][-100:])
    if init_from is not None:
        info["transformer"]["init_from"] = str(init_from)
        if earlier is not None:
            info["transformer"]["continued_from"] = earlier
    write_manifest(out, {"seed": cfg.seed, "scheme": cfg.scheme, "train_config": log["config"], "training": info})
    return info
