"""``stdrc`` command line: ``stdrc demo``, ``generate``, ``train`` and ``eval``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .evaluate import REF_LIGHTS, ROWS
from .guidance import ORDERS
from .positions import SCHEMES

RESCALE_HELP = "automatic per-step weighting φ in [0, 1]: pull the guided velocity's std towards v(r,c)'s (0 = off)"


def _add_generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prompt",
        default="a person smiling in a forest moving left",
        help="text prompt (toy vocabulary; unknown words map to <unk>)",
    )
    p.add_argument("--negative-prompt", default="", help="null / negative prompt for the unconditional streams")
    p.add_argument("--steps", type=int, default=20, help="Euler sampling steps (default: 20)")
    p.add_argument(
        "--s-ref",
        type=float,
        default=8.0,
        help="reference guidance scale s_ref (default: 8.0, chosen for the shipped toy model on held-out clips: "
        "identity rises with it up to 8 and no further at 10, while text adherence stays at or above the "
        "no-reference level; README, 'What the demo shows')",
    )
    p.add_argument("--s-txt", type=float, default=3.0, help="text guidance scale s_txt (default: 3.0)")
    p.add_argument("--order", choices=ORDERS, default="ref_first", help="guidance stream order")
    p.add_argument("--guidance-rescale", type=float, default=0.0, help=RESCALE_HELP)
    p.add_argument("--scheme", choices=SCHEMES, default="tass", help="reference position scheme (default: tass)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise (default: 0)")
    p.add_argument("--frames", type=int, default=17, help="clip length in frames, k·4+1 for the toy VAE")


def cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from . import backbone as bb
    from . import guidance as G
    from . import positions as P
    from . import reference as R
    from . import sampling as S
    from . import viz
    from .toyworld import sample_reference

    t0 = time.time()
    backbone = bb.toy_backbone(prefer_trained=not args.random_weights, seed=args.seed)
    if backbone.trained:
        print(f"[stdrc] using trained toy weights from {backbone.source}")
    else:
        print(
            "[stdrc] NOTE: no trained toy weights in data/toy, so this demo runs RANDOM weights: the clip will be "
            "noise-like. It still exercises the full ST-DRC path (VAE reference tokens, TASS-RoPE, three-stream "
            "guidance, Euler sampler, decode)."
        )
    ref, ref_mask, ref_box = sample_reference(args.ref_seed, return_mask_box=True)
    lit = _light_matched(backbone, ref, args.prompt) if args.ref_light == "prompt" else ref
    prep = backbone.extra.get("reference_prep", "whole")
    model_ref = R.prepare_reference(lit, prep, ref_box, ref_mask)  # as the model was trained to see it
    if prep != "whole":
        print(f"[stdrc] the model was trained on face {prep} references; conditioning on the reference's {prep}")
    out = S.generate(
        backbone,
        args.prompt,
        model_ref,
        negative_prompt=args.negative_prompt,
        num_frames=args.frames,
        num_steps=args.steps,
        guidance=G.GuidanceConfig(args.s_ref, args.s_txt, args.order, rescale=args.guidance_rescale),
        positions=P.PositionConfig(scheme=args.scheme, fps=backbone.fps),
        generator=torch.Generator().manual_seed(args.seed),
    )
    out_dir = Path(args.out)
    video = viz.write_video(out_dir / "demo.mp4", out.frames[0], fps=backbone.fps / 3)
    rows, labels = [ref, out.frames[0]], ["reference", "generated"]
    if prep != "whole" or lit is not ref:
        what = ", ".join(([f"face {prep}"] if prep != "whole" else []) + (["re-lit"] if lit is not ref else []))
        rows, labels = [ref, model_ref, out.frames[0]], ["reference", f"model input ({what})", "generated"]
    sheet = viz.contact_sheet(rows, labels=labels, upscale=2)
    png = viz.save_image(out_dir / "demo_contact_sheet.png", sheet)
    viz.save_image(out_dir / "demo_reference.png", ref)
    print(
        f"[stdrc] prompt: {args.prompt!r}; scheme={args.scheme}, s_ref={args.s_ref}, s_txt={args.s_txt}, "
        f"{args.steps} steps"
    )
    print(f"[stdrc] wrote {video} ({out.frames.shape[1]} frames, {out.frames.shape[2]}×{out.frames.shape[3]})")
    print(f"[stdrc] wrote {png}")
    print(f"[stdrc] done in {time.time() - t0:.1f} s")
    return 0


def _light_matched(backbone, ref, prompt: str):
    """The toy reference re-lit to the light ``prompt`` names (:func:`toyworld.readout.match_prompt_light`), or
    ``ref`` itself when the prompt names none, the weights are random or they come without a readout."""
    from .toyworld.readout import Readout, match_prompt_light
    from .toyworld.world import PROMPT_ATTRS, light_in_prompt

    light = light_in_prompt(prompt)
    folder = Path(backbone.source) / "readout"
    if light is None or not backbone.trained or not (folder / "model.safetensors").is_file():
        return ref
    lit = match_prompt_light(ref, prompt, Readout.load(folder))
    print(
        f"[stdrc] re-lit the reference to the prompt's {PROMPT_ATTRS['lighting'][light]} light (--ref-light as-is: off)"
    )
    return lit


def cmd_generate(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from . import viz
    from .pipeline import STDRCPipeline

    ref_path = Path(args.reference)
    if not ref_path.is_file():
        raise FileNotFoundError(f"`--reference` {ref_path} does not exist; pass an image file (PNG, JPEG, ...).")
    try:
        ref = Image.open(ref_path)
        ref.load()
    except OSError as e:
        raise ValueError(f"`--reference` {ref_path} is not a readable image: {e}") from e
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    t0 = time.time()
    pipe = STDRCPipeline.from_pretrained(args.model, torch_dtype=dtype)
    if args.lora:
        pipe.load_lora_weights(args.lora)
    if args.cpu_offload:
        pipe.enable_model_cpu_offload()
    elif torch.cuda.is_available():
        pipe.to("cuda")
    if args.vae_tiling:
        pipe.vae.enable_tiling()
    out = pipe(
        prompt=args.prompt,
        reference_image=ref,
        negative_prompt=args.negative_prompt,
        num_frames=args.frames,
        height=args.height,
        width=args.width,
        num_inference_steps=args.steps,
        reference_guidance_scale=args.s_ref,
        text_guidance_scale=args.s_txt,
        guidance_order=args.order,
        guidance_rescale=args.guidance_rescale,
        position_scheme=args.scheme,
        frame_rate=args.fps,
        generator=torch.Generator().manual_seed(args.seed),
        output_type="np",
        detect_face=args.detect_face,
    )
    clip = viz.to_uint8(out.frames[0])  # (F, H, W, 3)
    path = viz.write_video(args.out, clip, fps=args.fps, upscale=args.upscale)
    print(f"[stdrc] wrote {path} ({clip.shape[0]} frames, {clip.shape[1]}×{clip.shape[2]}) in {time.time() - t0:.1f} s")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .augment import NO_AUGMENT, AugmentConfig
    from .toyworld.build import build_toy_weights
    from .train import ToyTrainConfig

    if args.preset == "full":
        return _train_full(args)
    cfg = ToyTrainConfig(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        scheme=args.scheme,
        n_clips=args.clips,
        sample_every=args.sample_every,
        augment=NO_AUGMENT if args.no_augment else AugmentConfig(),
        lambda_id=args.lambda_id,
        sigma_id=args.sigma_id,
        ema_decay=args.ema,
        gradient_checkpointing=args.gradient_checkpointing,
        ckpt_every=args.ckpt_every,
        face_loss_weight=args.face_loss_weight,
        p_cross_ref=args.p_cross_ref,
        p_relight=args.p_relight,
        face_crop=args.face_crop,
        face_cutout=args.face_cutout,
        **({} if args.warmup is None else {"warmup": args.warmup}),  # else ToyTrainConfig's default
    )
    try:  # build_toy_weights checks --init-from before it trains anything
        info = build_toy_weights(
            Path(args.out),
            cfg,
            from_scratch=args.from_scratch,
            runs=Path(args.runs),
            resume=not args.no_resume,
            init_from=Path(args.init_from) if args.init_from else None,
        )
    except (ValueError, FileNotFoundError) as e:
        if "`init_from`" not in str(e):
            raise
        msg = str(e).replace("`init_from`", "--init-from").replace("`from_scratch`", "--from-scratch")
        print(f"stdrc train: error: {msg}", file=sys.stderr)
        return 2
    t = info["transformer"]
    print(
        f"[stdrc] trained {cfg.steps} steps in {t['train_minutes']:.1f} min "
        f"({t['sec_per_step']:.2f} s/step); weights in {args.out}, samples in {args.runs}"
    )
    return 0


def _train_full(args: argparse.Namespace) -> int:
    import torch

    from .augment import NO_AUGMENT, AugmentConfig
    from .finetune import finetune
    from .train import ToyTrainConfig

    for flag in ("p_cross_ref", "p_relight", "face_crop", "face_cutout"):
        if getattr(args, flag):
            print(
                f"stdrc train --preset full: error: --{flag.replace('_', '-')} needs rendered references; "
                "it is toy-only.",
                file=sys.stderr,
            )
            return 2
    if args.init_from:
        print("stdrc train --preset full: error: --init-from is toy-only; the full preset starts from --model.",
              file=sys.stderr)  # fmt: skip
        return 2
    missing = [f"--{k}" for k in ("model", "data") if not getattr(args, k)]
    if missing:
        print(f"stdrc train --preset full: error: {' and '.join(missing)} required (see docs/GPU.md).", file=sys.stderr)
        return 2
    cfg = ToyTrainConfig(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        warmup=min(200, max(1, args.steps // 10)) if args.warmup is None else args.warmup,
        seed=args.seed,
        scheme=args.scheme,
        sample_every=0,
        augment=NO_AUGMENT if args.no_augment else AugmentConfig(),
        ema_decay=args.ema,
        gradient_checkpointing=args.gradient_checkpointing,
        ckpt_every=args.ckpt_every,
        lora_rank=args.lora_rank,
        lambda_id=args.lambda_id,  # finetune() refuses > 0 with a message: not wired for real faces
        face_loss_weight=args.face_loss_weight,
    )
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    out = args.out if args.out != str(Path("data") / "toy") else str(Path("runs") / "lora")
    info = finetune(
        args.model, args.data, out, cfg, args.frames, args.height, args.width, dtype, not args.no_detect_face
    )
    print(f"[stdrc] LoRA fine-tuned on {info['clips']} clips in {info['minutes']:.1f} min; adapter in {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from . import backbone as bb
    from . import guidance as G
    from . import positions as P
    from .evaluate import evaluate, format_table, save_results
    from .toyworld.readout import Readout

    backbone = bb.load_toy(args.weights)
    readout = Readout.load(Path(args.weights) / "readout")
    if not (args.face_crop or args.face_cutout):  # prepare references the way the model was trained
        prep = backbone.extra.get("reference_prep", "whole")
        args.face_crop, args.face_cutout = prep == "crop", prep == "cutout"
        if prep != "whole":
            print(f"[stdrc] {args.weights} was trained on face {prep} references; evaluating with them")
    report = evaluate(
        backbone,
        readout,
        n=args.n,
        seed=args.seed,
        batch=args.batch,
        steps=args.steps,
        guidance=G.GuidanceConfig(args.s_ref, args.s_txt, args.order, rescale=args.guidance_rescale),
        positions=P.PositionConfig(scheme=args.scheme, fps=backbone.fps),
        rows=tuple(args.rows),
        ref_mode=args.ref_mode,
        face_crop=args.face_crop,
        face_cutout=args.face_cutout,
        ref_light=args.ref_light,
    )
    save_results(report, Path(args.out))
    print(format_table(report["results"]))
    if report["paired"]:
        print("\npaired per clip (same clips and noise):\n" + format_table(report["paired"]))
    print(
        f"[stdrc] {args.n} held-out clips in {report['minutes']:.1f} min; wrote {args.out}/eval.json, eval.md, "
        "eval_examples.png"
    )
    return 0


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
        description="Generate a 17-frame 64×64 clip with the toy preset. Uses trained weights from data/toy "
        "when present, otherwise random weights (and says so).",
    )
    _add_generation_args(demo)
    demo.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    demo.add_argument("--ref-seed", type=int, default=3, help="which sample reference face to draw (default: 3)")
    demo.add_argument("--random-weights", action="store_true", help="ignore data/toy and use random weights")
    demo.add_argument(
        "--ref-light",
        choices=REF_LIGHTS,
        default="prompt",
        help="prompt: when the prompt names a light ('in warm light'), re-light the reference to it first, its own "
        "light estimated by the trained readout (default); as-is: condition on the reference in its own light",
    )
    demo.set_defaults(func=cmd_demo)

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
    gen.add_argument("--steps", type=int, default=30, help="sampling steps (default: 30)")
    gen.add_argument("--s-ref", type=float, default=2.0, help="reference guidance scale (default: 2.0)")
    gen.add_argument("--s-txt", type=float, default=3.0, help="text guidance scale (default: 3.0)")
    gen.add_argument("--order", choices=ORDERS, default="ref_first")
    gen.add_argument("--guidance-rescale", type=float, default=0.0, help=RESCALE_HELP)
    gen.add_argument("--scheme", choices=SCHEMES, default="tass")
    gen.add_argument("--fps", type=float, default=24.0, help="frame rate of positions and output (default: 24)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--lora", default=None, help="folder with an ST-DRC LoRA (pytorch_lora_weights.safetensors)")
    gen.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="weights dtype")
    gen.add_argument("--detect-face", action="store_true", help="crop the reference around its face (offline MTCNN)")
    gen.add_argument("--upscale", type=int, default=1, help="nearest-neighbour upscale of the written video")
    gen.add_argument("--cpu-offload", action="store_true", help="model CPU offload (GPU memory saver)")
    gen.add_argument("--vae-tiling", action="store_true", help="decode in tiles (GPU memory saver)")
    gen.set_defaults(func=cmd_generate)

    train = sub.add_parser(
        "train",
        help="train the toy ST-DRC model on SynthFaces (writes data/toy), or a LoRA on your videos (--preset full)",
        description="Train the toy transformer + text encoder with flow matching, clean TASS reference tokens, "
        "condition dropout and reference augmentation. --from-scratch also trains the VAE and the readout first. "
        "--preset full fine-tunes a LoRA of a pipeline folder (--model) on a folder of captioned videos (--data); "
        "--out defaults to runs/lora there.",
    )
    train.add_argument("--preset", choices=["toy", "full"], default="toy")
    train.add_argument("--steps", type=int, default=2500, help="optimizer steps (default: 2500)")
    train.add_argument("--batch", type=int, default=16, help="clips per step (default: 16)")
    train.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    train.add_argument(
        "--warmup", type=int, default=None, help="linear warm-up steps (default: 100; full preset: steps/10, ≤ 200)"
    )
    train.add_argument(
        "--init-from",
        metavar="FOLDER",
        help="toy preset: continue the transformer + text encoder saved in FOLDER (e.g. data/toy) instead of "
        "starting from random weights; give --runs a fresh folder",
    )
    train.add_argument("--clips", type=int, default=6000, help="training clips rendered and encoded (default: 6000)")
    train.add_argument("--scheme", choices=SCHEMES, default="tass", help="reference positions (default: tass)")
    train.add_argument("--no-augment", action="store_true", help="train without reference augmentation")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--sample-every", type=int, default=500, help="steps between sample grids (0: never)")
    train.add_argument("--lambda-id", type=float, default=0.0, help="weight of the face-guided identity loss (0: off)")
    train.add_argument("--sigma-id", type=float, default=0.5, help="identity loss applies for σ ≤ this (default 0.5)")
    train.add_argument("--ema", type=float, default=0.0, help="EMA decay of the transformer weights (0: off)")
    train.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in backward")
    train.add_argument(
        "--face-loss-weight", type=float, default=1.0, help="weight of face tokens in the flow-matching loss (1 = off)"
    )
    train.add_argument(
        "--p-cross-ref",
        type=float,
        default=0.0,
        help="toy preset: share of references rendered apart from the clip (another pose, place, light and "
        "background of the same identity), as evaluation references are (default 0)",
    )
    train.add_argument(
        "--p-relight",
        type=float,
        default=0.0,
        help="toy preset: share of references re-lit by another of the world's lights (bright, dim, warm), "
        "as evaluation references are lit differently from the clip (default 0)",
    )
    train.add_argument(
        "--face-crop",
        action="store_true",
        help="toy preset: condition on a square cut around the reference's face (place, scale and most of the "
        "background removed); evaluate such a model with `stdrc eval --face-crop`",
    )
    train.add_argument(
        "--face-cutout",
        action="store_true",
        help="toy preset: condition on the person alone (the renderer's mask, as a face parser would give) on a "
        "plain random colour, cut to the square around the face: no place, scale or background left to copy; "
        "evaluate such a model with `stdrc eval --face-cutout`",
    )
    train.add_argument("--ckpt-every", type=int, default=200, help="steps between checkpoints in RUNS/ckpt (0: off)")
    train.add_argument("--no-resume", action="store_true", help="start over even if RUNS/ckpt has a checkpoint")
    train.add_argument("--from-scratch", action="store_true", help="also retrain the VAE and the readout")
    train.add_argument("--out", default=str(Path("data") / "toy"), help="weights folder (default: data/toy)")
    train.add_argument("--runs", default=str(Path("runs") / "toy"), help="logs and sample grids (default: runs/toy)")
    full = train.add_argument_group("--preset full (LoRA fine-tuning on your videos; docs/GPU.md)")
    full.add_argument("--model", help="diffusers-format ST-DRC pipeline folder, e.g. models/LTX-2.3-Diffusers")
    full.add_argument("--data", help="folder of videos with captions (<name>.txt or captions.jsonl)")
    full.add_argument("--frames", type=int, default=121, help="frames per clip, k·T+1 (default: 121)")
    full.add_argument("--height", type=int, default=512)
    full.add_argument("--width", type=int, default=768)
    full.add_argument("--lora-rank", type=int, default=32)
    full.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="bf16")
    full.add_argument("--no-detect-face", action="store_true", help="no face detection: re-layout the whole frame")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "eval",
        help="score the toy model on held-out identities × prompts (identity, copy-paste, text, consistency)",
        description="Generates clips for held-out identities and prompt combinations with evaluation-mode "
        "references and scores them with the SynthFaces readout, next to three reference rows: no reference, "
        "ground truth, and pasting the reference.",
    )
    ev.add_argument("--weights", default=str(Path("data") / "toy"), help="toy weights folder (default: data/toy)")
    ev.add_argument("--n", type=int, default=200, help="held-out clips (default: 200)")
    ev.add_argument("--batch", type=int, default=8)
    ev.add_argument("--steps", type=int, default=20)
    ev.add_argument("--s-ref", type=float, default=2.0)
    ev.add_argument("--s-txt", type=float, default=3.0)
    ev.add_argument("--order", choices=ORDERS, default="ref_first")
    ev.add_argument("--guidance-rescale", type=float, default=0.0, help=RESCALE_HELP)
    ev.add_argument("--scheme", choices=SCHEMES, default="tass")
    ev.add_argument("--seed", type=int, default=0)
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
        help="condition on a square cut around the reference's face (models trained with `stdrc train --face-crop`); "
        "without either flag, references are prepared as the weights' manifest says they were trained",
    )
    prep.add_argument(
        "--face-cutout",
        action="store_true",
        help="condition on the person alone on mid grey, cut to the square around the face (models trained with "
        "`stdrc train --face-cutout`)",
    )
    ev.add_argument(
        "--ref-light",
        choices=REF_LIGHTS,
        default="prompt",
        help="prompt: re-light each reference to the light its prompt names before it is prepared, its own light "
        "estimated by the readout (default, as `stdrc demo` does); as-is: the reference in its own light (results "
        "before session 10)",
    )
    ev.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="which rows to score (default: all)")
    ev.add_argument("--out", default=str(Path("runs") / "eval"), help="results folder (default: runs/eval)")
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, TypeError, OSError) as e:
        print(f"stdrc {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
