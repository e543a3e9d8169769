"""``STDRCPipeline``: ST-DRC as a diffusers pipeline, for tiny checkpoints and for LTX-2.3.

The pipeline holds the same parts as diffusers' ``LTX2Pipeline`` minus audio (``transformer``,
``vae``, ``scheduler``, and a text side that is either the toy text encoder or Gemma 3 with its
tokenizer and ``LTX2TextConnectors``) and runs :func:`stdrc_lib.core.sampling.sample`.

It is the one way to generate: ``stdrc demo``, ``stdrc generate``, the notebooks and :func:`generate`
(a :class:`~stdrc_lib.core.backbone.Backbone` in, uint8 frames out) all call it, with the defaults of
:class:`~stdrc_lib.core.config.GuidanceConfig`.

    pipe = STDRCPipeline.from_pretrained("path/or/hub-id", torch_dtype=torch.bfloat16)
    pipe.load_lora_weights("my-stdrc-lora")          # diffusers' LTX-2 LoRA loader
    video = pipe("a person smiling", reference_image=img, num_inference_steps=30).frames[0]

``prompt_embeds`` are what the text encoder outputs (for LTX-2.3 the Gemma hidden states,
before the connectors, exactly as in ``LTX2Pipeline``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.loaders import LTX2LoraLoaderMixin
from diffusers.utils import BaseOutput
from PIL import Image

from .core import guidance as G
from .core import positions as P
from .core import reference as R
from .core import sampling as S
from .core.config import SAMPLING_STEPS
from .core.validation import check_choice, check_finite, check_generator, check_positive_int
from .prep.faces import crop_reference, default_detector

OUTPUT_TYPES = ("np", "pt", "pil", "uint8", "latent")


@dataclass
class STDRCPipelineOutput(BaseOutput):
    """The generated clips.

    Attributes:
        frames: ``(B, F, H, W, 3)`` floats in [0, 1] (``np``/``pt``), uint8 (``uint8``, a CPU tensor), lists of PIL
            images (``pil``), or the normalized latents ``(B, C, F', H', W')`` (``latent``).
        latents: the normalized latents, whatever ``output_type`` is.
        velocities: with ``return_velocities``, every stream's velocity at every step.
    """

    frames: object
    latents: torch.Tensor | None = None
    velocities: list | None = None


class STDRCPipeline(DiffusionPipeline, LTX2LoraLoaderMixin):
    """Identity-preserving text-to-video with a reference image on LTX-2 classes (see module doc)."""

    model_cpu_offload_seq = "text_encoder->connectors->transformer->vae"
    max_sequence_length = 1024  # Gemma tokens per prompt, as LTX2Pipeline pads them
    _optional_components = ["text_encoder", "tokenizer", "connectors"]
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        transformer,
        vae,
        scheduler,
        text_encoder=None,
        tokenizer=None,
        connectors=None,
        position_scheme: str = P.PositionConfig.scheme,
    ):
        super().__init__()
        check_choice(position_scheme, P.SCHEMES, "position_scheme")
        self.register_modules(
            transformer=transformer,
            vae=vae,
            scheduler=scheduler,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            connectors=connectors,
        )
        self.register_to_config(position_scheme=position_scheme)  # the scheme the transformer was trained with

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """diffusers' loader, with a clear message when a hub id is asked for while offline."""
        path = str(pretrained_model_name_or_path)
        if not Path(path).exists() and _offline():
            try:
                from huggingface_hub import snapshot_download

                snapshot_download(path, local_files_only=True)
            except Exception as e:
                raise OSError(
                    f"`pretrained_model_name_or_path` {path!r} is not a local folder and the hub is offline "
                    "(HF_HUB_OFFLINE=1), with no cached copy. Download it on a machine with internet, e.g. "
                    f"`huggingface-cli download {path} --local-dir models/{path.split('/')[-1]}`, then pass "
                    "that folder instead."
                ) from e
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # ------------------------------------------------------------------ helpers
    @property
    def vae_temporal_factor(self) -> int:
        return int(self.vae.temporal_compression_ratio)

    @property
    def vae_spatial_factor(self) -> int:
        return int(self.vae.spatial_compression_ratio)

    def _defaults(self) -> tuple[int, int, int]:
        """Frames, height and width when the caller gives none: LTX-2.3's, or the toy preset's."""
        if self.vae_spatial_factor >= 32:  # LTX-2.3
            return 121, 512, 768
        return 17, 64, 64

    def check_inputs(
        self,
        prompt,
        prompt_embeds,
        negative_prompt_embeds,
        num_frames,
        height,
        width,
        num_inference_steps,
        reference_guidance_scale,
        text_guidance_scale,
        guidance_order,
        position_scheme,
        output_type,
        callback_on_step_end_tensor_inputs,
    ) -> None:
        if prompt is None and prompt_embeds is None:
            raise ValueError("Provide either `prompt` or `prompt_embeds`; both are None.")
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("Pass only one of `prompt` and `prompt_embeds`, not both.")
        if prompt is not None and not (
            isinstance(prompt, str) or (isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt))
        ):
            raise ValueError(f"`prompt` must be a string or a non-empty list of strings, got {type(prompt).__name__}.")
        if prompt_embeds is not None:
            if not torch.is_tensor(prompt_embeds) or prompt_embeds.ndim != 3:
                raise ValueError("`prompt_embeds` must be a (B, L, D) tensor.")
            if negative_prompt_embeds is not None and negative_prompt_embeds.shape[0] != prompt_embeds.shape[0]:
                raise ValueError(
                    f"`negative_prompt_embeds` batch {negative_prompt_embeds.shape[0]} != `prompt_embeds` batch "
                    f"{prompt_embeds.shape[0]}."
                )
        if prompt is not None and self.text_encoder is None:
            raise ValueError("This pipeline has no text encoder; pass `prompt_embeds` instead of `prompt`.")
        R.latent_grid(num_frames, height, width, (self.vae_temporal_factor, self.vae_spatial_factor))
        check_positive_int(num_inference_steps, "num_inference_steps")
        for name, v in (
            ("reference_guidance_scale", reference_guidance_scale),
            ("text_guidance_scale", text_guidance_scale),
        ):
            if not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ValueError(f"`{name}` must be a finite number, got {v!r}.")
        check_choice(guidance_order, G.ORDERS, "guidance_order")
        check_choice(position_scheme, P.SCHEMES, "position_scheme")
        check_choice(output_type, OUTPUT_TYPES, "output_type")
        bad = [k for k in callback_on_step_end_tensor_inputs or [] if k not in self._callback_tensor_inputs]
        if bad:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` may only hold {self._callback_tensor_inputs}, got {bad}."
            )

    def check_more_inputs(self, negative_prompt, generator, latents, embeds, reference_fit) -> None:
        """The checks diffusers' ``check_inputs`` has no slot for; each error names the argument."""
        if not isinstance(negative_prompt, str):
            raise ValueError(
                f'`negative_prompt` must be a string ("" for the null prompt), got {type(negative_prompt).__name__}.'
            )
        check_generator(generator)
        if latents is not None:
            if not torch.is_tensor(latents):
                raise ValueError(f"`latents` must be a (B, C, F, H, W) tensor, got {type(latents).__name__}.")
            check_finite(latents, "latents")
        for name, e in zip(("prompt_embeds", "negative_prompt_embeds"), embeds):
            if e is not None:
                if not torch.is_tensor(e):
                    raise ValueError(f"`{name}` must be a (B, L, D) tensor, got {type(e).__name__}.")
                check_finite(e, name)
        check_choice(reference_fit, R.FITS, "reference_fit")

    def encode_prompt(self, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
        """Text → ``(embeds, mask)`` from the text encoder (toy, or Gemma 3 as in ``LTX2Pipeline``)."""
        if hasattr(self.text_encoder, "encode") and hasattr(self.text_encoder, "tokenize"):  # the toy encoder
            return self.text_encoder.encode(prompts, device)
        from diffusers import LTX2Pipeline

        # LTX2Pipeline's own Gemma path: left-padded tokens, every hidden state stacked (the connectors read them)
        return LTX2Pipeline._get_gemma_prompt_embeds(
            self, prompts, max_sequence_length=self.max_sequence_length, device=device, dtype=self.transformer.dtype
        )

    def _to_transformer_text(self, emb: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply ``LTX2TextConnectors`` when the pipeline has them (LTX-2.3); the toy text is used as is."""
        if self.connectors is None:
            return emb, mask
        side = getattr(self.tokenizer, "padding_side", "left") if self.tokenizer is not None else "left"
        video, _audio, cmask = self.connectors(emb, mask, padding_side=side)
        return video, cmask

    # ------------------------------------------------------------------ call
    def _text(self, prompt, negative_prompt, embeds, mask, neg_embeds, neg_mask, device):
        """Prompt (or its embeddings) and the null / negative prompt → transformer-width text and masks."""
        if embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            embeds, mask = self.encode_prompt(prompts, device)
            neg_embeds, neg_mask = self.encode_prompt([negative_prompt] * len(prompts), device)
        if mask is None:
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        if neg_embeds is None:
            if self.text_encoder is None:
                raise ValueError(
                    "Pass `negative_prompt_embeds` too: this pipeline has no text encoder for the null prompt."
                )
            neg_embeds, neg_mask = self.encode_prompt([negative_prompt] * embeds.shape[0], device)
        if neg_mask is None:
            neg_mask = torch.ones(neg_embeds.shape[:2], dtype=torch.long, device=neg_embeds.device)
        text, tmask = self._to_transformer_text(embeds.to(device), mask.to(device))
        null, nmask = self._to_transformer_text(neg_embeds.to(device), neg_mask.to(device))
        return text, tmask, null, nmask

    def _references(self, reference_image, b: int, size: tuple[int, int], detect_face: bool, fit: str, device):
        """One image (for every prompt), one per prompt, or None → reference tokens and their latent grids."""
        if reference_image is None:
            return [], []
        images = _per_prompt(reference_image, b, "reference_image")
        if detect_face:
            det = default_detector()
            images = [crop_reference(im, det) for im in images]
        z = torch.cat([R.encode_reference(self.vae, im, size, fit) for im in images])  # (B, C, 1, Hr, Wr)
        return [R.pack(z).to(device)], [tuple(z.shape[-2:])]

    def _first_frame(self, image, b: int, size: tuple[int, int], fit: str, device) -> torch.Tensor | None:
        """One image (for every prompt) or one per prompt → clean tokens ``(B, H·W, C)`` of latent frame 0."""
        if image is None:
            return None
        images = _per_prompt(image, b, "first_frame_image")
        z = torch.cat([R.encode_reference(self.vae, im, size, fit) for im in images])  # (B, C, 1, H', W')
        return R.pack(z).to(device)

    def _output(self, latents: torch.Tensor, output_type: str):
        if output_type == "latent":
            return latents
        pixels = R.decode(self.vae, latents).permute(0, 2, 3, 4, 1)  # (B, F, H, W, 3) in [−1, 1]
        if output_type in ("uint8", "pil"):
            u8 = R.to_uint8(pixels).cpu()
            return u8 if output_type == "uint8" else [[Image.fromarray(f) for f in clip] for clip in u8.numpy()]
        video = ((pixels.float() + 1) / 2).cpu()  # (B, F, H, W, 3) in [0, 1]
        return video if output_type == "pt" else video.numpy()

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        reference_image=None,
        negative_prompt: str = "",
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = SAMPLING_STEPS,
        reference_guidance_scale: float = G.GuidanceConfig.s_ref,
        text_guidance_scale: float = G.GuidanceConfig.s_txt,
        guidance_order: str = G.GuidanceConfig.order,
        guidance_rescale: float = G.GuidanceConfig.rescale,
        position_scheme: str | None = None,
        frame_rate: float = P.PositionConfig.fps,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        detect_face: bool = False,
        reference_fit: str = "crop",
        first_frame_image=None,
        progress: bool = True,
        guidance: G.GuidanceConfig | None = None,
        positions: P.PositionConfig | None = None,
        **sampler_options,
    ):
        """Generate clips.

        Args:
            prompt: text (or a list, one clip each); or pass ``prompt_embeds`` (``(B, L, D)``).
            reference_image: one image (PIL, numpy, torch; shared by all prompts), one per prompt, or None.
                It is brought to ``height`` × ``width`` as ``reference_fit`` says and encoded by the VAE.
            reference_fit: ``"crop"`` (default: scale to cover and cut the centre, aspect kept), ``"pad"``
                (scale to fit and letterbox on mid grey, aspect kept) or ``"stretch"``.
            first_frame_image: image-to-video: one image (or one per prompt) that becomes the clip's first
                frame, LTX-2's way (its latent given clean at frame 0's positions with timestep 0, kept at every
                step). Brought to ``height`` × ``width`` as ``reference_fit`` says. Independent of the reference.
            detect_face: first crop each reference around its face (insightface's detector when its
                model pack is on disk, the offline MTCNN detector otherwise; see
                :func:`stdrc_lib.prep.faces.default_detector` and :func:`stdrc_lib.prep.faces.crop_reference`); a
                picture without a face then raises :class:`~stdrc_lib.prep.faces.NoFaceFoundError`. Off by
                default (toy references are framed).
            reference_guidance_scale / text_guidance_scale: ``s_ref`` and ``s_txt`` of three-stream guidance
                (defaults: :class:`~stdrc_lib.core.config.GuidanceConfig`).
            guidance_order: ``"ref_first"`` or ``"text_first"`` (see :mod:`stdrc_lib.core.guidance`).
            guidance_rescale: φ in [0, 1] of the per-step automatic weighting (``GuidanceConfig.rescale``).
            position_scheme: one of :data:`stdrc_lib.core.positions.SCHEMES` (default: the pipeline's
                ``position_scheme``, the one its transformer was trained with; ``"tass"`` unless it says otherwise).
            output_type: ``"np"``, ``"pt"``, ``"pil"``, ``"uint8"`` or ``"latent"`` (see :class:`STDRCPipelineOutput`).
            callback_on_step_end: ``f(pipe, step, sigma, {"latents": ...}) -> dict``, as in diffusers.
            guidance / positions: a whole :class:`~stdrc_lib.core.config.GuidanceConfig` (with guidance intervals)
                or :class:`~stdrc_lib.core.config.PositionConfig` (with offsets), used instead of the scalar
                arguments above.
            sampler_options: passed to :func:`stdrc_lib.core.sampling.sample` (``batched``,
                ``isolated_reference``, ``return_velocities``, ...).
        """
        f0, h0, w0 = self._defaults()
        position_scheme = self.config.position_scheme if position_scheme is None else position_scheme
        num_frames = f0 if num_frames is None else num_frames
        height, width = (h0 if height is None else height), (w0 if width is None else width)
        scales = (reference_guidance_scale, text_guidance_scale, guidance_order)
        self.check_inputs(
            prompt,
            prompt_embeds,
            negative_prompt_embeds,
            num_frames,
            height,
            width,
            num_inference_steps,
            *((guidance.s_ref, guidance.s_txt, guidance.order) if guidance is not None else scales),
            positions.scheme if positions is not None else position_scheme,
            output_type,
            callback_on_step_end_tensor_inputs,
        )
        self.check_more_inputs(
            negative_prompt, generator, latents, (prompt_embeds, negative_prompt_embeds), reference_fit
        )
        guidance = guidance or G.GuidanceConfig(*scales, rescale=guidance_rescale)
        positions = positions or P.PositionConfig(scheme=position_scheme, fps=frame_rate)
        device = self._execution_device
        text, tmask, null, nmask = self._text(
            prompt,
            negative_prompt,
            prompt_embeds,
            prompt_attention_mask,
            negative_prompt_embeds,
            negative_prompt_attention_mask,
            device,
        )
        refs, ref_grids = self._references(
            reference_image, text.shape[0], (height, width), detect_face, reference_fit, device
        )
        first = self._first_frame(first_frame_image, text.shape[0], (height, width), reference_fit, device)
        cond = S.Conditioning(text, tmask, null, nmask, refs, ref_grids, first)
        grid = R.latent_grid(num_frames, height, width, (self.vae_temporal_factor, self.vae_spatial_factor))
        cb = None
        if callback_on_step_end is not None:

            def cb(i, sigma, tensors):
                return callback_on_step_end(self, i, sigma, tensors)

        sched = FlowMatchEulerDiscreteScheduler.from_config(self.scheduler.config)
        sched.set_timesteps(num_inference_steps)
        out = S.sample(
            self.transformer,
            cond,
            grid,
            num_inference_steps,
            guidance,
            positions,
            generator,
            latents=latents,
            scheduler=sched,
            callback_on_step_end=cb,
            progress=progress,
            **sampler_options,
        )
        self.maybe_free_model_hooks()
        frames = self._output(out.latents, output_type)
        if not return_dict:
            return (frames,)
        return STDRCPipelineOutput(frames=frames, latents=out.latents, velocities=out.velocities)


def _per_prompt(image, b: int, name: str) -> list:
    """One image for every prompt, or a list with one per prompt, as a list of ``b`` images."""
    images = image if isinstance(image, (list, tuple)) else [image] * b
    if len(images) != b:
        raise ValueError(
            f"`{name}` has {len(images)} images but there are {b} prompts; pass one image, or one per prompt."
        )
    return images


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def pipeline_from_backbone(backbone) -> STDRCPipeline:
    """Wrap a :class:`~stdrc_lib.core.backbone.Backbone` (e.g. the shipped toy model) as a pipeline."""
    return STDRCPipeline(
        transformer=backbone.transformer,
        vae=backbone.vae,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
        text_encoder=backbone.text_encoder,
        position_scheme=backbone.scheme,
    )


def generate(
    backbone,
    prompt: str | list[str],
    reference_image=None,
    num_steps: int = SAMPLING_STEPS,
    guidance: G.GuidanceConfig | None = None,
    positions: P.PositionConfig | None = None,
    **kwargs,
) -> STDRCPipelineOutput:
    """:class:`STDRCPipeline` on a :class:`~stdrc_lib.core.backbone.Backbone`, with uint8 frames.

    ``frames`` is a ``(B, F, H, W, 3)`` uint8 CPU tensor. ``guidance`` defaults to the pipeline's (those of
    :class:`~stdrc_lib.core.config.GuidanceConfig`), ``positions`` to the backbone's frame rate and the scheme
    it was trained with (:meth:`~stdrc_lib.core.backbone.Backbone.positions`); every other keyword goes to
    :meth:`STDRCPipeline.__call__` (``negative_prompt``, ``num_frames``, ``height``, ``width``, ``generator``,
    ``progress``, ``batched``, ``isolated_reference``, ``return_velocities``, ...).
    """
    if backbone.text_encoder is None:
        raise ValueError("`backbone` has no text encoder; use STDRCPipeline with `prompt_embeds` instead.")
    if prompt is None or (isinstance(prompt, list) and not prompt):
        raise ValueError(f"`prompt` must be a non-empty string or list of strings, got {prompt!r}.")
    check_positive_int(num_steps, "num_steps")
    pipe = pipeline_from_backbone(backbone)
    positions = positions or backbone.positions()
    return pipe(
        prompt, reference_image, num_inference_steps=num_steps, guidance=guidance, positions=positions,
        output_type="uint8", **kwargs,
    )  # fmt: skip
