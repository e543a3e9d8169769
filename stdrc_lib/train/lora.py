"""LoRA for ST-DRC through peft, saved in the format diffusers' LTX-2 LoRA loader reads.

Targets are those of the LTX-2 trainer: the video self-attention (``attn1``) and text
cross-attention (``attn2``) projections ``to_q``, ``to_k``, ``to_v``, ``to_out.0`` and the video
feed-forward (``ff.net.0.proj``, ``ff.net.2``) of every transformer block. Audio branches are
left alone: ST-DRC is video-only.

    add_lora(pipe.transformer, rank=32)          # peft adapter through diffusers' PeftAdapterMixin
    ... train ...
    save_lora(pipe.transformer, "out/lora")      # pytorch_lora_weights.safetensors
    pipe.load_lora_weights("out/lora")           # on a fresh pipeline (LTX2LoraLoaderMixin)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..core.io import atomic_write

# regex over module names (peft matches it against the full name)
LORA_TARGET_MODULES = (
    r".*transformer_blocks\.\d+\.(attn1|attn2)\.(to_q|to_k|to_v|to_out\.0)"
    r"|.*transformer_blocks\.\d+\.ff\.net\.(0\.proj|2)"
)


def add_lora(
    transformer, rank: int = 16, alpha: float | None = None, dropout: float = 0.0, adapter_name: str = "default"
):
    """Add a trainable LoRA adapter to ``transformer`` and freeze everything else; returns it.

    With the default init the adapter's B matrices are zero, so outputs are unchanged at first.
    """
    from peft import LoraConfig

    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"`rank` must be a positive integer, got {rank!r}.")
    cfg = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else rank,
        lora_dropout=dropout,
        target_modules=LORA_TARGET_MODULES,
        init_lora_weights=True,
    )
    transformer.requires_grad_(False)
    transformer.add_adapter(cfg, adapter_name=adapter_name)
    return transformer


def lora_parameters(transformer) -> list[torch.nn.Parameter]:
    return [p for n, p in transformer.named_parameters() if "lora_" in n and p.requires_grad]


def save_lora(transformer, folder: str | Path, adapter_name: str = "default") -> Path:
    """Write ``folder/pytorch_lora_weights.safetensors`` (diffusers' LoRA layout, ``transformer.`` prefix)."""
    from diffusers.loaders import LTX2LoraLoaderMixin
    from peft.utils import get_peft_model_state_dict

    layers = get_peft_model_state_dict(transformer, adapter_name=adapter_name)
    if not layers:
        raise ValueError(f"`transformer` has no LoRA adapter named {adapter_name!r}; call add_lora first.")
    name = "pytorch_lora_weights.safetensors"

    def write(tmp: Path) -> None:  # diffusers writes into a folder; move its file out whole
        with tempfile.TemporaryDirectory(dir=tmp.parent) as d:
            LTX2LoraLoaderMixin.save_lora_weights(d, transformer_lora_layers=layers, safe_serialization=True)
            os.replace(Path(d) / name, tmp)

    return atomic_write(Path(folder) / name, write)
