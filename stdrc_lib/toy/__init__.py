"""SynthFaces: a procedural world of faces with known ground truth (see DESIGN.md §4)."""

from .render import FaceSpec, Layout, draw_face, render, render_clip, render_eval_reference, sample_reference
from .world import (
    HELD_OUT_IDENTITIES,
    HELD_OUT_PROMPTS,
    IDENTITY_ATTRS,
    NUM_IDENTITIES,
    NUM_PROMPTS,
    PROMPT_ATTRS,
    VOCAB,
    Identity,
    Prompt,
    split_indices,
)

__all__ = [
    "FaceSpec",
    "Layout",
    "draw_face",
    "render",
    "render_clip",
    "render_eval_reference",
    "sample_reference",
    "HELD_OUT_IDENTITIES",
    "HELD_OUT_PROMPTS",
    "IDENTITY_ATTRS",
    "NUM_IDENTITIES",
    "NUM_PROMPTS",
    "PROMPT_ATTRS",
    "VOCAB",
    "Identity",
    "Prompt",
    "split_indices",
]
