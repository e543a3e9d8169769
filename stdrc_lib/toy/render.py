"""Vectorised SynthFaces renderer: every frame of a clip at once, analytically anti-aliased.

Each part of the picture (background, hair, face, eyes, mouth, glasses, hat, ...) is a shape
with a signed distance ``d`` (in pixels) to its outline; its coverage of a pixel is
``clip(0.5 − d, 0, 1)``, a one-pixel-wide linear ramp, and shapes are composited in order.
Shapes are evaluated in face-local coordinates (centre, scale, tilt per frame), so motion is a
change of three numbers per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .world import HELD_OUT_IDENTITIES, IDENTITY_ATTRS, PROMPT_ATTRS, Identity, Prompt


def _rgb(*colours) -> np.ndarray:
    return np.array(colours, np.float32) / 255


@dataclass(frozen=True, eq=False)
class Look:
    """How the world's attributes are drawn: colours, sizes of the face parts, where faces sit, the lights.

    Looks share the world's attributes, prompts and held-out splits; only the picture changes:

    * ``CLASSIC``: the first look, faces half the frame high, eyes, iris and mark of two or three pixels;
    * ``BOLD``: faces 0.62 of the frame, larger eyes, iris, mark and glasses rims, colours further apart and
      a milder dim light, so that every identity attribute survives the VAE and reads by eye at 64×64.

    A model's manifest names the look it was trained on (``"look"``), and evaluation renders that one.
    """

    name: str
    skin: np.ndarray  # (4, 3) RGB in [0, 1], per skin tone
    hair: np.ndarray  # (5, 3) per hair colour
    eyes: np.ndarray  # (3, 3) per eye colour
    face_aspect: tuple[float, ...]  # width / height, per face shape
    eye_spacing: tuple[float, ...]  # half the distance between the eyes, in face widths, per spacing
    eye_radius: float  # in face heights (the white is 1.25× as wide)
    iris: float  # iris radius / eye radius
    rim_width: float  # glasses rim width, in face heights
    rim_radius: tuple[float, float]  # glasses rim radii (across, up), in eye radii
    bridge: float  # half the height of the glasses' bridge, in face heights
    mark_radius: float  # in face heights
    mark_at: tuple[float, float]  # the mark's centre: (face half-widths to the left, face heights down)
    mark_colour: tuple[float, float, float]
    light: dict[str, np.ndarray]  # per-channel gain, per lighting word
    clip_scale: float  # face height in clips, as a fraction of the frame (± 0.04 per clip)
    ref_scale: tuple[float, float]  # range of face heights of evaluation references


_LIGHTS = ("bright", "dim", "warm")
CLASSIC = Look(
    name="classic",
    skin=_rgb((255, 224, 196), (236, 196, 150), (198, 140, 90), (128, 80, 45)),
    hair=_rgb((25, 25, 28), (105, 60, 25), (235, 205, 95), (200, 70, 30), (165, 165, 170)),
    eyes=_rgb((40, 110, 230), (40, 160, 60), (100, 60, 25)),
    face_aspect=(0.92, 0.78, 0.64),
    eye_spacing=(0.19, 0.27),
    eye_radius=0.075,
    iris=0.7,
    rim_width=0.035,
    rim_radius=(1.9, 1.7),
    bridge=0.015,
    mark_radius=0.045,
    mark_at=(0.55, 0.14),
    mark_colour=(0.35, 0.15, 0.1),
    light=dict(zip(_LIGHTS, np.array([[1.12, 1.12, 1.12], [0.55, 0.55, 0.6], [1.1, 0.92, 0.68]], np.float32))),
    clip_scale=0.5,
    ref_scale=(0.34, 0.42),
)
BOLD = Look(
    name="bold",
    skin=_rgb((255, 228, 205), (226, 180, 130), (175, 115, 70), (105, 65, 38)),
    hair=_rgb((20, 20, 22), (120, 62, 20), (245, 212, 70), (220, 55, 20), (190, 190, 200)),
    eyes=_rgb((25, 85, 255), (15, 185, 35), (95, 50, 15)),
    face_aspect=(0.95, 0.82, 0.7),
    eye_spacing=(0.2, 0.32),
    eye_radius=0.09,
    iris=0.8,
    rim_width=0.07,
    rim_radius=(1.55, 1.4),
    bridge=0.03,
    mark_radius=0.065,
    mark_at=(0.62, 0.1),
    mark_colour=(0.25, 0.08, 0.06),
    light=dict(zip(_LIGHTS, np.array([[1.1, 1.1, 1.1], [0.65, 0.65, 0.7], [1.1, 0.92, 0.7]], np.float32))),
    clip_scale=0.62,
    ref_scale=(0.46, 0.54),
)
LOOKS = {look.name: look for look in (CLASSIC, BOLD)}


def look_named(name: str | Look) -> Look:
    """The look called ``name`` (a :class:`Look` passes through)."""
    if isinstance(name, Look):
        return name
    if name not in LOOKS:
        raise ValueError(f"`look` must be one of {tuple(LOOKS)}, got {name!r}.")
    return LOOKS[name]


ACCESSORY = {
    "red hat": _rgb((210, 30, 30))[0],
    "blue hat": _rgb((30, 60, 210))[0],
    "yellow headband": _rgb((250, 215, 20))[0],
}


@dataclass
class Layout:
    """Per-frame face placement: centre (fractions of the canvas), face height, tilt (radians)."""

    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    tilt: np.ndarray

    @classmethod
    def still(cls, n: int = 1, cx=0.5, cy=0.55, scale=0.5, tilt=0.0) -> Layout:
        f = np.ones(n, np.float32)
        return cls(f * cx, f * cy, f * scale, f * tilt)

    def boxes(self, aspect: float) -> np.ndarray:
        """Face boxes ``(F, 4)`` as (cx, cy, w, h) in canvas fractions (hair excluded)."""
        return np.stack([self.cx, self.cy, self.scale * aspect, self.scale], 1).astype(np.float32)


def motion_layout(motion: str, frames: int, rng: np.random.Generator, scale: float = 0.5) -> Layout:
    """Face trajectory for a motion word, with a small random offset per clip; faces are ``scale`` high."""
    t = np.linspace(0, 1, frames, dtype=np.float32)
    cx0, cy0, s0 = 0.5 + rng.uniform(-0.04, 0.04), 0.55 + rng.uniform(-0.03, 0.03), scale + rng.uniform(-0.04, 0.04)
    cx, cy, s = np.full_like(t, cx0), np.full_like(t, cy0), np.full_like(t, s0)
    if motion == "left":
        cx = cx0 + 0.14 - 0.28 * t
    elif motion == "right":
        cx = cx0 - 0.14 + 0.28 * t
    elif motion == "closer":
        s = s0 - 0.1 + 0.22 * t
    elif motion == "away":
        s = s0 + 0.12 - 0.22 * t
    elif motion == "nod":
        cy = cy0 + 0.05 * np.sin(2 * np.pi * 2 * t)
    else:
        raise ValueError(f"`motion` must be one of {PROMPT_ATTRS['motion']}, got {motion!r}.")
    return Layout(cx.astype(np.float32), cy.astype(np.float32), s.astype(np.float32), np.zeros_like(t))


# ----------------------------------------------------------------------------- shape helpers
class _Canvas:
    def __init__(self, frames: int, size: int, alpha: bool = False):
        self.size = size
        g = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x = g[None, None, :]  # (1, 1, W)
        self.y = g[None, :, None]  # (1, H, 1)
        self.img = np.zeros((frames, size, size, 3), np.float32)
        # coverage of everything painted onto the picture itself (the person, not the scene), if asked
        self.alpha = np.zeros((frames, size, size), np.float32) if alpha else None
        self.oy = self.ox = 0  # where this canvas's first pixel sits on the full canvas

    def window(self, y0: int, y1: int, x0: int, x1: int) -> _Canvas:
        """A canvas over pixels ``[y0:y1, x0:x1]`` of this one, sharing its memory (same pixel grid)."""
        sub = object.__new__(_Canvas)
        sub.size = self.size
        sub.x, sub.y = self.x[:, :, x0:x1], self.y[:, y0:y1]
        sub.img = self.img[:, y0:y1, x0:x1]
        sub.alpha = None if self.alpha is None else self.alpha[:, y0:y1, x0:x1]
        sub.oy, sub.ox = self.oy + y0, self.ox + x0
        return sub

    def paint(self, cover: np.ndarray, colour, img: np.ndarray | None = None) -> None:
        alpha = self.alpha if img is None else None  # the scene is painted on `img`, and is not the person
        img = self.img if img is None else img
        inside = cover > 0  # coverage ≤ 0 paints nothing
        if cover.ndim == 3:
            inside = inside.any(axis=0)
        inside = np.broadcast_to(inside, img.shape[1:3])
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        if len(rows) == 0:
            return
        # composite only inside the bounding box of the shape (most parts are small); clipping
        # there only is the same as clipping everywhere, since outside it the coverage is ≤ 0
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        a = np.clip(np.broadcast_to(cover, img.shape[:3])[:, ys, xs], 0, 1)  # (F, h, w)
        # region += a·(colour − region), in place, on rows of w·3 interleaved channels: a trailing axis of 3
        # would make every numpy inner loop 3 elements long (same arithmetic; the renderer ran 1.2× faster so)
        region = img[:, ys, xs].view()
        f, h, w = a.shape
        region.shape = (f, h, w * 3)  # a view of the same memory: raises rather than copy
        step = np.subtract(np.tile(np.asarray(colour, np.float32), w), region)
        step *= np.repeat(a, 3, axis=-1)
        region += step
        if alpha is not None:
            ar = alpha[:, ys, xs]
            ar += a * (1 - ar)


FACE_REACH = 1.0  # face heights from the face centre that bound every part (checked by the tests)


class _Face:
    """Face-local coordinates: u to the right, v downwards, in units of the face height."""

    def __init__(self, cv: _Canvas, lay: Layout):
        self.cv, self.lay = cv, lay
        c = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731  (F, 1, 1)
        self.px = cv.size * c(lay.scale)  # pixels per face-height unit
        dx, dy = cv.x - c(lay.cx), cv.y - c(lay.cy)
        cos, sin = np.cos(c(lay.tilt)), np.sin(c(lay.tilt))
        self.u = (cos * dx + sin * dy) / c(lay.scale)
        self.v = (-sin * dx + cos * dy) / c(lay.scale)

    def near(self, cu: float, cv_: float, reach: float, pad: float = 2.0) -> tuple[_Canvas, _Face] | None:
        """Canvas and face coordinates over only the pixels within ``reach`` face heights (plus ``pad`` pixels)
        of the face-local point ``(cu, cv_)`` in any frame; None if that is off the canvas. Small parts are
        evaluated there instead of over the whole face window: a part whose coverage is ≤ 0 outside that disc
        paints exactly the same pixels either way (each pixel's coordinates are computed the same way)."""
        lay, cv, size = self.lay, self.cv, self.cv.size
        cos, sin = np.cos(lay.tilt), np.sin(lay.tilt)
        x = lay.cx + lay.scale * (cos * cu - sin * cv_)
        y = lay.cy + lay.scale * (sin * cu + cos * cv_)
        r = lay.scale * reach + pad / size

        def span(c: np.ndarray, origin: int, n: int) -> tuple[int, int]:
            lo = int(np.floor(np.min(c - r) * size - 0.5)) - origin
            hi = int(np.ceil(np.max(c + r) * size - 0.5)) + 1 - origin
            return max(lo, 0), min(hi, n)

        (y0, y1), (x0, x1) = span(y, cv.oy, cv.img.shape[1]), span(x, cv.ox, cv.img.shape[2])
        if y1 <= y0 or x1 <= x0:
            return None
        sub = cv.window(y0, y1, x0, x1)
        return sub, _Face(sub, lay)

    def ellipse(self, cu, cv_, ru, rv) -> np.ndarray:
        """Coverage of a filled ellipse (approximate signed distance, exact on the axes)."""
        q = np.sqrt(((self.u - cu) / ru) ** 2 + ((self.v - cv_) / rv) ** 2)
        return 0.5 - (q - 1) * min(ru, rv) * self.px

    def ring(self, cu, cv_, ru, rv, width) -> np.ndarray:
        q = np.sqrt(((self.u - cu) / ru) ** 2 + ((self.v - cv_) / rv) ** 2)
        return 0.5 - (np.abs(q - 1) * min(ru, rv) - width / 2) * self.px

    def box(self, u0, v0, u1, v1) -> np.ndarray:
        du = np.maximum(u0 - self.u, self.u - u1)
        dv = np.maximum(v0 - self.v, self.v - v1)
        return 0.5 - np.maximum(du, dv) * self.px


def _background(cv: _Canvas, scene: str) -> None:
    """Paint the (static) scene on frame 0, then copy it to every frame."""
    one = cv.img[:1]
    _paint_scene(cv, one, scene)
    cv.img[1:] = one


def _paint_scene(cv: _Canvas, img: np.ndarray, scene: str) -> None:
    x, y = cv.x, cv.y
    s = cv.size
    if scene == "beach":
        img[:] = (0.53, 0.78, 0.95)
        cv.paint(np.broadcast_to(0.5 + (y - 0.62) * s, img.shape[:3]), (0.93, 0.84, 0.62), img)
    elif scene == "forest":
        img[:] = (0.16, 0.45, 0.16)
        trunks = 0.5 - (np.abs(((x * 5) % 1) - 0.5) * 2 - 0.25) * s / 10
        cv.paint(np.broadcast_to(trunks, img.shape[:3]), (0.35, 0.22, 0.1), img)
    elif scene == "city":
        img[:] = (0.62, 0.64, 0.7)
        blocks = np.minimum(0.5 - (np.abs(((x * 4) % 1) - 0.5) - 0.3) * s / 4, 0.5 + (y - 0.3) * s)
        cv.paint(np.broadcast_to(blocks, img.shape[:3]), (0.35, 0.36, 0.42), img)
    elif scene == "office":
        img[:] = (0.9, 0.84, 0.7)
        cv.paint(np.broadcast_to(0.5 + (y - 0.85) * s, img.shape[:3]), (0.5, 0.3, 0.15), img)
    elif scene == "night":
        img[:] = (0.06, 0.08, 0.25)
        moon = 0.5 - (np.sqrt((x - 0.85) ** 2 + (y - 0.15) ** 2) - 0.08) * s
        cv.paint(np.broadcast_to(moon, img.shape[:3]), (0.97, 0.93, 0.6), img)
    else:
        raise ValueError(f"`scene` must be one of {PROMPT_ATTRS['scene']}, got {scene!r}.")


def _face(cv: _Canvas, f: _Face, ident: Identity, expression: str, accessory: str, look: Look) -> None:
    n = ident.names()
    aw = look.face_aspect[ident.face_shape] / 2  # half width in face heights
    hair = look.hair[ident.hair_colour]
    if n["hair_style"] != "bald":  # back hair behind the face
        cv.paint(f.ellipse(0, -0.1, aw + 0.08, 0.5), hair)
        if n["hair_style"] == "long":
            cv.paint(f.box(-aw - 0.08, -0.1, aw + 0.08, 0.45), hair)
    cv.paint(f.ellipse(0, 0, aw, 0.5), look.skin[ident.skin])
    if n["hair_style"] != "bald":  # fringe over the forehead
        cv.paint(np.minimum(f.ellipse(0, -0.3, aw + 0.02, 0.26), 0.5 - (f.v + 0.3) * f.px), hair)
    if n["beard"] == "yes":
        beard = hair * 0.8
        cv.paint(np.minimum(f.ellipse(0, 0.12, aw * 0.95, 0.38), 0.5 + (f.v - 0.16) * f.px), beard)
    # small parts are drawn in a window around them (_Face.near; reach = the part's extent in face heights,
    # its anti-aliased rim is within the default pad of 2 pixels)
    ex, ey, er = look.eye_spacing[ident.eye_spacing] * aw * 2, -0.06, look.eye_radius
    (ru, rv), rim = look.rim_radius, look.rim_width
    for s in (-1, 1):
        if (eye := f.near(s * ex, ey, er * max(ru, 1.25) + rim)) is None:
            continue
        ec, ef = eye
        ec.paint(ef.ellipse(s * ex, ey, er * 1.25, er), (1, 1, 1))
        ec.paint(ef.ellipse(s * ex, ey, er * look.iris, er * look.iris), look.eyes[ident.eye_colour])
        if n["glasses"] == "yes":
            ec.paint(ef.ring(s * ex, ey, er * ru, er * rv, rim), (0.05, 0.05, 0.05))
    if n["glasses"] == "yes" and (bridge := f.near(0, ey, abs(ex - er * ru) + 0.02)) is not None:
        bc, bf = bridge
        bc.paint(bf.box(-ex + er * ru, ey - look.bridge, ex - er * ru, ey + look.bridge), (0.05, 0.05, 0.05))
    mu, mv, mr = -aw * look.mark_at[0], look.mark_at[1], look.mark_radius
    if n["mark"] == "yes" and (mole := f.near(mu, mv, mr)) is not None:
        mc, mf = mole
        mc.paint(mf.ellipse(mu, mv, mr, mr), look.mark_colour)
    lips = (0.55, 0.1, 0.12)
    if expression not in PROMPT_ATTRS["expression"]:
        raise ValueError(f"`expression` must be one of {PROMPT_ATTRS['expression']}, got {expression!r}.")
    mouth = f.near(0, 0.2, 0.3)
    if mouth is not None:
        mc, mf = mouth
        if expression == "smiling":
            mc.paint(np.minimum(mf.ring(0, 0.14, 0.2, 0.12, 0.05), 0.5 + (mf.v - 0.17) * mf.px), lips)
        elif expression == "neutral":
            mc.paint(mf.box(-0.13, 0.23, 0.13, 0.265), lips)
        else:  # surprised
            mc.paint(mf.ellipse(0, 0.26, 0.075, 0.1), (0.3, 0.05, 0.05))
    if accessory.endswith("hat"):
        c = ACCESSORY[accessory]
        cv.paint(f.box(-aw * 0.85, -0.85, aw * 0.85, -0.33), c)
        cv.paint(f.box(-aw - 0.14, -0.38, aw + 0.14, -0.3), c * 0.8)
    elif accessory == "yellow headband":
        cv.paint(
            np.minimum(f.box(-aw - 0.05, -0.32, aw + 0.05, -0.23), f.ellipse(0, 0, aw + 0.06, 0.56)),
            ACCESSORY[accessory],
        )
    elif accessory != "none":
        raise ValueError(f"`accessory` must be one of {PROMPT_ATTRS['accessory']}, got {accessory!r}.")


def render(
    identity: Identity,
    layout: Layout,
    scene: str = "office",
    expression: str = "neutral",
    lighting: str = "bright",
    accessory: str = "none",
    size: int = 64,
    return_alpha: bool = False,
    look: str | Look = CLASSIC,
):
    """Render ``len(layout.cx)`` frames as float32 ``(F, size, size, 3)`` in ``[0, 1]``.

    With ``return_alpha`` also returns the person's coverage ``(F, size, size)`` in ``[0, 1]``: face, hair,
    beard and accessory, without the scene (the toy world's exact stand-in for a face-parsing mask)."""
    look = look_named(look)
    if lighting not in look.light:
        raise ValueError(f"`lighting` must be one of {tuple(look.light)}, got {lighting!r}.")
    cv = _Canvas(len(layout.cx), size, alpha=return_alpha)
    _background(cv, scene)
    # every face part (hair, hats, beard) lies within FACE_REACH face heights of the centre, so the
    # signed-distance fields are evaluated only in that window of the canvas (the result is the same)
    r = FACE_REACH * float(np.max(layout.scale))

    def span(c: np.ndarray) -> tuple[int, int]:
        lo, hi = np.floor((np.min(c) - r) * size), np.ceil((np.max(c) + r) * size) + 1
        return int(np.clip(lo, 0, size)), int(np.clip(hi, 0, size))

    (y0, y1), (x0, x1) = span(layout.cy), span(layout.cx)
    win = cv.window(y0, y1, x0, x1)
    _face(win, _Face(win, layout), identity, expression, accessory, look)
    rows = cv.img.view()
    rows.shape = (-1, size * 3)  # (F·H, W·3), the same memory: the gain as one row, not a trailing axis of 3
    rows *= np.tile(look.light[lighting], size)
    img = np.clip(cv.img, 0, 1, out=cv.img)
    return (img, cv.alpha) if return_alpha else img


def render_clip(
    identity: Identity,
    prompt: Prompt,
    rng: np.random.Generator,
    frames: int = 17,
    size: int = 64,
    return_alpha: bool = False,
    look: str | Look = CLASSIC,
):
    """The ground-truth clip of ``identity`` doing ``prompt`` in ``look``: ``(frames, size, size, 3)``, plus face
    boxes ``(frames, 4)``, plus (``return_alpha``) the person's coverage ``(frames, size, size)``."""
    n, look = prompt.names(), look_named(look)
    lay = motion_layout(n["motion"], frames, rng, look.clip_scale)
    out = render(identity, lay, n["scene"], n["expression"], n["lighting"], n["accessory"], size, return_alpha, look)
    boxes = lay.boxes(look.face_aspect[identity.face_shape])
    return (out[0], boxes, out[1]) if return_alpha else (out, boxes)


EVAL_REF_KEEP = ("scene", "lighting")


def render_eval_reference(
    identity: Identity,
    prompt: Prompt,
    rng: np.random.Generator,
    size: int = 64,
    keep: tuple[str, ...] = (),
    return_alpha: bool = False,
    look: str | Look = CLASSIC,
):
    """A still of ``identity`` in a *different* pose, position, scale, lighting and background than ``prompt``.

    Neutral expression, no accessory. Returns ``(size, size, 3)`` and its face box ``(4,)``.
    ``keep`` names parts of the prompt's context to keep instead (``"scene"``, ``"lighting"``), for
    diagnosing which difference a model fails on; the random draws are the same either way, so the
    pose, place and scale do not change with ``keep``. With ``return_alpha`` the person's coverage
    ``(size, size)`` (see :func:`render`) comes third.
    """
    bad = sorted(set(keep) - set(EVAL_REF_KEEP))
    if bad:
        raise ValueError(f"`keep` must name parts of {EVAL_REF_KEEP}, got {bad}.")
    n, look = prompt.names(), look_named(look)
    scene = rng.choice([s for s in PROMPT_ATTRS["scene"] if s != n["scene"]])
    light = rng.choice([s for s in PROMPT_ATTRS["lighting"] if s != n["lighting"]])
    scene = n["scene"] if "scene" in keep else scene
    light = n["lighting"] if "lighting" in keep else light
    side = rng.choice([-1, 1])
    lay = Layout.still(
        1,
        cx=0.5 + side * rng.uniform(0.14, 0.2),
        cy=rng.uniform(0.5, 0.6),
        scale=rng.uniform(*look.ref_scale),
        tilt=rng.choice([-1, 1]) * rng.uniform(0.15, 0.3),
    )
    img, alpha = render(identity, lay, str(scene), "neutral", str(light), "none", size, True, look)
    box = lay.boxes(look.face_aspect[identity.face_shape])[0]
    return (img[0], box, alpha[0]) if return_alpha else (img[0], box)


def relight(px, light_from, light_to, look: Look = CLASSIC):
    """Re-light rendered images ``(B, 3, H, W)`` in ``[−1, 1]`` (torch) from one of the world's lights to
    another, given per-image indices into ``PROMPT_ATTRS["lighting"]``. Lighting multiplies the whole picture
    by a per-channel gain, so this is exact wherever the first render did not saturate."""
    import torch

    if px.ndim != 4 or px.shape[1] != 3:
        raise ValueError(f"`px` must be images (B, 3, H, W), got shape {tuple(px.shape)}.")
    n = len(PROMPT_ATTRS["lighting"])
    for name, idx in (("light_from", light_from), ("light_to", light_to)):
        if idx.shape != (px.shape[0],) or idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"`{name}` must hold one light index in [0, {n}) per image, got {idx.tolist()}.")
    table = torch.from_numpy(np.stack([look.light[k] for k in PROMPT_ATTRS["lighting"]]))
    gain = (table[light_to] / table[light_from]).to(px)[:, :, None, None]
    return ((px + 1) / 2 * gain).clamp(0, 1) * 2 - 1


