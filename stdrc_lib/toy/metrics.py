"""Metrics read out of generated clips (toy world), each per clip so they can carry a 95 % CI.

With ``R`` the SynthFaces readout applied to every frame:

* **identity accuracy** – fraction of (frame, attribute) pairs where ``R`` reads the true
  identity attribute (9 attributes; chance :func:`identity_chance` = 0.383);
* **embedding cosine** – mean over frames of ``cos(E(frame), E(reference))``;
* **text adherence** – mean over the 5 prompt attributes of readout accuracy (scene,
  expression, lighting, accessory per frame; motion from the face trajectory);
* **copy-paste** – mean of two indicators per frame: the background reads as the
  *reference's* scene instead of the prompt's (``copy_background``), and the face centre is closer to where it is
  in the reference than to where the prompt's motion puts it (``copy_position``); ``copy_layout`` is the second
  on the first five frames only, where a reference placed on frame 0's grid would be pasted;
* **temporal consistency** – fraction of (frame, attribute) identity readouts that agree with
  the clip's per-attribute majority.
"""

from __future__ import annotations

import math

import torch

from .readout import FRAME_HEADS, Readout, motion_from_boxes, to_model_frames
from .world import IDENTITY_ATTRS

EARLY_FRAMES = 5  # the first latent frame and the next group of the toy VAE: where layout copying shows
PROMPT_COLS = {"scene": 0, "motion": 1, "expression": 2, "lighting": 3, "accessory": 4}


def mean_ci(values: torch.Tensor) -> dict:
    v = values.double()
    n = len(v)
    sd = v.std().item() if n > 1 else float("nan")
    return {"mean": v.mean().item(), "ci95": 1.96 * sd / math.sqrt(n) if n > 1 else float("nan"), "n": n}


@torch.no_grad()
def clip_metrics(
    readout: Readout,
    frames: torch.Tensor,
    reference: torch.Tensor,
    identity: torch.Tensor,
    prompt_attrs: torch.Tensor,
    ref_box: torch.Tensor,
    true_boxes: torch.Tensor,
    by_attribute: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-clip metrics; with ``by_attribute`` also ``identity_<attr>``, the identity accuracy of each attribute.

    Args:
        frames: ``(B, F, H, W, 3)`` uint8 generated clips.
        reference: ``(B, H, W, 3)`` uint8 reference images.
        identity: ``(B, 9)`` true identity attributes; ``prompt_attrs``: ``(B, 5)``.
        ref_box: ``(B, 4)`` reference face boxes; ``true_boxes``: ``(B, F, 4)`` of the prompt's clip.
    """
    b, f = frames.shape[:2]
    p = readout.predict(to_model_frames(frames))
    pr = readout.predict(to_model_frames(reference))
    view = lambda t: t.reshape(b, f, *t.shape[1:])  # noqa: E731
    ident_pred = torch.stack([view(p[k]) for k in IDENTITY_ATTRS], -1)  # (B, F, 9)
    id_acc = (ident_pred == identity[:, None]).float().mean((1, 2))
    emb = view(p["embedding"])  # (B, F, D)
    cos = (emb * pr["embedding"][:, None]).sum(-1).mean(1)
    text = [(view(p[k]) == prompt_attrs[:, None, PROMPT_COLS[k]]).float().mean(1) for k in FRAME_HEADS]
    boxes = view(p["box"])  # (B, F, 3)
    text.append((motion_from_boxes(boxes) == prompt_attrs[:, PROMPT_COLS["motion"]]).float())
    text_adh = torch.stack(text, 1).mean(1)
    scene_copy = (view(p["scene"]) == pr["scene"][:, None]).float().mean(1)
    d_ref = (boxes[..., :2] - ref_box[:, None, :2]).norm(dim=-1)
    d_true = (boxes[..., :2] - true_boxes[..., :2]).norm(dim=-1)
    pos_copy = (d_ref < d_true).float().mean(1)
    layout_copy = (d_ref < d_true)[:, :EARLY_FRAMES].float().mean(1)
    majority = ident_pred.mode(dim=1).values  # (B, 9)
    consistency = (ident_pred == majority[:, None]).float().mean((1, 2))
    per_attr = (
        {
            f"identity_{k}": (ident_pred[..., j] == identity[:, None, j]).float().mean(1)
            for j, k in enumerate(IDENTITY_ATTRS)
        }
        if by_attribute
        else {}
    )
    return {
        **per_attr,
        "identity_accuracy": id_acc,
        "embedding_cosine": cos,
        "text_adherence": text_adh,
        "copy_paste": 0.5 * (scene_copy + pos_copy),
        "copy_background": scene_copy,
        "copy_position": pos_copy,
        "copy_layout": layout_copy,
        "temporal_consistency": consistency,
    }


def summarize(per_clip: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {k: mean_ci(v) for k, v in per_clip.items()}


def identity_chance() -> float:
    """Identity accuracy of a random guess: the mean over the identity attributes of 1 / number of values."""
    return sum(1 / len(v) for v in IDENTITY_ATTRS.values()) / len(IDENTITY_ATTRS)
