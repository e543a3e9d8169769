"""A tiny learned text encoder for the toy world.

LTX-2.3 reads text through Gemma 3 and ``LTX2TextConnectors``; that is 12B parameters we cannot
run on a laptop. The toy world's prompts use a vocabulary of a few dozen words, so a word
embedding, a learned position embedding and one transformer layer are enough to produce
``encoder_hidden_states`` of the transformer's width. The null prompt ``""`` is a single
``<bos>`` token, so "no text" is a real, learnable embedding rather than zeros.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ..core.io import atomic_write, load_safetensors, read_json_config
from .world import VOCAB as _WORLD_VOCAB

# Every word the SynthFaces prompt grammar can produce (stdrc_lib/toy/world.py).
DEFAULT_VOCAB = tuple(_WORLD_VOCAB)
SPECIALS = ("<pad>", "<bos>", "<unk>")


class PromptWarning(UserWarning):
    """A prompt holds text the toy text encoder cannot read."""


@dataclass
class ToyTextConfig:
    dim: int = 128
    max_len: int = 16
    num_heads: int = 4
    num_layers: int = 1
    vocab: list[str] = field(default_factory=lambda: list(DEFAULT_VOCAB))


class ToyTextEncoder(ModelMixin, ConfigMixin):
    """Words → ``(B, L, dim)`` embeddings and a ``(B, L)`` attention mask.

    A diffusers ``ModelMixin``, so a pipeline holding it saves and loads it with
    ``save_pretrained`` / ``from_pretrained`` like any other component.
    """

    @register_to_config
    def __init__(
        self, dim: int = 128, max_len: int = 16, num_heads: int = 4, num_layers: int = 1, vocab: list | None = None
    ):
        super().__init__()
        if vocab is None:
            self.register_to_config(vocab=list(DEFAULT_VOCAB))
        c = self.config
        self.itos = list(SPECIALS) + [w for w in c.vocab if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.embed = nn.Embedding(len(self.itos), c.dim)
        self.pos = nn.Parameter(torch.randn(c.max_len, c.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(c.dim, c.num_heads, 2 * c.dim, dropout=0.0, batch_first=True)
        self.layers = nn.TransformerEncoder(layer, c.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.dim)

    def tokenize(self, prompts: list[str] | str, strict: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower-case words; unknown words map to ``<unk>``. Returns ids and mask ``(B, L)``.

        What the encoder cannot read is reported, not silently lost: words outside its vocabulary, text that
        is not made of the letters a–z (another script, digits), and words past its ``max_len − 1`` slots.
        Each gives a :class:`PromptWarning` listing them, or a ``ValueError`` with ``strict=True``.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
            raise TypeError(f"`prompts` must be a string or a list of strings, got {type(prompts).__name__}.")
        L = self.config.max_len
        ids = torch.zeros(len(prompts), L, dtype=torch.long)
        mask = torch.zeros(len(prompts), L, dtype=torch.long)
        for i, p in enumerate(prompts):
            words = re.findall(r"[a-z]+", p.lower())
            toks = [self.stoi["<bos>"]] + [self.stoi.get(w, self.stoi["<unk>"]) for w in words]
            self._report(p, words, toks[L:], strict)
            toks = toks[:L]
            ids[i, : len(toks)] = torch.tensor(toks)
            mask[i, : len(toks)] = 1
        return ids, mask

    def _report(self, prompt: str, words: list[str], cut: list[int], strict: bool) -> None:
        unknown = sorted({w for w in words if w not in self.stoi})
        unread = re.findall(r"[^\W_]+", re.sub(r"[a-z]+", " ", prompt.lower()))  # other scripts, digits
        problems = []
        if unread:
            problems.append(f"it cannot read {unread} (the toy vocabulary is English words a–z); they are dropped")
        if unknown:
            problems.append(f"{unknown} are not in its vocabulary; each becomes <unk>")
        if cut:
            problems.append(f"it reads {self.config.max_len - 1} words; {words[-len(cut) :]} are dropped")
        if problems:
            msg = f"prompt {prompt!r}: " + "; ".join(problems) + "."
            if strict:
                raise ValueError(msg)
            warnings.warn(msg, PromptWarning, stacklevel=3)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos[: ids.shape[1]]  # (B, L, dim)
        x = self.layers(x, src_key_padding_mask=mask == 0)
        return self.norm(x)

    @torch.no_grad()
    def encode(self, prompts: list[str] | str, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts → ``(embeds (B, L, dim), mask (B, L))``."""
        ids, mask = self.tokenize(prompts)
        dev = device or self.pos.device
        return self(ids.to(dev), mask.to(dev)), mask.to(dev)

    # Persistence: a JSON config beside a safetensors state dict.
    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cfg = {f.name: self.config[f.name] for f in fields(ToyTextConfig)}
        atomic_write(folder / "config.json", lambda p: Path(p).write_text(json.dumps(cfg, indent=2)))
        sd = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        atomic_write(folder / "model.safetensors", lambda p: save_file(sd, str(p)))

    @classmethod
    def load(cls, folder: str | Path) -> ToyTextEncoder:
        folder = Path(folder)
        cfg = read_json_config(folder / "config.json", ToyTextConfig)
        model = cls(**asdict(cfg))
        model.load_state_dict(load_safetensors(folder / "model.safetensors"))
        return model.eval()
