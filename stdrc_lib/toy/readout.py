"""Readout models: a small two-stage CNN that reads a SynthFaces frame back into its ground truth.

One network, several heads, all from a single 64×64 frame:

* face location ``(cx, cy, scale)``, scene, lighting and accessory, from the whole frame;
* identity attributes (9 classifiers) through a 64-d unit **embedding** (the toy FaceEmbedder; it
  is differentiable, so the identity loss can push gradients through it) and the expression, from
  a crop around the located face.

Motion is read from the trajectory of the predicted face location across frames
(:func:`motion_from_boxes`). Training mixes clip frames and evaluation-style references
(tilted, smaller, elsewhere), passes a share through the reference augmentation, and adds blur
and noise so the readout also works on augmented references and on decoded, soft generated frames.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..core import reference as R
from ..core.io import atomic_folder, load_safetensors
from ..core.reference import to_uint8
from ..prep.augment import AugmentConfig, augment
from ..train.schedule import warmup_cosine
from .manifest import update_manifest_part
from .render import CLASSIC, LOOKS, Look, look_named, relight, render_clip, render_eval_reference
from .world import IDENTITY_ATTRS, PROMPT_ATTRS, Identity, Prompt, light_in_prompt, split_indices

FRAME_HEADS = ("scene", "expression", "lighting", "accessory")
SCENE_HEADS = ("scene", "lighting", "accessory")  # read from the whole frame; expression from the face crop
MOTIONS = PROMPT_ATTRS["motion"]


def _conv_block(i: int, o: int, stride: int = 2) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(i, o, 3, 1, 1),
        nn.GroupNorm(8, o),
        nn.SiLU(),
        nn.Conv2d(o, o, 3, stride, 1),
        nn.GroupNorm(8, o),
        nn.SiLU(),
    )


def crop_faces(x: torch.Tensor, box: torch.Tensor, size: int = 32, margin: float = 1.7) -> torch.Tensor:
    """Square crops ``(B, 3, size, size)`` around faces ``box = (cx, cy, scale)`` (canvas fractions,
    ``scale`` = face height), ``margin`` face heights wide, by bilinear sampling (differentiable in
    ``x``). Outside the frame reads as the border colour."""
    b = x.shape[0]
    half = box[:, 2] * margin  # half-width in [−1, 1] units = side / 2 · 2
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = half
    theta[:, 1, 1] = half
    theta[:, 0, 2] = box[:, 0] * 2 - 1
    theta[:, 1, 2] = box[:, 1] * 2 - 1
    grid = nn.functional.affine_grid(theta, (b, 3, size, size), align_corners=False)
    return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Readout(nn.Module):
    """Frames ``(B, 3, 64, 64)`` in ``[−1, 1]`` → dict of logits, ``embedding`` and ``box``.

    Two stages, like a real face pipeline (detect → align → embed):

    * a **scene branch** reads the whole frame: face box ``(cx, cy, scale)``, scene, lighting, accessory;
    * a **face branch** reads a 32×32 crop around the box (:func:`crop_faces`): the identity
      attributes through a unit embedding (the toy FaceEmbedder) and the expression. Features of
      two or three pixels — eye colour, the mole, the mouth — survive because the face branch does
      not downsample before it has looked at them.

    ``forward(x, box=None)`` crops at the predicted box (detached: the crop follows the face but
    gradients flow only into pixels); training passes jittered ground-truth boxes instead.
    """

    def __init__(self, width: int = 32, emb_dim: int = 64, crop: int = 32):
        super().__init__()
        w = width
        self.crop = crop
        stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1), nn.GroupNorm(8, w), nn.SiLU())  # 64 → 32
        self.body = nn.Sequential(stem, _conv_block(w, 2 * w), _conv_block(2 * w, 4 * w), _conv_block(4 * w, 4 * w))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 16, 256), nn.SiLU())  # (B, 256)
        self.box = nn.Linear(256, 3)
        self.frame_heads = nn.ModuleDict({k: nn.Linear(256, len(PROMPT_ATTRS[k])) for k in SCENE_HEADS})
        # face branch: 32 → 32 → 16 → 8 → 4
        self.face_body = nn.Sequential(
            _conv_block(3, w, stride=1), _conv_block(w, 2 * w), _conv_block(2 * w, 4 * w), _conv_block(4 * w, 4 * w)
        )
        self.face_fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * (crop // 8) ** 2, 256), nn.SiLU())
        self.embed = nn.Linear(256, emb_dim)
        self.id_heads = nn.ModuleDict({k: nn.Linear(emb_dim, len(v)) for k, v in IDENTITY_ATTRS.items()})
        self.expression = nn.Linear(256, len(PROMPT_ATTRS["expression"]))

    def forward(self, x: torch.Tensor, box: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.fc(self.body(x))  # (B, 256)
        pred_box = self.box(h)
        crop_box = pred_box.detach() if box is None else box
        crop_box = torch.cat([crop_box[:, :2], crop_box[:, 2:].clamp(0.1, 1.0)], 1)
        f = self.face_fc(self.face_body(crop_faces(x, crop_box, self.crop)))
        e = nn.functional.normalize(self.embed(f), dim=-1)  # (B, emb_dim), unit length
        out = {"embedding": e, "box": pred_box, "expression": self.expression(f)}
        out.update({k: head(e * 8) for k, head in self.id_heads.items()})
        out.update({k: head(h) for k, head in self.frame_heads.items()})
        return out

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
        """Argmax classes, embeddings and boxes for ``(N, 3, 64, 64)`` frames."""
        outs = [self(frames[i : i + batch]) for i in range(0, len(frames), batch)]
        res = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
        return {k: (v if k in ("embedding", "box") else v.argmax(-1)) for k, v in res.items()}

    def save(self, folder: str | Path, metrics: dict | None = None) -> None:
        """Write ``model.safetensors`` and ``metrics.json``; the folder is swapped in whole."""
        from safetensors.torch import save_file

        def write(d: Path) -> None:
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(d / "model.safetensors"))
            (d / "metrics.json").write_text(json.dumps(metrics or {}, indent=2))

        atomic_folder(folder, write)

    @classmethod
    def load(cls, folder: str | Path) -> Readout:
        m = cls()
        m.load_state_dict(load_safetensors(Path(folder) / "model.safetensors"))
        return m.eval()


@torch.no_grad()
def to_model_frames(frames: torch.Tensor) -> torch.Tensor:
    """``(..., H, W, 3)`` uint8 → ``(N, 3, H, W)`` in ``[−1, 1]``, what the readout reads."""
    x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1


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


def match_light(readout: Readout, px: torch.Tensor, light_to: torch.Tensor, look: str | Look = CLASSIC) -> torch.Tensor:
    """Re-light whole reference images ``(B, 3, H, W)`` in ``[−1, 1]`` to the prompt's light.

    The reference's own light is *estimated* by the readout's lighting head from the whole image (background
    included), never taken from the renderer; ``light_to`` holds indices into ``PROMPT_ATTRS["lighting"]``,
    which the prompt states. This is white balance towards the scene the clip will be in: in SynthFaces a
    light is a per-channel gain (``look``'s), so a face cut out of its background leaves skin colour and light
    confounded.
    """
    if px.ndim != 4 or px.shape[1] != 3:
        raise ValueError(f"`px` must be whole reference images (B, 3, H, W), got shape {tuple(px.shape)}.")
    light_to = torch.as_tensor(light_to).long()
    return relight(px, readout.predict(px)["lighting"], light_to, look_named(look))


def match_prompt_light(image: np.ndarray, prompt: str, readout: Readout, look: str | Look = CLASSIC) -> np.ndarray:
    """One uint8 ``(H, W, 3)`` reference re-lit to the light ``prompt`` names (:func:`match_light`); the image
    itself when the prompt names none."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise ValueError(f"`image` must be uint8 (H, W, 3), got {img.dtype} {img.shape}.")
    if not isinstance(prompt, str):
        raise TypeError(f"`prompt` must be a string, got {type(prompt).__name__}.")
    light = light_in_prompt(prompt)
    if light is None:
        return image
    px = to_model_frames(torch.from_numpy(img))  # (1, 3, H, W) in [−1, 1]
    return to_uint8(match_light(readout, px, torch.tensor([light]), look)[0].permute(1, 2, 0)).numpy()


def motion_from_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Motion class per clip from face boxes ``(B, F, 3)`` = (cx, cy, scale).

    The largest of |Δcx|, |Δscale| and the vertical oscillation decides; signs give the direction.
    """
    dx = boxes[:, -1, 0] - boxes[:, 0, 0]
    ds = boxes[:, -1, 2] - boxes[:, 0, 2]
    cy = boxes[:, :, 1]
    osc = (cy - cy.mean(1, keepdim=True)).abs().amax(1) * 2.5
    score = torch.stack([-dx, dx, ds, -ds, osc], 1)  # left, right, closer, away, nod
    return score.argmax(1)


# ----------------------------------------------------------------------------- data
def _degrade(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random blur and noise on ``(B, 3, H, W)`` so readouts tolerate decoded frames."""
    b = x.shape[0]
    k = torch.tensor([1.0, 2.0, 1.0]) / 4
    blurred = nn.functional.conv2d(
        nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 3, 3), groups=3
    )
    w = torch.rand(b, 1, 1, 1, generator=g)
    x = w * blurred + (1 - w) * x
    return x + torch.randn(x.shape, generator=g) * 0.04 * torch.rand(b, 1, 1, 1, generator=g)


