"""Face embedders: detect → align → embed, behind one small protocol.

Backends:

* :class:`ToyFaceEmbedder` – the SynthFaces readout's 64-d identity embedding (differentiable; faces are
  already framed, so detection returns the whole frame).

The insightface (SCRFD + ArcFace, ONNX / onnx2torch) and offline MTCNN backends belong to the [training]
issue and are not implemented yet.
"""

from __future__ import annotations

from typing import Protocol

import torch


class FaceEmbedder(Protocol):
    differentiable: bool

    def detect(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Boxes ``(n_i, 4)`` (x0, y0, x1, y1 in pixels) per image of ``(B, 3, H, W)`` in [−1, 1]."""

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        """Aligned faces ``(N, 3, h, w)`` in [−1, 1] → unit embeddings ``(N, D)``."""


class ToyFaceEmbedder:
    """SynthFaces readout as a face embedder (frames are 64×64 and contain one face)."""

    differentiable = True

    def __init__(self, readout):
        self.readout = readout

    def detect(self, images: torch.Tensor) -> list[torch.Tensor]:
        b, _, h, w = images.shape
        return [torch.tensor([[0.0, 0.0, float(w), float(h)]]) for _ in range(b)]

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        if faces.ndim != 4 or faces.shape[1] != 3:
            raise ValueError(f"`faces` must be (N, 3, H, W), got {tuple(faces.shape)}.")
        if faces.shape[-2:] != (64, 64):
            faces = torch.nn.functional.interpolate(faces, size=(64, 64), mode="bilinear", antialias=True)
        return self.readout(faces)["embedding"]

    __call__ = embed
