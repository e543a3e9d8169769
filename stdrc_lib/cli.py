"""``stdrc`` command line: ``stdrc demo`` (and, as they land, generate / train / eval)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .guidance import ORDERS
from .positions import SCHEMES


def _add_generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prompt",
        default="a person smiling in a forest moving left",
        help="text prompt (toy vocabulary; unknown words map to <unk>)",
    )
    p.add_argument("--negative-prompt", default="", help="null / negative prompt for the unconditional streams")
    p.add_argument("--steps", type=int, default=20, help="Euler sampling steps (default: 20)")
    p.add_argument("--s-ref", type=float, default=2.0, help="reference guidance scale s_ref (default: 2.0)")
    p.add_argument("--s-txt", type=float, default=3.0, help="text guidance scale s_txt (default: 3.0)")
    p.add_argument("--order", choices=ORDERS, default="ref_first", help="guidance stream order")
    p.add_argument("--scheme", choices=SCHEMES, default="tass", help="reference position scheme (default: tass)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise (default: 0)")
    p.add_argument("--frames", type=int, default=17, help="clip length in frames, k·4+1 for the toy VAE")


def cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from . import backbone as bb
    from . import guidance as G
    from . import positions as P
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
    ref = sample_reference(args.ref_seed)
    out = S.generate(
        backbone,
        args.prompt,
        ref,
        negative_prompt=args.negative_prompt,
        num_frames=args.frames,
        num_steps=args.steps,
        guidance=G.GuidanceConfig(args.s_ref, args.s_txt, args.order),
        positions=P.PositionConfig(scheme=args.scheme, fps=backbone.fps),
        generator=torch.Generator().manual_seed(args.seed),
    )
    out_dir = Path(args.out)
    video = viz.write_video(out_dir / "demo.mp4", out.frames[0], fps=backbone.fps / 3)
    sheet = viz.contact_sheet([ref, out.frames[0]], labels=["reference", "generated"], upscale=2)
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
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"stdrc {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