def make_frames(
    split: str,
    n_clips: int,
    seed: int,
    frames_per_clip: int = 3,
    vae=None,
    vae_fraction: float = 0.0,
    look: str | Look = CLASSIC,
):
    """Sample labelled frames, drawn in ``look``: clip frames plus one evaluation-style still per clip.

    With ``vae``, a ``vae_fraction`` of the clips (and their stills) are passed through the VAE
    (encode → decode) first, so the readout also learns to read the VAE's soft reconstructions —
    which is what generated clips look like.
    """
    rng, look = np.random.default_rng([seed, 7]), look_named(look)
    ids, prompts = split_indices("identity", split), split_indices("prompt", split)
    xs, ident, pattr, boxes = [], [], [], []
    desc = "rendering readout frames" + (" (part through the VAE)" if vae is not None and vae_fraction > 0 else "")
    for c in tqdm(range(n_clips), desc=desc, leave=False, mininterval=5, disable=n_clips < 200):
        idn, pr = Identity.from_index(int(rng.choice(ids))), Prompt.from_index(int(rng.choice(prompts)))
        clip, bx = render_clip(idn, pr, rng, look=look)
        ref, rb = render_eval_reference(idn, pr, rng, look=look)
        if vae is not None and c < vae_fraction * n_clips:
            clip, ref = _through_vae(vae, clip, ref)
        ks = rng.choice(len(clip), frames_per_clip, replace=False)
        xs += [clip[k] for k in ks] + [ref]
        boxes += [bx[k] for k in ks] + [rb]
        ident += [idn.as_array()] * (frames_per_clip + 1)
        pa = pr.as_array()
        # the still is neutral, without accessory, in another scene/light: label it as rendered
        still = pa.copy()
        still[[0, 2, 3, 4]] = -100  # unknown scene/expression/lighting/accessory for stills: ignored
        pattr += [pa] * frames_per_clip + [still]
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2) * 2 - 1
    b = torch.from_numpy(np.stack(boxes))  # (cx, cy, w, h); the readout predicts (cx, cy, h)
    return x, torch.from_numpy(np.stack(ident)), torch.from_numpy(np.stack(pattr)), b


