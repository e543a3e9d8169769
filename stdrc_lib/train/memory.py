"""Memory estimates for LTX-2.3 + ST-DRC, computed from the model configs (nothing is allocated).

Parameter counts come from building the real diffusers modules on the ``meta`` device
(:func:`stdrc_lib.core.backbone.build_full_on_meta`) and, for the text encoder, Gemma 3 12B's published
shape built the same way when transformers is installed. Activation figures are estimates from
simple formulas stated next to each row; they were *not* measured on a GPU here.

    python -m stdrc_lib.train.memory --frames 121 --height 512 --width 768 --lora-rank 32
"""

from __future__ import annotations

import argparse
import re

import torch

from ..core.backbone import build_full_on_meta
from .lora import LORA_TARGET_MODULES

GIB = 1024**3

# Gemma 3 12B (text part), as published in its config.json.
GEMMA3_12B = dict(
    hidden_size=3840,
    intermediate_size=15360,
    num_hidden_layers=48,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=256,
    vocab_size=262208,
)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def gemma_params() -> int | None:
    try:
        import torch
        from transformers import Gemma3TextConfig, Gemma3TextModel
    except ImportError:  # pragma: no cover
        return None
    with torch.device("meta"):
        return _count(Gemma3TextModel(Gemma3TextConfig(**GEMMA3_12B)))


def lora_params(transformer, rank: int) -> int:
    pat = re.compile(LORA_TARGET_MODULES)
    n = 0
    for name, m in transformer.named_modules():
        if pat.fullmatch(name) and hasattr(m, "in_features"):
            n += rank * (m.in_features + m.out_features)
    return n


def estimate(frames: int = 121, height: int = 512, width: int = 768, lora_rank: int = 32) -> dict:
    """Rows of (item, GiB, how it is computed) for inference and LoRA training in bf16."""
    transformer, vae = build_full_on_meta()
    cfg = transformer.config
    t, s = int(vae.temporal_compression_ratio), int(vae.spatial_compression_ratio)
    f_lat, h_lat, w_lat = (frames - 1) // t + 1, height // s, width // s
    n_video, n_ref = f_lat * h_lat * w_lat, h_lat * w_lat
    n_tok = n_video + n_ref
    d = cfg.num_attention_heads * cfg.attention_head_dim
    layers = cfg.num_layers
    p_tr, p_vae, p_txt = _count(transformer), _count(vae), gemma_params()
    p_lora = lora_params(transformer, lora_rank)
    ffn = transformer.transformer_blocks[0].ff.net[0].proj.out_features  # feed-forward inner width
    b2 = 2  # bytes per bf16 value
    rows = [
        ("transformer weights (bf16)", p_tr * b2, f"{p_tr / 1e9:.2f} B params × 2 B"),
        ("video VAE weights (bf16)", p_vae * b2, f"{p_vae / 1e6:.0f} M params × 2 B"),
    ]
    if p_txt is not None:
        rows.append(
            (
                "Gemma 3 12B text encoder (bf16)",
                p_txt * b2,
                f"{p_txt / 1e9:.2f} B params × 2 B; skip it with cached embeddings",
            )
        )
    # one guided step: 3 streams batched; per layer the live set is ~ hidden + qkv + ffn hidden
    act_inf = 3 * n_tok * (4 * d + ffn) * b2
    rows.append(
        (
            "inference activations, one 3-stream step",
            act_inf,
            f"3 streams × {n_tok} tokens × (4·{d} + {ffn}) × 2 B (one layer live; flash/SDPA attention, no N² map)",
        )
    )
    rows.append(
        (
            "LoRA parameters + grads + AdamW (fp32)",
            p_lora * 16,
            f"{p_lora / 1e6:.1f} M params × (4+4+8) B, rank {lora_rank}",
        )
    )
    ckpt = layers * n_tok * d * b2
    rows.append(
        (
            "training activations, gradient checkpointing",
            ckpt,
            f"{layers} layers × {n_tok} tokens × {d} × 2 B (+ one layer recomputed)",
        )
    )
    per_layer = n_tok * (10 * d + 2 * ffn) * b2
    rows.append(
        (
            "training activations, no checkpointing",
            layers * per_layer,
            f"{layers} layers × {n_tok} × (10·{d} + 2·{ffn}) × 2 B",
        )
    )
    # the memory tiers of LoRA training (train/lowmem.py), each adding one saver to the row above it
    p_linear = sum(m.in_features * m.out_features for m in transformer.modules() if isinstance(m, torch.nn.Linear))
    base8 = p_linear * 1 + (p_tr - p_linear) * b2  # int8 / fp8 linear weights, the rest in bf16
    text = p_txt * b2 if p_txt is not None else 0
    tiers = [
        ("bf16, no savers", p_tr * b2 + text + p_vae * b2 + p_lora * 16 + layers * per_layer, "everything resident"),
        ("+ gradient checkpointing", p_tr * b2 + text + p_vae * b2 + p_lora * 16 + ckpt, "--gradient-checkpointing"),
        ("+ cached prompt embeddings", p_tr * b2 + p_vae * b2 + p_lora * 16 + ckpt, "Gemma leaves before training"),
        ("+ 8-bit AdamW", p_tr * b2 + p_vae * b2 + p_lora * 10 + ckpt, "--optimizer adamw8bit: moments 2 × 1 B"),
        (
            "+ int8 or fp8 base",
            base8 + p_vae * b2 + p_lora * 10 + ckpt,
            "--quantize-base int8 or fp8: linear weights 1 B",
        ),
    ]
    return {
        "tiers": [(name, b / GIB, how) for name, b, how in tiers],
        "grid": (f_lat, h_lat, w_lat),
        "video_tokens": n_video,
        "reference_tokens": n_ref,
        "width": d,
        "layers": layers,
        "rows": [(name, b / GIB, how) for name, b, how in rows],
    }


def markdown(est: dict) -> str:
    lines = [
        f"Latent grid {est['grid']} → {est['video_tokens']} video + {est['reference_tokens']} reference tokens; "
        f"width {est['width']}, {est['layers']} layers.",
        "",
        "| item | GiB | how |",
        "|---|---:|---|",
    ]
    lines += [f"| {name} | {gib:.1f} | {how} |" for name, gib, how in est["rows"]]
    lines += ["", "LoRA training, one tier per memory saver (each row keeps the savers above it):", "",
              "| tier | GiB | flag |", "|---|---:|---|"]  # fmt: skip
    lines += [f"| {name} | {gib:.1f} | {how} |" for name, gib, how in est["tiers"]]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="LTX-2.3 + ST-DRC memory estimate from the configs (no GPU needed).")
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--lora-rank", type=int, default=32)
    a = ap.parse_args(argv)
    print(markdown(estimate(a.frames, a.height, a.width, a.lora_rank)))


if __name__ == "__main__":
    main()
