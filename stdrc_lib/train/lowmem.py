"""Memory tiers for fine-tuning and generating with a large base: 8-bit optimizer states and weight-only int8 or
fp8 quantization of the frozen base, through torchao (``pip install "stdrc[memory]"``).

* ``optimizer="adamw8bit"``: AdamW whose two moment buffers are stored in 8 bits (block-wise scales), a quarter of
  float32 AdamW's optimizer memory. With LoRA the optimizer holds only the adapter's moments, so this matters most
  for full fine-tuning.
* ``quantize_base="int8"`` / ``"fp8"``: every ``nn.Linear`` of the frozen transformer keeps its weight in 8 bits
  (per-channel scales) and dequantizes on the fly; LoRA layers added afterwards stay in full precision and train.

Both run on CPU (torchao's reference kernels), which is how the tests exercise them; the speed and the memory they
save are a GPU's business (``python -m stdrc_lib.train.memory`` estimates each tier).
"""

from __future__ import annotations

import torch

OPTIMIZERS = ("adamw", "adamw8bit")
QUANTIZATIONS = ("none", "int8", "fp8")
TORCHAO = 'the memory tiers need torchao: `pip install "stdrc[memory]"` (or `pip install torchao`).'


def _torchao():
    try:
        import torchao  # noqa: F401
    except ImportError as e:
        raise ImportError(TORCHAO) from e


def quantize_frozen(module: torch.nn.Module, quantize: str = "none") -> torch.nn.Module:
    """Weight-only ``"int8"`` or ``"fp8"`` quantization of every ``nn.Linear`` of ``module`` (LoRA layers excepted),
    in place; ``"none"`` leaves it as it is. The module is frozen: quantized weights do not train."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"`quantize` must be one of {QUANTIZATIONS}, got {quantize!r}.")
    if quantize == "none":
        return module
    _torchao()
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

    module.requires_grad_(False)
    config = Int8WeightOnlyConfig() if quantize == "int8" else Float8WeightOnlyConfig()
    quantize_(module, config, filter_fn=lambda m, name: isinstance(m, torch.nn.Linear) and "lora_" not in name)
    return module


def make_optimizer(params, optimizer: str = "adamw", lr: float = 1e-3, weight_decay: float = 0.01, betas=(0.9, 0.99)):
    """``torch.optim.AdamW`` (``"adamw"``) or torchao's ``AdamW8bit`` (``"adamw8bit"``) over ``params``."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {optimizer!r}.")
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)
    _torchao()
    from torchao.optim import AdamW8bit

    return AdamW8bit(params, lr=lr, weight_decay=weight_decay, betas=betas)
