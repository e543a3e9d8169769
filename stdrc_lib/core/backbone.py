"""The parts ST-DRC runs on, and the one place that calls the diffusers transformer.

The backbone is diffusers' own ``LTX2VideoTransformer3DModel`` and ``AutoencoderKLLTX2Video`` with
the LTX-2.3 flags (split RoPE, gated attention, cross-attention modulation, perturbed attention,
no caption projection). This module holds the LTX-2.3 configuration (48 layers, width 4096),
loaded with ``from_pretrained`` from a local folder or hub id; the toy preset's tiny widths live
in :mod:`stdrc_lib.toy.weights`.

The transformer is audio-visual; ST-DRC is video only. :func:`transformer_forward` feeds it one
dummy audio token, ``isolate_modalities=True`` (no audio↔video attention), and the
``audio_timestep`` / ``sigma`` of shape ``(B,)`` it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import reference as R
from .config import PositionConfig

# LTX-2.3 (22B checkpoint; the transformer alone is counted in tests/test_backbone.py).
LTX23_TRANSFORMER_CONFIG = dict(
    in_channels=128,
    out_channels=128,
    patch_size=1,
    patch_size_t=1,
    num_attention_heads=32,
    attention_head_dim=128,
    cross_attention_dim=4096,
    vae_scale_factors=(8, 32, 32),
    pos_embed_max_pos=20,
    base_height=2048,
    base_width=2048,
    gated_attn=True,
    cross_attn_mod=True,
    audio_in_channels=128,
    audio_out_channels=128,
    audio_patch_size=1,
    audio_patch_size_t=1,
    audio_num_attention_heads=32,
    audio_attention_head_dim=64,
    audio_cross_attention_dim=2048,
    audio_scale_factor=4,
    audio_pos_embed_max_pos=20,
    audio_sampling_rate=16000,
    audio_hop_length=160,
    audio_gated_attn=True,
    audio_cross_attn_mod=True,
    num_layers=48,
    activation_fn="gelu-approximate",
    qk_norm="rms_norm_across_heads",
    norm_elementwise_affine=False,
    norm_eps=1e-6,
    caption_channels=3840,
    attention_bias=True,
    attention_out_bias=True,
    rope_theta=10000.0,
    rope_double_precision=True,
    causal_offset=1,
    timestep_scale_multiplier=1000,
    cross_attn_timestep_scale_multiplier=1000,
    rope_type="split",
    use_prompt_embeddings=False,
    perturbed_attn=True,
)

LTX23_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=128,
    block_out_channels=(256, 512, 1024, 1024),
    down_block_types=("LTX2VideoDownBlock3D",) * 4,
    decoder_block_out_channels=(256, 512, 512, 1024),
    layers_per_block=(4, 6, 4, 2, 2),
    decoder_layers_per_block=(4, 6, 4, 2, 2),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_spatio_temporal_scaling=(True, True, True, True),
    decoder_inject_noise=(False,) * 5,
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
    upsample_residual=(False, False, False, False),
    upsample_factor=(2, 2, 1, 2),
    timestep_conditioning=False,
    patch_size=4,
    patch_size_t=1,
    resnet_norm_eps=1e-6,
    encoder_causal=True,
    decoder_causal=False,
    encoder_spatial_padding_mode="zeros",
    decoder_spatial_padding_mode="zeros",
    spatial_compression_ratio=32,
    temporal_compression_ratio=8,
)

# LTX-2.5 (diffusers' converter): the same transformer class and widths as LTX-2.3; the video feed-forward has no
# bias and a learned absolute-position embedding marks generated keyframe tokens. Its conv VAE *encoder* is LTX-2.3's
# (same config, byte-identical weights); it decodes with a diffusion decoder (LTX2VideoDiffusionDecoderModel), and
# its text encoder is Gemma 4, whose hidden size and depth set the connectors' input.
LTX25_TRANSFORMER_CONFIG = dict(LTX23_TRANSFORMER_CONFIG, ff_bias=False, use_keyframes_abs_pos_embedding=True)

# LTX-2.3's text connectors (diffusers' LTX2TextConnectors): Gemma-3-12B's 49 hidden states of width 3840 are
# projected per modality into the video (4096) and audio (2048) widths, then refined by 8 gated layers each.
LTX23_CONNECTORS_CONFIG = dict(
    caption_channels=3840,
    text_proj_in_factor=49,
    video_connector_num_attention_heads=32,
    video_connector_attention_head_dim=128,
    video_connector_num_layers=8,
    video_connector_num_learnable_registers=128,
    video_gated_attn=True,
    audio_connector_num_attention_heads=32,
    audio_connector_attention_head_dim=64,
    audio_connector_num_layers=8,
    audio_connector_num_learnable_registers=128,
    audio_gated_attn=True,
    connector_rope_base_seq_len=4096,
    rope_theta=10000.0,
    rope_double_precision=True,
    causal_temporal_positioning=False,
    rope_type="split",
    per_modality_projections=True,
    video_hidden_dim=4096,
    audio_hidden_dim=2048,
    proj_bias=True,
)

FULL_HUB_ID = "diffusers/LTX-2.3-Diffusers"


@dataclass
class Backbone:
    """The parts ST-DRC runs on.

    ``text_encoder`` is any module with ``tokenize(texts) -> (ids, mask)``, ``forward(ids, mask) -> (B, L, D)``
    and ``encode(texts, device)`` (the toy encoder, or a cache of prompt embeddings), or None.
    """

    transformer: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module | None = None
    fps: float = 24.0
    trained: bool = False
    source: str = "random"
    extra: dict = field(default_factory=dict)

    @property
    def vae_factors(self) -> tuple[int, int]:
        return int(self.vae.temporal_compression_ratio), int(self.vae.spatial_compression_ratio)

    def latent_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Pixel clip size → latent grid ``(F, H, W)``, with a clear error when it does not divide."""
        return R.latent_grid(num_frames, height, width, self.vae_factors)

    @property
    def scheme(self) -> str:
        """The reference position scheme this model was trained with (``extra["scheme"]``), else the default."""
        return self.extra.get("scheme", PositionConfig.scheme)

    def positions(self, **overrides) -> PositionConfig:
        """Positions for this model: its scheme and frame rate, unless ``overrides`` say otherwise."""
        return PositionConfig(**{"scheme": self.scheme, "fps": self.fps, **overrides})


