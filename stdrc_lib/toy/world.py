"""SynthFaces: who is in the clip (identity) and what the prompt asks for (scene, motion, ...).

Identity is a tuple of 9 attributes (8,640 combinations) that only the reference carries: the
prompt never names them. The prompt controls scene, motion, expression, lighting and an
accessory the reference never wears. Fixed, seeded subsets of identities and prompts (10 % each)
are held out for evaluation and never appear in training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

# ----------------------------------------------------------------------------- identity
IDENTITY_ATTRS: dict[str, tuple[str, ...]] = {
    "face_shape": ("round", "oval", "long"),
    "skin": ("pale", "fair", "tan", "brown"),
    "hair_colour": ("black", "brown", "blond", "red", "grey"),
    "hair_style": ("short", "long", "bald"),
    "eye_colour": ("blue", "green", "brown"),
    "eye_spacing": ("narrow", "wide"),
    "glasses": ("no", "yes"),
    "beard": ("no", "yes"),
    "mark": ("no", "yes"),
}

# ----------------------------------------------------------------------------- prompt
PROMPT_ATTRS: dict[str, tuple[str, ...]] = {
    "scene": ("beach", "forest", "city", "office", "night"),
    "motion": ("left", "right", "closer", "away", "nod"),
    "expression": ("smiling", "neutral", "surprised"),
    "lighting": ("bright", "dim", "warm"),
    "accessory": ("none", "red hat", "blue hat", "yellow headband"),
}

SCENE_PHRASE = {
    "beach": "on the beach",
    "forest": "in a forest",
    "city": "in the city",
    "office": "in an office",
    "night": "at night",
}
MOTION_PHRASE = {
    "left": "moving left",
    "right": "moving right",
    "closer": "moving closer",
    "away": "moving away",
    "nod": "nodding",
}


def _radix(attrs: dict[str, tuple[str, ...]]) -> list[int]:
    return [len(v) for v in attrs.values()]


def _index_to_digits(index: int, radix: list[int]) -> list[int]:
    digits = []
    for r in reversed(radix):
        digits.append(index % r)
        index //= r
    return list(reversed(digits))


def _digits_to_index(digits: list[int], radix: list[int]) -> int:
    i = 0
    for d, r in zip(digits, radix):
        i = i * r + d
    return i


class _AttributeTuple:
    """A frozen dataclass of attribute indices, numbered in mixed radix over ``ATTRS``."""

    ATTRS: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_index(cls, index: int):
        n = int(np.prod(_radix(cls.ATTRS)))
        if not 0 <= index < n:
            raise ValueError(f"`index` must be in [0, {n}), got {index}.")
        return cls(*_index_to_digits(index, _radix(cls.ATTRS)))

    @property
    def index(self) -> int:
        return _digits_to_index(list(asdict(self).values()), _radix(self.ATTRS))

    def names(self) -> dict[str, str]:
        return {f.name: self.ATTRS[f.name][getattr(self, f.name)] for f in fields(self)}

    def as_array(self) -> np.ndarray:
        return np.array(list(asdict(self).values()), dtype=np.int64)


@dataclass(frozen=True)
class Identity(_AttributeTuple):
    ATTRS = IDENTITY_ATTRS
    face_shape: int = 0
    skin: int = 0
    hair_colour: int = 0
    hair_style: int = 0
    eye_colour: int = 0
    eye_spacing: int = 0
    glasses: int = 0
    beard: int = 0
    mark: int = 0


@dataclass(frozen=True)
class Prompt(_AttributeTuple):
    ATTRS = PROMPT_ATTRS
    scene: int = 0
    motion: int = 0
    expression: int = 0
    lighting: int = 0
    accessory: int = 0

    def text(self) -> str:
        """The prompt in words, e.g. 'a person smiling on the beach moving left in warm light wearing a red hat'."""
        n = self.names()
        acc = "" if n["accessory"] == "none" else f" wearing a {n['accessory']}"
        return (
            f"a person {n['expression']} {SCENE_PHRASE[n['scene']]} {MOTION_PHRASE[n['motion']]} "
            f"in {n['lighting']} light{acc}"
        )


def light_in_prompt(text: str) -> int | None:
    """The light a prompt names ("... in warm light ..."), as an index into ``PROMPT_ATTRS["lighting"]``, or None."""
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a prompt string, got {type(text).__name__}.")
    words = text.lower().split()
    found = {words[i + 1] for i in range(len(words) - 2) if words[i] == "in" and words[i + 2] == "light"}
    found &= set(PROMPT_ATTRS["lighting"])
    if len(found) > 1:
        raise ValueError(f"`text` names more than one light ({sorted(found)}): {text!r}")
    return PROMPT_ATTRS["lighting"].index(found.pop()) if found else None


NUM_IDENTITIES = int(np.prod(_radix(IDENTITY_ATTRS)))
NUM_PROMPTS = int(np.prod(_radix(PROMPT_ATTRS)))

# Words of every prompt the grammar can produce (the toy text encoder's vocabulary).
VOCAB = sorted({w for i in range(NUM_PROMPTS) for w in Prompt.from_index(i).text().split()})

_SPLIT_SEED = 20261124


def _held_out(n: int, salt: int) -> np.ndarray:
    perm = np.random.default_rng([_SPLIT_SEED, salt]).permutation(n)
    return np.sort(perm[: n // 10])


HELD_OUT_IDENTITIES = _held_out(NUM_IDENTITIES, 1)  # 864 identities, never trained on
HELD_OUT_PROMPTS = _held_out(NUM_PROMPTS, 2)  # 90 prompt combinations, never trained on


def split_indices(kind: str, split: str) -> np.ndarray:
    """Indices of identities or prompts in the ``train`` or ``eval`` split."""
    if kind not in ("identity", "prompt"):
        raise ValueError(f"`kind` must be 'identity' or 'prompt', got {kind!r}.")
    if split not in ("train", "eval"):
        raise ValueError(f"`split` must be 'train' or 'eval', got {split!r}.")
    n, held = (NUM_IDENTITIES, HELD_OUT_IDENTITIES) if kind == "identity" else (NUM_PROMPTS, HELD_OUT_PROMPTS)
    if split == "eval":
        return held
    mask = np.ones(n, bool)
    mask[held] = False
    return np.nonzero(mask)[0]
