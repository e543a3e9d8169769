"""The toy preset's weights: configs of diffusers' LTX-2 classes at tiny widths, and where the shipped ones live.

* transformer: ``LTX2VideoTransformer3DModel`` with the LTX-2.3 flags (the base model: 8 layers of width 128);
* VAE: ``AutoencoderKLLTX2Video`` with factors (temporal 4, spatial 8), so 17 frames of 64×64 pixels become a
  5×8×8 latent (320 video tokens);
* text: :class:`~stdrc_lib.toy.text.ToyTextEncoder`.

The shipped weights are in ``data/toy`` (or the folder ``STDRC_DATA`` names): ``base/`` (the pretrained
text-to-video + image-to-video model, its two readouts) and ``stdrc/`` (the ST-DRC LoRA adapter fine-tuned on it).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from ..core.backbone import Backbone, check_consistency
from ..core.config import PositionConfig
from ..core.io import atomic_folder, read_json
from .text import ToyTextEncoder

# VAE factors (temporal, spatial) of the toy preset; vae_scale_factors must agree with them.
TOY_T, TOY_S = 4, 8
TOY_SIZE = 64
TOY_FRAMES = 17

TOY_TRANSFORMER_CONFIG = dict(
    in_channels=16,
    out_channels=16,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=4,
    attention_head_dim=32,
    cross_attention_dim=128,  # must equal the inner width with cross_attn_mod
    vae_scale_factors=(TOY_T, TOY_S, TOY_S),
    pos_embed_max_pos=20,
    base_height=2048,
    base_width=2048,
    gated_attn=True,
    cross_attn_mod=True,
    audio_in_channels=4,
    audio_out_channels=4,
    audio_num_attention_heads=1,
    audio_attention_head_dim=16,
    audio_cross_attention_dim=16,
    audio_gated_attn=True,
    audio_cross_attn_mod=True,
    num_layers=4,
    caption_channels=128,
    rope_theta=10000.0,
    rope_double_precision=True,
    rope_type="split",
    use_prompt_embeddings=False,
    perturbed_attn=True,
    timestep_scale_multiplier=1000,
    cross_attn_timestep_scale_multiplier=1000,
)

TOY_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=16,
    block_out_channels=(32, 64),
    down_block_types=("LTX2VideoDownBlock3D", "LTX2VideoDownBlock3D"),
    decoder_block_out_channels=(32, 64),
    layers_per_block=(1, 1, 1),
    decoder_layers_per_block=(1, 1, 1),
    spatio_temporal_scaling=(True, True),
    decoder_spatio_temporal_scaling=(True, True),
    decoder_inject_noise=(False, False, False),
    downsample_type=("spatiotemporal", "spatiotemporal"),
    upsample_type=("spatiotemporal", "spatiotemporal"),
    upsample_residual=(False, False),
    upsample_factor=(1, 1),
    timestep_conditioning=False,
    patch_size=2,
    patch_size_t=1,
    encoder_causal=True,
    decoder_causal=False,
    # Always explicit: the automatic value is wrong for LTX-2 VAEs.
    spatial_compression_ratio=TOY_S,
    temporal_compression_ratio=TOY_T,
)

# The base model's VAE (bold look): 32 latent channels and a decoder twice as wide, so identity survives.
BASE_VAE_CONFIG = dict(
    TOY_VAE_CONFIG,
    latent_channels=32,
    decoder_block_out_channels=(64, 128),
)

# The base model's transformer: twice as deep as the first toy model's, on the base VAE's 32 channels.
BASE_TRANSFORMER_CONFIG = dict(TOY_TRANSFORMER_CONFIG, in_channels=32, out_channels=32, num_layers=8)


def packaged(name: str, checkout: Path) -> Path:
    """Where the files installed as package ``name`` live: inside the install (a wheel maps ``data/`` to
    ``stdrc_lib/data``, see pyproject.toml), or ``checkout`` when running from a source checkout."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return checkout


DATA_DIR = Path(
    os.environ.get("STDRC_DATA") or packaged("stdrc_lib.data", Path(__file__).resolve().parents[2] / "data")
)
TOY_DIR = DATA_DIR / "toy"
BASE_DIR = TOY_DIR / "base"  # the pretrained base model (transformer, vae, text_encoder, readout, scorer)
ADAPTER_DIR = TOY_DIR / "stdrc"  # the ST-DRC LoRA adapter fine-tuned on it
LORA_FILE = "pytorch_lora_weights.safetensors"
MISSING_WEIGHTS = (
    "The toy weights are not in {folder}. They ship with stdrc: install it from its repository "
    '(`pip install "stdrc @ git+<repository URL>"`, or `pip install -e .` in a checkout), or point '
    "STDRC_DATA at a folder holding toy/. For untrained weights ask for them by name: "
    "`toy_backbone(random=True)` or `stdrc demo --random-weights`."
)


def build_toy(seed: int = 0, num_layers: int | None = None) -> Backbone:
    """Fresh, randomly initialised toy backbone (deterministic for a seed)."""
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        cfg = dict(TOY_TRANSFORMER_CONFIG)
        if num_layers is not None:
            cfg["num_layers"] = num_layers
        transformer = LTX2VideoTransformer3DModel(**cfg)
        vae = AutoencoderKLLTX2Video(**TOY_VAE_CONFIG)
        text = ToyTextEncoder()
    check_consistency(transformer, vae)
    return Backbone(transformer.eval(), vae.eval(), text.eval())