def check_consistency(transformer, vae) -> None:
    """The transformer's RoPE scale factors and channels must match the VAE it is used with."""
    t, s = int(vae.temporal_compression_ratio), int(vae.spatial_compression_ratio)
    want = (t, s, s)
    got = tuple(int(v) for v in transformer.config.vae_scale_factors)
    if got != want:
        raise ValueError(f"transformer `vae_scale_factors` {got} do not match the VAE's (temporal, spatial) {want}.")
    if transformer.config.in_channels != vae.config.latent_channels:
        raise ValueError(
            f"transformer `in_channels` {transformer.config.in_channels} != VAE `latent_channels` "
            f"{vae.config.latent_channels}."
        )
    if transformer.config.patch_size != 1 or transformer.config.patch_size_t != 1:
        raise ValueError("stdrc packs latents with patch size 1; the transformer must use patch_size=patch_size_t=1.")


FULL_PRESETS = {"ltx-2.3": LTX23_TRANSFORMER_CONFIG, "ltx-2.5": LTX25_TRANSFORMER_CONFIG}


def build_full_on_meta(preset: str = "ltx-2.3"):
    """The transformer of ``preset`` (``"ltx-2.3"`` or ``"ltx-2.5"``) and the LTX-2.3 conv VAE on the ``meta``
    device: real modules, no memory, no weights. (LTX-2.5 encodes with that VAE's encoder and decodes with a
    diffusion decoder, which stdrc does not use.)"""
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    if preset not in FULL_PRESETS:
        raise ValueError(f"`preset` must be one of {tuple(FULL_PRESETS)}, got {preset!r}.")
    with torch.device("meta"):
        transformer = LTX2VideoTransformer3DModel(**FULL_PRESETS[preset])
        vae = AutoencoderKLLTX2Video(**LTX23_VAE_CONFIG)
    check_consistency(transformer, vae)
    return transformer, vae


