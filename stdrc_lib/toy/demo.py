"""What ``stdrc demo`` generates: a sample SynthFaces reference and a prompt, through ``STDRCPipeline``.

The model gets what a user would have: the reference image, whole and in its own light, and the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import pipeline as PL
from ..core.config import SAMPLING_STEPS, GuidanceConfig, PositionConfig
from .choices import DEFAULT_PROMPT
from .render import sample_reference


@dataclass
class DemoClip:
    reference: np.ndarray  # (H, W, 3) uint8: the sample reference, as the model gets it
    frames: torch.Tensor  # (1, F, H, W, 3) uint8


def demo_clip(
    backbone,
    prompt: str = DEFAULT_PROMPT,
    ref_seed: int = 3,
    guidance: GuidanceConfig | None = None,
    positions: PositionConfig | None = None,
    num_steps: int = SAMPLING_STEPS,
    num_frames: int = 17,
    negative_prompt: str = "",
    seed: int = 0,
    progress: bool = True,
) -> DemoClip:
    """Draw sample reference ``ref_seed`` (a held-out identity, in the model's look) and generate one clip."""
    ref = sample_reference(ref_seed, look=backbone.extra.get("look", "classic"))
    out = PL.generate(
        backbone,
        prompt,
        ref,
        num_steps=num_steps,
        guidance=guidance,
        positions=positions or backbone.positions(),
        negative_prompt=negative_prompt,
        num_frames=num_frames,
        generator=torch.Generator().manual_seed(seed),
        progress=progress,
    )
    return DemoClip(ref, out.frames)
