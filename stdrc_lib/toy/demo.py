"""What ``stdrc demo`` generates: a sample SynthFaces reference and a prompt, through ``STDRCPipeline``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import pipeline as PL
from ..core.config import SAMPLING_STEPS, GuidanceConfig, PositionConfig
from ..prep import crop as PC
from .choices import DEFAULT_PROMPT
from .readout import Readout, match_prompt_light
from .render import sample_reference
from .world import light_in_prompt


@dataclass
class DemoClip:
    reference: np.ndarray  # (H, W, 3) uint8: the sample reference as drawn
    model_input: np.ndarray  # (H, W, 3) uint8: what the model is conditioned on
    frames: torch.Tensor  # (1, F, H, W, 3) uint8
    notes: list[str]  # what was done to the reference, for the contact sheet's label


def light_matched(backbone, ref: np.ndarray, prompt: str) -> np.ndarray:
    """``ref`` re-lit to the light ``prompt`` names (:func:`~stdrc_lib.toy.readout.match_prompt_light`), or ``ref``
    itself when the prompt names none, the weights are random or they come without a readout."""
    folder = Path(backbone.source) / "readout"
    if light_in_prompt(prompt) is None or not backbone.trained or not (folder / "model.safetensors").is_file():
        return ref
    return match_prompt_light(ref, prompt, Readout.load(folder))


def demo_clip(
    backbone,
    prompt: str = DEFAULT_PROMPT,
    ref_seed: int = 3,
    ref_light: str = "prompt",
    guidance: GuidanceConfig | None = None,
    positions: PositionConfig | None = None,
    num_steps: int = SAMPLING_STEPS,
    num_frames: int = 17,
    negative_prompt: str = "",
    seed: int = 0,
    progress: bool = True,
) -> DemoClip:
    """Draw sample reference ``ref_seed``, prepare it the way ``backbone`` was trained, and generate one clip."""
    ref, ref_mask, ref_box = sample_reference(ref_seed, return_mask_box=True)
    lit = light_matched(backbone, ref, prompt) if ref_light == "prompt" else ref
    prep = backbone.extra.get("reference_prep", "whole")
    model_ref = PC.prepare_reference(lit, prep, ref_box, ref_mask)  # as the model was trained to see it
    out = PL.generate(
        backbone,
        prompt,
        model_ref,
        num_steps=num_steps,
        guidance=guidance,
        positions=positions or backbone.positions(),
        negative_prompt=negative_prompt,
        num_frames=num_frames,
        generator=torch.Generator().manual_seed(seed),
        progress=progress,
    )
    notes = ([f"face {prep}"] if prep != "whole" else []) + (["re-lit"] if lit is not ref else [])
    return DemoClip(ref, model_ref, out.frames, notes)