@torch.no_grad()
def _through_vae(vae, clip: np.ndarray, ref: np.ndarray):
    x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None] * 2 - 1  # (1, 3, F, H, W)
    r = torch.from_numpy(ref).permute(2, 0, 1)[None, :, None] * 2 - 1  # (1, 3, 1, H, W)
    y = R.decode(vae, R.encode(vae, x))[0].permute(1, 2, 3, 0)
    yr = R.decode(vae, R.encode(vae, r))[0, :, 0].permute(1, 2, 0)
    return ((y + 1) / 2).numpy(), ((yr + 1) / 2).numpy()


PATTR_COLUMN = {"scene": 0, "expression": 2, "lighting": 3, "accessory": 4}
SCENE_COLUMNS = [PATTR_COLUMN[k] for k in SCENE_HEADS]  # labels an augmented (new-canvas) frame loses


def _loss(out, ident, pattr, box, weights: dict[str, float] | None = None):
    ce = nn.functional.cross_entropy
    w = weights or {}
    loss = sum(w.get(k, 1.0) * ce(out[k], ident[:, i]) for i, k in enumerate(IDENTITY_ATTRS))
    loss = loss + sum(ce(out[k], pattr[:, PATTR_COLUMN[k]], ignore_index=-100) for k in FRAME_HEADS)
    return loss + 20 * nn.functional.mse_loss(out["box"], box[:, [0, 1, 3]])


def _training_batch(x, ident, pattr, box, idx, g, p_augment: float):
    """A batch with a ``p_augment`` share passed through the training augmentation (re-layout,
    affine, flip, blur, noise; boxes follow the faces), then degraded like decoded frames.
    Augmented frames lose their scene / lighting / accessory labels (the canvas is new)."""
    xb, ib, pb, bb = x[idx], ident[idx], pattr[idx].clone(), box[idx]
    aug = torch.rand(len(idx), generator=g) < p_augment
    if aug.any():
        xa, ba = augment(xb[aug], bb[aug], AugmentConfig(), g, return_boxes=True)
        xb, bb = xb.clone(), bb.clone()
        xb[aug], bb[aug] = xa, ba
        pb[aug.nonzero()[:, 0, None], torch.tensor(SCENE_COLUMNS)] = -100
    return _degrade(xb, g), ib, pb, bb


