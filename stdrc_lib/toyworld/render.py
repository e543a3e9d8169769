"""Drawing one SynthFaces face with PIL, supersampled 4× for anti-aliasing.

This is the seed of the SynthFaces renderer: a face is a small set of attributes (shape,
skin, hair, eyes, glasses) drawn at a position and scale on a background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SKIN = [(255, 224, 189), (234, 192, 134), (198, 134, 66), (141, 85, 36)]
HAIR = [(20, 20, 20), (110, 60, 20), (230, 200, 90), (200, 60, 30), (160, 160, 160)]
EYES = [(40, 90, 200), (60, 140, 60), (90, 55, 25)]
BACKGROUNDS = [(70, 130, 180), (34, 139, 34), (200, 200, 200), (240, 220, 130), (60, 60, 90)]


@dataclass(frozen=True)
class FaceSpec:
    skin: int = 0
    hair: int = 0
    eyes: int = 0
    glasses: bool = False
    background: int = 0
    cx: float = 0.5  # face centre, fraction of the canvas
    cy: float = 0.55
    scale: float = 0.55  # face height, fraction of the canvas


def draw_face(spec: FaceSpec, size: int = 64, ss: int = 4) -> np.ndarray:
    """Render ``spec`` to a ``(size, size, 3)`` uint8 image."""
    S = size * ss
    im = Image.new("RGB", (S, S), BACKGROUNDS[spec.background % len(BACKGROUNDS)])
    d = ImageDraw.Draw(im)
    cx, cy, fh = spec.cx * S, spec.cy * S, spec.scale * S
    fw = 0.78 * fh
    hair = HAIR[spec.hair % len(HAIR)]
    d.ellipse([cx - fw / 2 - 0.06 * fh, cy - fh / 2 - 0.1 * fh, cx + fw / 2 + 0.06 * fh, cy + 0.1 * fh], fill=hair)
    d.ellipse([cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2], fill=SKIN[spec.skin % len(SKIN)])
    ey, ex, er = cy - 0.08 * fh, 0.2 * fw, 0.07 * fh
    for sx in (-1, 1):
        d.ellipse([cx + sx * ex - er, ey - er, cx + sx * ex + er, ey + er], fill=(255, 255, 255))
        d.ellipse([cx + sx * ex - er / 2, ey - er / 2, cx + sx * ex + er / 2, ey + er / 2], fill=EYES[spec.eyes % 3])
        if spec.glasses:
            d.ellipse(
                [cx + sx * ex - 1.8 * er, ey - 1.8 * er, cx + sx * ex + 1.8 * er, ey + 1.8 * er],
                outline=(10, 10, 10),
                width=max(1, ss),
            )
    d.arc([cx - 0.18 * fw, cy + 0.08 * fh, cx + 0.18 * fw, cy + 0.28 * fh], 20, 160, fill=(150, 40, 40), width=ss)
    return np.asarray(im.resize((size, size), Image.LANCZOS))


def sample_reference(seed: int = 0, size: int = 64) -> np.ndarray:
    """A deterministic sample reference face for demos and tests."""
    rng = np.random.default_rng(seed)
    spec = FaceSpec(
        skin=int(rng.integers(len(SKIN))),
        hair=int(rng.integers(len(HAIR))),
        eyes=int(rng.integers(3)),
        glasses=bool(rng.integers(2)),
        background=int(rng.integers(len(BACKGROUNDS))),
    )
    return draw_face(spec, size)