def save_toy(backbone: Backbone, folder: str | Path) -> Path:
    """Write transformer, VAE (diffusers format, safetensors) and text encoder under ``folder``; each part is
    written beside its old one and swapped in whole (:func:`~stdrc_lib.core.io.atomic_folder`)."""
    folder = Path(folder)
    atomic_folder(folder / "transformer", lambda d: backbone.transformer.save_pretrained(d, safe_serialization=True))
    atomic_folder(folder / "vae", lambda d: backbone.vae.save_pretrained(d, safe_serialization=True))
    atomic_folder(folder / "text_encoder", backbone.text_encoder.save)
    return folder


def load_toy(folder: str | Path | None = None) -> Backbone:
    """Load a saved toy backbone (no adapter; see :func:`toy_backbone`); ``folder`` defaults to the shipped base."""
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    folder = Path(folder) if folder is not None else BASE_DIR
    missing = [p for p in ("transformer", "vae", "text_encoder") if not (folder / p).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"toy weights incomplete in {folder}: missing {missing}. Build a base model with "
            "`python -m stdrc_lib.toy.base`, or use `build_toy()` for random weights."
        )
    # float32 whatever the files hold (the base model is stored as float16)
    f32 = dict(local_files_only=True, torch_dtype=torch.float32)
    transformer = LTX2VideoTransformer3DModel.from_pretrained(folder / "transformer", **f32)
    vae = AutoencoderKLLTX2Video.from_pretrained(folder / "vae", **f32)
    text = ToyTextEncoder.load(folder / "text_encoder").float()
    check_consistency(transformer, vae)
    extra = {"reference_prep": reference_prep_of(folder), "look": look_of(folder), "scheme": scheme_of(folder)}
    return Backbone(transformer.eval(), vae.eval(), text, trained=True, source=str(folder), extra=extra)


def _manifest(folder: str | Path) -> dict:
    """The toy model's ``manifest.json`` in ``folder``, or ``{}`` when it has none."""
    path = Path(folder) / "manifest.json"
    return read_json(path, "manifest") if path.is_file() else {}


def scheme_of(folder: str | Path) -> str:
    """The reference position scheme the toy model in ``folder`` was trained with, from its manifest (its
    ``"scheme"``, else its training options'); the default scheme without one."""
    m = _manifest(folder)
    return m.get("scheme") or (m.get("train_config") or {}).get("scheme") or PositionConfig.scheme


def look_of(folder: str | Path) -> str:
    """The look (:class:`~stdrc_lib.toy.render.Look`) the toy model in ``folder`` was trained on, from its
    manifest; ``"classic"`` without one."""
    return _manifest(folder).get("look", "classic")


def reference_prep_of(folder: str | Path) -> str:
    """How the toy model in ``folder`` was trained to see its reference, from its manifest: ``"whole"`` image,
    face ``"crop"`` or face ``"cutout"`` (see :mod:`stdrc_lib.prep.crop`). ``"whole"`` without a manifest."""
    cfg = _manifest(folder).get("train_config") or {}
    return "cutout" if cfg.get("face_cutout") else "crop" if cfg.get("face_crop") else "whole"


def scorer_dir(folder: str | Path) -> Path:
    """The readout that scores the toy model in ``folder``: its ``scorer/`` (trained apart from the readout that
    training used), else its ``readout/``."""
    folder = Path(folder)
    return folder / "scorer" if (folder / "scorer").is_dir() else folder / "readout"


def toy_backbone(random: bool = False, seed: int = 0, adapter: bool = True) -> Backbone:
    """The shipped toy model: the base model with the ST-DRC adapter on it (``adapter=False``: the base alone).
    ``random=True`` asks for untrained weights (``source='random'``).

    Missing weights raise ``FileNotFoundError`` saying how to get them: a demo never runs on random weights by
    accident."""
    if random:
        return build_toy(seed)
    if not (BASE_DIR / "transformer").is_dir():
        raise FileNotFoundError(MISSING_WEIGHTS.format(folder=BASE_DIR))
    if adapter and not (ADAPTER_DIR / LORA_FILE).is_file():
        raise FileNotFoundError(MISSING_WEIGHTS.format(folder=ADAPTER_DIR))
    backbone = load_toy(BASE_DIR)
    if adapter:
        load_adapter(backbone, ADAPTER_DIR)
    return backbone


def load_adapter(backbone, folder: str | Path):
    """Put the fine-tune in ``folder`` on ``backbone``'s transformer: a LoRA through diffusers' loader, or a whole
    fine-tuned ``transformer/``. The backbone then reports the fine-tune's scheme. Refuses one made for another
    base."""
    from ..outputs import weight_hashes
    from ..pipeline import pipeline_from_backbone

    folder = Path(folder)
    full = folder / "transformer"
    if not (folder / LORA_FILE).is_file() and not full.is_dir():
        raise FileNotFoundError(
            f"`folder` {str(folder)!r} holds no {LORA_FILE} (nor a fine-tuned transformer/); train one with "
            "`stdrc train`."
        )
    m = read_json(folder / "manifest.json", "adapter manifest") if (folder / "manifest.json").is_file() else {}
    want, have = m.get("base_sha256") or {}, weight_hashes(backbone.source)
    if any(want[k] != have[k] for k in want.keys() & have.keys()):
        raise ValueError(f"the adapter in {folder} was trained on another base than {backbone.source}.")
    if (folder / LORA_FILE).is_file():
        pipeline_from_backbone(backbone).load_lora_weights(str(folder))
    else:
        from diffusers import LTX2VideoTransformer3DModel

        tuned = LTX2VideoTransformer3DModel.from_pretrained(full, local_files_only=True, torch_dtype=torch.float32)
        backbone.transformer.load_state_dict(tuned.state_dict())
    backbone.extra.update(scheme=m.get("scheme", backbone.scheme), adapter=str(folder))
    return backbone