def _jitter(box: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Ground-truth ``(cx, cy, w, h)`` → crop box ``(cx, cy, h)`` with detector-sized errors."""
    b = box[:, [0, 1, 3]].clone()
    n = torch.randn(b.shape, generator=g)
    b[:, :2] += n[:, :2] * 0.03
    b[:, 2] *= 1 + n[:, 2] * 0.06
    return b


@torch.no_grad()
def evaluate(
    model: Readout, n_clips: int = 300, seed: int = 99, vae=None, augmented: bool = False, look: str | Look = CLASSIC
) -> dict:
    """Held-out (eval identities × eval prompts) accuracy per attribute, on clean renders in ``look`` (or, with
    ``vae``, on their VAE reconstructions; with ``augmented``, after the default reference
    augmentation applied to every frame — scene / lighting / accessory are then not scored)."""
    frac = 1.0 if vae is not None else 0.0
    x, ident, pattr, box = make_frames("eval", n_clips, seed, vae=vae, vae_fraction=frac, look=look)
    if augmented:
        x, box = augment(x, box, AugmentConfig(), torch.Generator().manual_seed(seed), return_boxes=True)
        pattr = pattr.clone()
        pattr[:, SCENE_COLUMNS] = -100
    p = model.predict(x)
    res = {k: (p[k] == ident[:, i]).float().mean().item() for i, k in enumerate(IDENTITY_ATTRS)}
    res["identity_mean"] = float(np.mean([res[k] for k in IDENTITY_ATTRS]))
    # hair colour is not drawn on bald people without a beard (a sixth of identities): score it where it is
    names = list(IDENTITY_ATTRS)
    shown = (ident[:, names.index("hair_style")] != IDENTITY_ATTRS["hair_style"].index("bald")) | (
        ident[:, names.index("beard")] == IDENTITY_ATTRS["beard"].index("yes")
    )
    hc = names.index("hair_colour")
    res["hair_colour_where_drawn"] = (p["hair_colour"][shown] == ident[shown, hc]).float().mean().item()
    for k in FRAME_HEADS:
        m = pattr[:, PATTR_COLUMN[k]] >= 0
        if m.any():
            res[k] = (p[k][m] == pattr[m, PATTR_COLUMN[k]]).float().mean().item()
    res["box_mae"] = (p["box"] - box[:, [0, 1, 3]]).abs().mean().item()
    if vae is None and not augmented:
        res["motion"] = motion_accuracy(model, n_clips=max(2, n_clips // 3), seed=seed, look=look)
    res["frames"] = len(x)
    return res


@torch.no_grad()
def motion_accuracy(model: Readout, n_clips: int = 100, seed: int = 99, look: str | Look = CLASSIC) -> float:
    rng = np.random.default_rng([seed, 8])
    ids, prompts = split_indices("identity", "eval"), split_indices("prompt", "eval")
    hits = 0
    for _ in range(n_clips):
        pr = Prompt.from_index(int(rng.choice(prompts)))
        clip, _ = render_clip(Identity.from_index(int(rng.choice(ids))), pr, rng, look=look_named(look))
        b = model.predict(torch.from_numpy(clip).permute(0, 3, 1, 2) * 2 - 1)["box"]
        hits += int(motion_from_boxes(b[None])[0] == pr.motion)
    return hits / n_clips


def _check_training_args(steps: int, init, loss_weights: dict | None) -> None:
    if steps < 1:
        raise ValueError(f"`steps` must be ≥ 1, got {steps}.")
    unknown = set(loss_weights or {}) - set(IDENTITY_ATTRS)
    if unknown:
        raise ValueError(
            f"`loss_weights` keys must be identity attributes {list(IDENTITY_ATTRS)}, got {sorted(unknown)}."
        )
    if init is not None and not (Path(init) / "model.safetensors").is_file():
        raise FileNotFoundError(f"`init` must be a readout folder with model.safetensors, got {str(init)!r}.")


def train_readout(
    steps: int = 4000,
    out: Path | None = None,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    pool_clips: int = 4000,
    vae=None,
    vae_fraction: float = 0.3,
    p_augment: float = 0.5,
    init: str | Path | None = None,
    warmup: int = 0,
    loss_weights: dict[str, float] | None = None,
    look: str | Look = CLASSIC,
    eval_clips: int = 300,
) -> tuple[Readout, dict]:
    """Train the readout; with ``vae``, ``vae_fraction`` of the pool are VAE reconstructions, and a
    ``p_augment`` share of every batch goes through the reference augmentation (so the readout
    also reads augmented references, where we ask for ≥ 90 %).

    ``init`` continues from a saved readout (a second, shorter cosine cycle with ``warmup`` linear
    steps; give it another ``seed`` to draw a fresh pool of clips); ``loss_weights`` scales single
    attributes' cross-entropy (e.g. ``{"mark": 2.0}``); ``look`` is how the world is drawn."""
    _check_training_args(steps, init, loss_weights)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    look = look_named(look)
    x, ident, pattr, box = make_frames("train", pool_clips, seed, vae=vae, vae_fraction=vae_fraction, look=look)
    model = Readout() if init is None else Readout.load(init).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps, warmup))
    bar = tqdm(range(steps), desc="readout" if init is None else "readout fine-tune", mininterval=10)
    for step in bar:
        idx = torch.randint(len(x), (batch,), generator=g)
        xb, ib, pb, bb = _training_batch(x, ident, pattr, box, idx, g, p_augment)
        pred = model(xb, box=_jitter(bb, g))
        loss = _loss(pred, ib, pb, bb, loss_weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    metrics = {
        "clean": evaluate(model, n_clips=eval_clips, look=look),
        "augmented": evaluate(model, n_clips=eval_clips, augmented=True, look=look),
    }
    if vae is not None:
        metrics["vae_reconstruction"] = evaluate(model, n_clips=max(2, eval_clips // 3), vae=vae, look=look)
    metrics.update(
        steps=steps,
        batch=batch,
        seed=seed,
        pool_clips=pool_clips,
        vae_fraction=vae_fraction if vae else 0,
        p_augment=p_augment,
        minutes=(time.time() - t0) / 60,
        look=look.name,
    )
    if init is not None:
        metrics.update(init=str(init), lr=lr, warmup=warmup, loss_weights=loss_weights or {})
    if out is not None:
        model.save(out, metrics)
    return model, metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train the SynthFaces readout (toy FaceEmbedder + attribute readers).")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--pool-clips", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vae", type=Path, default=Path("data/toy/base/vae"), help="also learn from VAE reconstructions")
    ap.add_argument("--vae-fraction", type=float, default=0.3)
    ap.add_argument("--look", choices=tuple(LOOKS), default="bold", help="how SynthFaces is drawn (default: bold)")
    ap.add_argument("--p-augment", type=float, default=0.5, help="share of each batch given the reference augmentation")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from this readout folder (a fine-tune) instead of from scratch",
    )
    ap.add_argument("--warmup", type=int, default=0, help="linear warm-up steps before the cosine decay")
    ap.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="ATTR=W",
        help="scale one identity attribute's loss, e.g. --weight mark=2 (repeatable)",
    )
    ap.add_argument("--out", type=Path, default=Path("runs/readout"))
    ap.add_argument(
        "--eval-only", action="store_true", help="only score the readout in --out on held-out clean renders"
    )
    a = ap.parse_args(argv)
    if a.eval_only:
        print(json.dumps(evaluate(Readout.load(a.out), look=a.look), indent=2))
        return
    weights = {}
    for item in a.weight:
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            ap.error(f"--weight expects ATTR=W with a number W, e.g. mark=2; got {item!r}")
    try:  # before the slow part: the frame pool takes minutes to render
        _check_training_args(a.steps, a.init, weights)
    except (ValueError, FileNotFoundError) as e:
        msg = str(e).replace("`loss_weights` keys", "--weight names").replace("`init`", "--init")
        ap.error(msg.replace("`steps`", "--steps"))
    vae = None
    if a.vae and a.vae.is_dir():
        from diffusers import AutoencoderKLLTX2Video

        vae = AutoencoderKLLTX2Video.from_pretrained(a.vae, local_files_only=True).eval()
    _, metrics = train_readout(
        a.steps,
        a.out,
        seed=a.seed,
        pool_clips=a.pool_clips,
        vae=vae,
        vae_fraction=a.vae_fraction,
        p_augment=a.p_augment,
        lr=a.lr,
        init=a.init,
        warmup=a.warmup,
        loss_weights=weights or None,
        look=a.look,
    )
    print(json.dumps(metrics, indent=2))

    # a fine-tune is reproduced by the from-scratch command followed by this one: keep both
    if update_manifest_part(a.out.parent, "readout", metrics, keep_commands=a.init is not None):
        print(f"updated {a.out.parent / 'manifest.json'}")


if __name__ == "__main__":
    main()