# ----------------------------------------------------------------------------- demo helpers
@dataclass(frozen=True)
class FaceSpec:
    """Kept for the demo: an identity index and a scene for a sample reference."""

    identity: int = 0
    scene: str = "office"


def draw_face(spec: FaceSpec, size: int = 64, return_mask_box: bool = False, look: Look | str = CLASSIC):
    look = look_named(look)
    lay = Layout.still(1, scale=look.clip_scale)
    ident = Identity.from_index(spec.identity)
    img, alpha = render(ident, lay, spec.scene, "neutral", "bright", "none", size, True, look)
    u8 = (img[0] * 255).round().astype(np.uint8)
    return (u8, alpha[0], lay.boxes(look.face_aspect[ident.face_shape])[0]) if return_mask_box else u8


def sample_reference(seed: int = 0, size: int = 64, return_mask_box: bool = False, look: Look | str = CLASSIC):
    """A deterministic sample reference face (uint8 ``(size, size, 3)``), from a held-out identity. With
    ``return_mask_box`` also the person's coverage ``(size, size)`` and face box ``(4,)``, which models trained
    on face crops or cut-outs need to prepare it (:func:`stdrc_lib.prep.crop.prepare_reference`)."""
    rng = np.random.default_rng(seed)
    ident = int(HELD_OUT_IDENTITIES[seed % len(HELD_OUT_IDENTITIES)])
    scene = str(rng.choice(PROMPT_ATTRS["scene"]))
    return draw_face(FaceSpec(ident, scene), size, return_mask_box, look)


for _look in LOOKS.values():
    assert len(_look.skin) == len(IDENTITY_ATTRS["skin"]) and len(_look.hair) == len(IDENTITY_ATTRS["hair_colour"])
    assert len(_look.eyes) == len(IDENTITY_ATTRS["eye_colour"]) and set(_look.light) == set(PROMPT_ATTRS["lighting"])
