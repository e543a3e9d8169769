"""ST-DRC as a fine-tune of the toy base model, the way the paper fine-tunes LTX-2.3.

The base (:mod:`stdrc_lib.toy.base`) already draws people and continues a first frame. The fine-tune teaches it to
read a reference image instead, through the one trainer (:func:`stdrc_lib.train.trainer.train`):

* the reference is VAE-encoded into clean tokens (timestep 0, no loss, outputs discarded) at TASS-RoPE positions;
* a peft LoRA adapter on the LTX-2 trainer's targets trains; the transformer, text encoder and VAE stay frozen;
* references come from a frame of the clip or, for a share, from another rendering of the same person, and go
  through the appearance-invariant augmentation (re-layout, affine, flip, blur, noise) and, for a share, another
  of the world's lights (the colour change this world has);
* condition dropout of the text, the reference and both, for three-stream guidance;
* noise levels from a logit-normal shifted to high noise (mean 2), as LTX-2's trainer shifts it for long
  sequences: identity is decided at high noise, and below it the noisy clip gives the person away;
* the face-guided identity loss through the base's *training* readout (``readout/``), on every row; models are
  scored by the other one (``scorer/``).

At inference the model gets what a user has: the whole reference image and the prompt. Nothing of the renderer
(masks, lights, boxes) is used to prepare it.

The adapter is written in diffusers' LoRA layout (``pytorch_lora_weights.safetensors``, loadable with
``pipe.load_lora_weights``) with a manifest naming its base (and the base files' sha256), scheme and look. With
``lora_rank = 0`` the whole transformer is fine-tuned instead and written as ``transformer/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.io import atomic_folder
from ..outputs import REVISION_AT_START, weight_hashes
from ..train.lora import save_lora
from . import weights as TW
from .manifest import write_manifest
from .readout import Readout, ToyFaceEmbedder
from .train import ToyTrainConfig, build_cache, train_toy
from .weights import load_adapter  # noqa: F401  (the loader lives with the other weight loaders)

LORA_FILE = TW.LORA_FILE


@dataclass
class AdapterConfig(ToyTrainConfig):
    """:class:`~stdrc_lib.toy.train.ToyTrainConfig` with the fine-tune's defaults."""

    steps: int = 1000
    batch: int = 8
    lr: float = 1e-3
    warmup: int = 30
    lora_rank: int = 16
    train_text_encoder: bool = False
    lambda_id: float = 1.0
    sigma_id: float = 1.0  # every row: at high noise, where the reference is needed most, too
    sigma_mean: float = 2.0  # most rows at high noise, where identity is decided (LTX-2's trainer shifts it too)
    p_cross_ref: float = 0.5
    p_relight: float = 0.3
    n_clips: int = 2000
    ckpt_every: int = 100
    sample_every: int = 0
    data_seed: int | None = None  # the training clips' seed (None: ``seed``), so variants can share their clips


def train_adapter(
    base: str | Path, cfg: AdapterConfig, out: str | Path, runs: str | Path, resume: bool = True, progress=True
) -> dict:
    """Fine-tune the base model in ``base`` into an adapter in ``out``; checkpoints (and the clip cache's place)
    under ``runs``. Returns the manifest's record, with the per-step losses."""
    base, out, runs = Path(base), Path(out), Path(runs)
    if not (base / "transformer").is_dir() or not (base / "readout").is_dir():
        raise FileNotFoundError(
            f"`base` must be a base model folder (transformer/, readout/, ...), got {str(base)!r}; build one with "
            "`python -m stdrc_lib.toy.base`."
        )
    if cfg.lora_rank < 0:
        raise ValueError(f"`lora_rank` must be ≥ 1 (LoRA) or 0 (full fine-tuning), got {cfg.lora_rank}.")
    t0 = time.time()
    backbone = TW.load_toy(base)
    embedder = ToyFaceEmbedder(Readout.load(base / "readout")) if cfg.lambda_id > 0 else None
    look = backbone.extra["look"]
    data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    cache = build_cache(backbone.vae, cfg.n_clips, data_seed, look=look, cross_reference=cfg.p_cross_ref > 0,
                        progress=progress)  # fmt: skip
    t_cache = time.time() - t0
    log = train_toy(backbone, cfg, cache=cache, embedder=embedder, ckpt_dir=runs / "ckpt", resume=resume,
                    progress=progress)  # fmt: skip
    if cfg.lora_rank > 0:
        save_lora(backbone.transformer, out)
    else:
        atomic_folder(out / "transformer", lambda d: backbone.transformer.save_pretrained(d, safe_serialization=True))
    losses = log["losses"]
    record = {
        "kind": "adapter" if cfg.lora_rank > 0 else "full fine-tune",
        "base": _shown(base),
        "base_sha256": weight_hashes(base),
        "scheme": cfg.scheme,
        "look": look,
        "revision": REVISION_AT_START,
        "train_config": json.loads(json.dumps(asdict(cfg))),
        "training": {
            "train_minutes": log["train_minutes"],  # every run that led here (None: an old checkpoint resumed)
            "run_minutes": log["run_minutes"],
            "resumed_at": log["resumed_at"],
            "cache_minutes": t_cache / 60,
            "sec_per_step": log["sec_per_step"],
            "final_loss_mean_last_100": sum(losses[-100:]) / max(1, len(losses[-100:])),
        },
    }
    write_manifest(out, record)
    return {**record, "losses": losses, "id_losses": log["id_losses"]}


def _shown(folder: Path) -> str:
    """``folder`` as a manifest records it: relative to stdrc's data folder when inside it (``toy/base``), so a
    shipped manifest names no machine's paths."""
    try:
        return str(Path(folder).resolve().relative_to(TW.DATA_DIR.resolve()))
    except ValueError:
        return str(folder)