def load_full(
    model: str | Path = FULL_HUB_ID,
    torch_dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
    local_files_only: bool | None = None,
) -> Backbone:
    """LTX-2.3 transformer + VAE from a diffusers-format folder or hub id.

    Offline (``HF_HUB_OFFLINE=1``) or when the files are missing, this raises
    ``FileNotFoundError`` saying what to download and where to put it.
    """
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    path = Path(model)
    is_local = path.exists()
    if not is_local and str(model).startswith((".", "/", "~")):
        raise FileNotFoundError(_missing_full_message(model, "the folder does not exist"))
    try:
        kw = dict(torch_dtype=torch_dtype, local_files_only=local_files_only or is_local)
        transformer = LTX2VideoTransformer3DModel.from_pretrained(model, subfolder="transformer", **kw)
        vae = AutoencoderKLLTX2Video.from_pretrained(model, subfolder="vae", **kw)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(
            _missing_full_message(model, str(e).splitlines()[0] if str(e) else type(e).__name__)
        ) from e
    check_consistency(transformer, vae)
    return Backbone(transformer.to(device).eval(), vae.to(device).eval(), None, trained=True, source=str(model))


def _missing_full_message(model, why: str) -> str:
    return (
        f"could not load LTX-2.3 weights from {model!r} ({why}). Download the diffusers-format checkpoint "
        f"(about 50 GB) while online, e.g.\n"
        f"    huggingface-cli download {FULL_HUB_ID} --local-dir ./models/LTX-2.3-Diffusers\n"
        "then pass that folder (it must contain transformer/ and vae/ subfolders), e.g. "
        "`--model ./models/LTX-2.3-Diffusers`. With HF_HUB_OFFLINE=1 only local folders or the hub cache are used."
    )


# --------------------------------------------------------------------------- the forward
def transformer_forward(
    transformer,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    timestep: torch.Tensor,
    sigma: torch.Tensor,
    video_coords: torch.Tensor,
    encoder_attention_mask: torch.Tensor | None = None,
    video_self_attention_mask: torch.Tensor | None = None,
    attention_kwargs: dict | None = None,
) -> torch.Tensor:
    """Video-only forward of ``LTX2VideoTransformer3DModel``; the only call site in stdrc.

    Args:
        hidden_states: tokens ``(B, N, C)``, ``[video | references]``.
        encoder_hidden_states: text embeddings ``(B, L, D)``.
        timestep: per-token noise level in ``[0, 1]``, ``(B, N)`` (0 on reference tokens).
        sigma: the clip's noise level ``(B,)`` (drives LTX-2.3's prompt modulation).
        video_coords: ``(B, 3, N, 2)`` boxes from :mod:`stdrc_lib.core.positions`.
        video_self_attention_mask: optional multiplicative ``(B, N, N)`` mask.

    Returns:
        velocity ``(B, N, C)`` at every position (strip the reference part yourself).
    """
    b, n, _ = hidden_states.shape
    cfg = getattr(transformer, "module", transformer).config  # DDP (accelerate) wraps the model
    if timestep.shape != (b, n):
        raise ValueError(f"`timestep` must be (B, N) = {(b, n)}, got {tuple(timestep.shape)}.")
    if video_coords.shape[0] != b or video_coords.shape[2] != n:
        raise ValueError(f"`video_coords` must be (B={b}, 3, N={n}, 2), got {tuple(video_coords.shape)}.")
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=hidden_states.device).reshape(-1).expand(b)
    dtype = hidden_states.dtype
    mult = cfg.timestep_scale_multiplier
    audio = hidden_states.new_zeros(b, 1, cfg.audio_in_channels)  # one dummy audio token
    audio_text = hidden_states.new_zeros(b, 1, cfg.audio_cross_attention_dim)
    out = transformer(
        hidden_states=hidden_states,
        audio_hidden_states=audio,
        encoder_hidden_states=encoder_hidden_states.to(dtype),
        audio_encoder_hidden_states=audio_text,
        timestep=(timestep * mult).to(dtype),
        audio_timestep=(sigma * mult).to(dtype),
        sigma=(sigma * mult).to(dtype),
        encoder_attention_mask=encoder_attention_mask,
        audio_num_frames=1,
        video_coords=video_coords,
        isolate_modalities=True,
        attention_kwargs=attention_kwargs,
        video_self_attention_mask=video_self_attention_mask,
        return_dict=False,
    )[0]
    return out
