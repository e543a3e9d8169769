"""SynthFaces: a procedural world of faces with known ground truth (see DESIGN.md §4)."""

from .render import FaceSpec, draw_face, sample_reference

__all__ = ["FaceSpec", "draw_face", "sample_reference"]
