"""``STDRCPipeline``: ST-DRC as a diffusers pipeline, for tiny checkpoints and for LTX-2.3.

The pipeline holds the same parts as diffusers' ``LTX2Pipeline`` minus audio (``transformer``,
``vae``, ``scheduler``, and a text side that is either the toy text encoder or Gemma 3 with its
tokenizer and ``LTX2TextConnectors``) and runs :func:`stdrc_lib.sampling.sample`, so a pipeline
and the library's own sampler give the same frames for the same seed.

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

from . import guidance as G
from . import positions as P
from . import reference as R
from . import sampling as S
from .validation import check_choice, check_positive_int

OUTPUT_TYPES = ("np", "pt", "pil", "latent")


@dataclass
class STDRCPipelineOutput(BaseOutput):
    """``frames``: ``(B, F, H, W, 3)`` floats in [0, 1] (``np``/``pt``), lists of PIL images, or latents."""

    frames: object


class STDRCPipeline(DiffusionPipeline, LTX2LoraLoaderMixin):
    """Identity-preserving text-to-video with a reference image on LTX-2 classes (see module doc)."""

    model_cpu_offload_seq = "text_encoder->connectors->transformer->vae"
    _optional_components = ["text_encoder", "tokenizer", "connectors"]
    _callback_tensor_inputs = ["latents"]

    def __init__(self, transformer, vae, scheduler, text_encoder=None, tokenizer=None, connectors=None):
        super().__init__()
        self.register_modules(
            transformer=transformer,
            vae=vae,
            scheduler=scheduler,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            connectors=connectors,
        )

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
        if self.vae_spatial_factor >= 32:  # LTX-2.3
            return 121, 512, 768
        return 17, 64, 64  # the toy preset

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
        t, s = self.vae_temporal_factor, self.vae_spatial_factor
        if not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % t:
            raise ValueError(f"`num_frames` must be k·{t}+1 (e.g. {t + 1}, {4 * t + 1}), got {num_frames!r}.")
        for name, v in (("height", height), ("width", width)):
            if not isinstance(v, int) or v < s or v % s:
                raise ValueError(f"`{name}` must be a positive multiple of {s} (the VAE's spatial factor), got {v!r}.")
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

    def encode_prompt(self, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
        """Text → ``(embeds, mask)`` from the text encoder (toy, or Gemma 3 as in ``LTX2Pipeline``)."""
        if hasattr(self.text_encoder, "encode") and hasattr(self.text_encoder, "tokenize"):  # the toy encoder
            return self.text_encoder.encode(prompts, device)
        from diffusers import LTX2Pipeline

        emb, mask, _, _ = LTX2Pipeline.encode_prompt(
            self, prompts, do_classifier_free_guidance=False, device=device, dtype=self.transformer.dtype
        )
        return emb, mask

    def _to_transformer_text(self, emb: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply ``LTX2TextConnectors`` when the pipeline has them (LTX-2.3); the toy text is used as is."""
        if self.connectors is None:
            return emb, mask
        side = getattr(self.tokenizer, "padding_side", "left") if self.tokenizer is not None else "left"
        video, _audio, cmask = self.connectors(emb, mask, padding_side=side)
        return video, cmask

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        reference_image=None,
        negative_prompt: str = "",
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 30,
        reference_guidance_scale: float = 2.0,
        text_guidance_scale: float = 3.0,
        guidance_order: str = "ref_first",
        guidance_rescale: float = 0.0,
        position_scheme: str = "tass",
        frame_rate: float = 24.0,
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
        progress: bool = True,
    ):
        """Generate clips.

        Args:
            prompt: text (or a list, one clip each); or pass ``prompt_embeds`` (``(B, L, D)``).
            reference_image: one image (PIL, numpy, torch; shared by all prompts), one per prompt, or None.
                It is resized (aspect kept, padded) to ``height`` × ``width`` and encoded by the VAE.
            detect_face: first crop each reference around its face (insightface's detector when its
                model pack is on disk, the offline MTCNN detector otherwise; see
                :func:`stdrc_lib.faces.default_detector` and :func:`stdrc_lib.faces.crop_reference`); a
                picture without a face then raises :class:`~stdrc_lib.faces.NoFaceFoundError`. Off by
                default (toy references are framed).
            reference_guidance_scale / text_guidance_scale: ``s_ref`` and ``s_txt`` of three-stream guidance.
            guidance_order: ``"ref_first"`` or ``"text_first"`` (see :mod:`stdrc_lib.guidance`).
            guidance_rescale: φ in [0, 1] of the per-step automatic weighting (``GuidanceConfig.rescale``).
            position_scheme: ``"tass"`` (default), ``"shared"``, ``"temporal"``, ``"spatial"`` or ``"nope"``.
            callback_on_step_end: ``f(pipe, step, sigma, {"latents": ...}) -> dict``, as in diffusers.
        """
        f0, h0, w0 = self._defaults()
        num_frames, height, width = num_frames or f0, height or h0, width or w0
        self.check_inputs(
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
        )
        device = self._execution_device
        if prompt_embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            prompt_embeds, prompt_attention_mask = self.encode_prompt(prompts, device)
            negative_prompt_embeds, negative_prompt_attention_mask = self.encode_prompt(
                [negative_prompt] * len(prompts), device
            )
        b = prompt_embeds.shape[0]
        if prompt_attention_mask is None:
            prompt_attention_mask = torch.ones(prompt_embeds.shape[:2], dtype=torch.long, device=prompt_embeds.device)
        if negative_prompt_embeds is None:
            if self.text_encoder is None:
                raise ValueError(
                    "Pass `negative_prompt_embeds` too: this pipeline has no text encoder for the null prompt."
                )
            negative_prompt_embeds, negative_prompt_attention_mask = self.encode_prompt([negative_prompt] * b, device)
        if negative_prompt_attention_mask is None:
            negative_prompt_attention_mask = torch.ones(
                negative_prompt_embeds.shape[:2], dtype=torch.long, device=negative_prompt_embeds.device
            )
        text, tmask = self._to_transformer_text(prompt_embeds.to(device), prompt_attention_mask.to(device))
        null, nmask = self._to_transformer_text(
            negative_prompt_embeds.to(device), negative_prompt_attention_mask.to(device)
        )
        refs, ref_grids = [], []
        if reference_image is not None:
            images = reference_image if isinstance(reference_image, (list, tuple)) else [reference_image] * b
            if len(images) != b:
                raise ValueError(
                    f"`reference_image` has {len(images)} images but there are {b} prompts; "
                    "pass one image, or one per prompt."
                )
            if detect_face:
                from .faces import crop_reference, default_detector

                det = default_detector()
                images = [crop_reference(im, det) for im in images]
            z = torch.cat([R.encode_reference(self.vae, im, (height, width)) for im in images])
            refs, ref_grids = [R.pack(z).to(device)], [tuple(z.shape[-2:])]
        cond = S.Conditioning(text, tmask, null, nmask, refs, ref_grids)
        t, s = self.vae_temporal_factor, self.vae_spatial_factor
        grid = ((num_frames - 1) // t + 1, height // s, width // s)
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
            G.GuidanceConfig(
                reference_guidance_scale, text_guidance_scale, order=guidance_order, rescale=guidance_rescale
            ),
            P.PositionConfig(scheme=position_scheme, fps=frame_rate),
            generator,
            latents=latents,
            scheduler=sched,
            callback_on_step_end=cb,
            progress=progress,
        )
        self.maybe_free_model_hooks()
        if output_type == "latent":
            frames = out.latents
        else:
            pixels = R.decode(self.vae, out.latents)  # (B, 3, F, H, W) in [−1, 1]
            video = ((pixels.float() + 1) / 2).permute(0, 2, 3, 4, 1).cpu()  # (B, F, H, W, 3) in [0, 1]
            if output_type == "pt":
                frames = video
            elif output_type == "np":
                frames = video.numpy()
            else:
                from PIL import Image

                u8 = R.to_uint8(pixels.permute(0, 2, 3, 4, 1)).cpu().numpy()
                frames = [[Image.fromarray(fr) for fr in clip] for clip in u8]
        if not return_dict:
            return (frames,)
        return STDRCPipelineOutput(frames=frames)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def pipeline_from_backbone(backbone) -> STDRCPipeline:
    """Wrap a :class:`~stdrc_lib.backbone.Backbone` (e.g. the shipped toy model) as a pipeline."""
    return STDRCPipeline(
        transformer=backbone.transformer,
        vae=backbone.vae,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0),
        text_encoder=backbone.text_encoder,
    )
