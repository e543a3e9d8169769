"""A full-width LTX-2.3 smoke checkpoint: the real classes at the real widths, with few layers and random weights.

Nobody on this project's machines has LTX-2.3's weights or a GPU, so the LTX-2.3 path is exercised on a checkpoint
that has everything of the real one except depth and training:

* ``LTX2VideoTransformer3DModel`` with LTX-2.3's config (width 4096, 32 heads, split RoPE, gated attention,
  cross-attention modulation, the audio stream) and ``layers`` blocks instead of 48;
* ``AutoencoderKLLTX2Video`` with LTX-2.3's channels and compression (×32 in space, ×8 in time, 128 latent
  channels) and one layer per block;
* Gemma 3 (``Gemma3ForConditionalGeneration``, the class LTX-2.3 ships) at LTX-2.3's text width 3840 with one
  layer and a small vocabulary, and a real ``GemmaTokenizerFast`` built here from a byte-level BPE trained on a few
  sentences (nothing is downloaded);
* ``LTX2TextConnectors`` with LTX-2.3's config (per-modality projections into 4096 and 2048, gated attention,
  128 registers) and one layer per connector, reading Gemma's two hidden states (embedding + one layer);
* diffusers' ``FlowMatchEulerDiscreteScheduler``.

About 1.6 billion parameters (6.5 GB in float32). ``python -m stdrc_lib.fullwidth --out models/ltx23-smoke`` writes
it in diffusers' layout, loadable by ``STDRCPipeline.from_pretrained``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .core.backbone import LTX23_CONNECTORS_CONFIG, LTX23_TRANSFORMER_CONFIG, LTX23_VAE_CONFIG

GEMMA_WIDTH = LTX23_CONNECTORS_CONFIG["caption_channels"]  # 3840: Gemma-3-12B's hidden size
SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>"]
CORPUS = (
    "a person smiling in a forest moving left in warm light",
    "a woman with glasses talks on a beach at sunset",
    "a man with a beard nods in a city street at night",
    "close-up of a face turning towards the camera, soft daylight",
    "the person walks slowly through a room, cinematic, 24 fps",
)


def build_tokenizer(vocab_size: int = 512):
    """A real ``GemmaTokenizerFast`` (left padding, Gemma's special tokens) on a byte-level BPE trained offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GemmaTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    out = GemmaTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )
    out.padding_side = "left"
    return out


def build_text_encoder(vocab_size: int, layers: int = 1):
    """Gemma 3 (the class LTX-2.3 uses) at width 3840 with ``layers`` layers and a tiny vision tower."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = dict(
        vocab_size=vocab_size,
        hidden_size=GEMMA_WIDTH,
        intermediate_size=1024,
        num_hidden_layers=layers,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=256,
        max_position_embeddings=2048,
        sliding_window=512,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14)  # fmt: skip
    cfg = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, image_token_index=vocab_size - 1,
                       boi_token_index=vocab_size - 3, eoi_token_index=vocab_size - 2)  # fmt: skip
    return Gemma3ForConditionalGeneration(cfg).eval()


def build_smoke_pipeline(layers: int = 1, seed: int = 0, dtype: torch.dtype = torch.float32):
    """The full-width smoke checkpoint as an :class:`~stdrc_lib.pipeline.STDRCPipeline` (see the module doc)."""
    from diffusers import AutoencoderKLLTX2Video, FlowMatchEulerDiscreteScheduler, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    from .pipeline import STDRCPipeline

    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"`layers` must be a positive integer, got {layers!r}.")
    tokenizer = build_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        transformer = LTX2VideoTransformer3DModel(**{**LTX23_TRANSFORMER_CONFIG, "num_layers": layers})
        one = (1,) * len(LTX23_VAE_CONFIG["layers_per_block"])
        vae = AutoencoderKLLTX2Video(**{**LTX23_VAE_CONFIG, "layers_per_block": one, "decoder_layers_per_block": one})
        text_encoder = build_text_encoder(len(tokenizer), layers=1)
        connectors = LTX2TextConnectors(
            **{
                **LTX23_CONNECTORS_CONFIG,
                "text_proj_in_factor": text_encoder.config.text_config.num_hidden_layers + 1,
                "video_connector_num_layers": 1,
                "audio_connector_num_layers": 1,
            }
        )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0)
    pipe = STDRCPipeline(
        transformer.eval(), vae.eval(), scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
        connectors=connectors.eval(),
    )  # fmt: skip
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description="Write a full-width LTX-2.3 smoke checkpoint (real classes and widths, few layers, random "
        "weights) in diffusers' layout."
    )
    ap.add_argument("--out", type=Path, required=True, help="folder to write (must not exist)")
    ap.add_argument("--layers", type=int, default=1, help="transformer blocks (LTX-2.3 has 48; default 1)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="bf16", help="stored dtype (default bf16)")
    args = ap.parse_args(argv)
    if args.out.exists():
        ap.error(f"--out {args.out} exists; give a new folder")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    build_smoke_pipeline(args.layers, dtype=dtype).save_pretrained(args.out, safe_serialization=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
