"""SynthFaces as a torch ``Dataset``: (clip, reference, prompt) triples, deterministic by seed."""

from __future__ import annotations

import numpy as np
import torch

from ..core.reference import latent_grid
from .render import CLASSIC, Look, look_named, render_clip, render_eval_reference
from .weights import TOY_S, TOY_T
from .world import Identity, Prompt, split_indices

REF_MODES = ("clip", "eval")


class SynthFaces(torch.utils.data.Dataset):
    """Clips of held-in (``train``) or held-out (``eval``) identities and prompts.

    Args:
        split: ``"train"`` or ``"eval"`` (disjoint identities *and* prompt combinations).
        length: number of items (each index renders a fresh, deterministic sample).
        seed: changes every sample; the same ``(seed, index)`` always gives the same item.
        ref_mode: ``"clip"`` (a random frame of the clip itself, as real data pipelines do) or
            ``"eval"`` (a different pose, position, scale, lighting and background). Defaults to
            ``"clip"`` for train and ``"eval"`` for eval.

    Items are dicts with ``video`` ``(3, F, H, W)`` and ``reference`` ``(3, H, W)`` in ``[−1, 1]``,
    ``boxes`` ``(F, 4)`` and ``ref_box`` ``(4,)`` face boxes (cx, cy, w, h as canvas fractions),
    ``ref_mask`` ``(H, W)`` the person's coverage in the reference (face, hair, accessory; no scene),
    ``prompt`` (text), ``identity`` ``(9,)`` and ``prompt_attrs`` ``(5,)`` attribute indices, and ``ref_frame``:
    which pixel frame of the clip the reference is (−1 for ``"eval"`` references).
    With ``cross_reference=True`` items also hold ``cross_reference`` / ``cross_ref_box``: an
    evaluation-style still of the same identity (another pose, place, lighting and background),
    as a second video of the same person would give. ``look`` is how the world is drawn (see
    :class:`~stdrc_lib.toy.render.Look`).
    """

    def __init__(
        self,
        split: str = "train",
        length: int = 10_000,
        seed: int = 0,
        ref_mode: str | None = None,
        frames: int = 17,
        size: int = 64,
        cross_reference: bool = False,
        look: str | Look = CLASSIC,
    ):
        self.ids = split_indices("identity", split)
        self.prompts = split_indices("prompt", split)
        self.split, self.length, self.seed = split, int(length), int(seed)
        self.ref_mode = ref_mode or ("clip" if split == "train" else "eval")
        if self.ref_mode not in REF_MODES:
            raise ValueError(f"`ref_mode` must be one of {REF_MODES}, got {self.ref_mode!r}.")
        latent_grid(frames, size, size, (TOY_T, TOY_S), ("`frames`", "`size`", "`size`"))
        self.frames, self.size = frames, size
        self.cross_reference = bool(cross_reference)
        self.look = look_named(look)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, 0 if self.split == "train" else 1, index])
        ident = Identity.from_index(int(rng.choice(self.ids)))
        prompt = Prompt.from_index(int(rng.choice(self.prompts)))
        clip, boxes, alpha = render_clip(ident, prompt, rng, self.frames, self.size, True, self.look)
        k = -1
        if self.ref_mode == "clip":
            k = int(rng.integers(self.frames))
            ref, ref_box, ref_mask = clip[k], boxes[k], alpha[k]
        else:
            ref, ref_box, ref_mask = render_eval_reference(
                ident, prompt, rng, self.size, return_alpha=True, look=self.look
            )
        item = {
            "video": torch.from_numpy(clip).permute(3, 0, 1, 2) * 2 - 1,  # (3, F, H, W)
            "reference": torch.from_numpy(ref).permute(2, 0, 1) * 2 - 1,  # (3, H, W)
            "boxes": torch.from_numpy(boxes),
            "ref_box": torch.from_numpy(ref_box),
            "ref_mask": torch.from_numpy(ref_mask),  # (H, W) the person's coverage: a perfect face parser
            "ref_frame": torch.tensor(k),  # the pixel frame of the clip the reference is; −1: rendered apart
            "prompt": prompt.text(),
            "identity": torch.from_numpy(ident.as_array()),
            "prompt_attrs": torch.from_numpy(prompt.as_array()),
        }
        if self.cross_reference:  # drawn last, so the other fields do not depend on this flag
            cross, cross_box, cross_mask = render_eval_reference(
                ident, prompt, rng, self.size, return_alpha=True, look=self.look
            )
            item["cross_reference"] = torch.from_numpy(cross).permute(2, 0, 1) * 2 - 1
            item["cross_ref_box"] = torch.from_numpy(cross_box)
            item["cross_ref_mask"] = torch.from_numpy(cross_mask)
        return item
