"""The ``stdrc`` commands; :mod:`stdrc_lib.cli` builds their parser."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from .. import viz
from ..core import positions as P
from ..core.reference import latent_grid
from ..outputs import check_outputs, provenance, record_path, weight_hashes, write_record
from ..pipeline import STDRCPipeline
from ..prep.augment import NO_AUGMENT
from ..toy import weights as TW
from ..toy.demo import demo_clip
from ..toy.evaluate import EVAL_FILES, evaluate, format_table, save_results
from ..toy.readout import Readout
from ..train.finetune import finetune
from ..train.trainer import TrainConfig
from . import guidance_from

DEMO_FILES = ("demo.mp4", "demo_contact_sheet.png", "demo_reference.png")


def _scheme(args) -> dict:
    """``--scheme`` when given; otherwise nothing, so the model's own scheme applies."""
    return {} if args.scheme is None else {"scheme": args.scheme}


def _provenance(backbone, args: argparse.Namespace) -> dict:
    """The record of a run on ``backbone``: its weights' and its adapter's sha256, the command, the arguments."""
    weights = backbone.source if backbone.trained else None
    adapter = backbone.extra.get("adapter")
    extra = {"adapter": adapter, "adapter_sha256": weight_hashes(adapter)} if adapter else {}
    return provenance(weights, args.command_line, arguments=vars(args), **extra)


def cmd_demo(args: argparse.Namespace) -> int:
    t0 = time.time()
    out_dir = Path(args.out)
    check_outputs([out_dir / f for f in DEMO_FILES], out_dir / "demo.json", args.overwrite)
    names = ("`--frames` (num_frames)", "height", "width")
    latent_grid(args.frames, TW.TOY_SIZE, TW.TOY_SIZE, (TW.TOY_T, TW.TOY_S), names)  # before any weights load
    backbone = TW.toy_backbone(random=args.random_weights, seed=args.seed)
    if backbone.trained:
        print(f"[stdrc] base model from {backbone.source}, ST-DRC adapter from {backbone.extra['adapter']}")
    else:
        print(
            "[stdrc] NOTE: --random-weights: the clip will be noise-like. It still exercises the full ST-DRC "
            "path (VAE reference tokens, TASS-RoPE, three-stream guidance, Euler sampler, decode)."
        )
    clip = demo_clip(
        backbone,
        args.prompt,
        args.ref_seed,
        guidance_from(args),
        backbone.positions(**_scheme(args)),
        args.steps,
        args.frames,
        args.negative_prompt,
        args.seed,
    )
    video = viz.write_video(out_dir / "demo.mp4", clip.frames[0], fps=backbone.fps / 3)
    rows, labels = [clip.reference, clip.frames[0]], ["reference", "generated"]
    png = viz.save_image(out_dir / "demo_contact_sheet.png", viz.contact_sheet(rows, labels=labels, upscale=2))
    viz.save_image(out_dir / "demo_reference.png", clip.reference)
    write_record(out_dir / "demo.json", _provenance(backbone, args))
    print(
        f"[stdrc] prompt: {args.prompt!r}; scheme={args.scheme or backbone.scheme}, s_ref={args.s_ref}, "
        f"s_txt={args.s_txt}, {args.steps} steps"
    )
    print(f"[stdrc] wrote {video} ({clip.frames.shape[1]} frames, {clip.frames.shape[2]}×{clip.frames.shape[3]})")
    print(f"[stdrc] wrote {png}")
    print(f"[stdrc] done in {time.time() - t0:.1f} s")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    _check_sizes(args)
    out_path = check_outputs([args.out], record_path(args.out), args.overwrite, suffixes=viz.VIDEO_SUFFIXES)[0]
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
    if args.quantize != "none":
        from ..train.lowmem import quantize_frozen

        quantize_frozen(pipe.transformer, args.quantize)
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
        guidance=guidance_from(args),
        positions=P.PositionConfig(fps=args.fps, **_scheme(args)),
        generator=torch.Generator().manual_seed(args.seed),
        output_type="np",
        detect_face=args.detect_face,
    )
    clip = viz.to_uint8(out.frames[0])  # (F, H, W, 3)
    path = viz.write_video(out_path, clip, fps=args.fps, upscale=args.upscale)
    write_record(record_path(path), provenance(args.model, args.command_line, arguments=vars(args)))
    print(f"[stdrc] wrote {path} ({clip.shape[0]} frames, {clip.shape[1]}×{clip.shape[2]}) in {time.time() - t0:.1f} s")
    return 0


def _check_sizes(args: argparse.Namespace) -> None:
    """What can be checked before the weights load (the k·T+1 rule needs the VAE, so the pipeline checks it)."""
    for flag in ("steps", "frames", "height", "width", "upscale"):
        v = getattr(args, flag, None)
        if v is not None and v < 1:
            raise ValueError(f"`--{flag}` must be a positive integer, got {v}.")
    if not args.fps > 0:
        raise ValueError(f"`--fps` must be > 0, got {args.fps}.")


TOY_ONLY = ("p_cross_ref", "p_relight", "base", "clips")


def _trainer_options(args: argparse.Namespace, defaults: dict) -> dict:
    """The :class:`TrainConfig` fields both presets take from the same flags; ``defaults`` fills the flags left
    unset, whose defaults differ by preset."""
    given = dict(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        warmup=args.warmup,
        seed=args.seed,
        scheme=args.scheme,
        lambda_id=args.lambda_id,
        sigma_id=args.sigma_id,
        sigma_mean=args.sigma_mean,
        lora_rank=args.lora_rank,
        gradient_checkpointing=args.gradient_checkpointing,
        optimizer=args.optimizer,
        quantize_base=args.quantize_base,
        ckpt_every=args.ckpt_every,
    )
    opts = {k: v for k, v in given.items() if v is not None}
    for k, v in defaults.items():
        opts.setdefault(k, v)
    if args.no_augment:
        opts["augment"] = NO_AUGMENT
    return opts


def cmd_train(args: argparse.Namespace) -> int:
    if args.preset == "full":
        return _train_full(args)
    from ..toy.adapter import AdapterConfig, train_adapter

    out = Path(args.out or Path("runs") / "toy" / "adapter")
    check_outputs([out / "manifest.json"], out / "manifest.json", args.overwrite)
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file() and not args.overwrite:
        raise FileExistsError(
            f"`--out` {str(out)!r} holds files stdrc did not write (no manifest.json); choose an empty or new "
            "folder, or pass --overwrite."
        )
    toy = {k: getattr(args, k) for k in ("p_cross_ref", "p_relight") if getattr(args, k) is not None}
    if args.clips is not None:
        toy["n_clips"] = args.clips
    cfg = AdapterConfig(**_trainer_options(args, {}), **toy)
    base = Path(args.base) if args.base else TW.BASE_DIR
    record = train_adapter(base, cfg, out, Path(args.runs), resume=not args.no_resume)
    t = record["training"]
    kind = f"a rank-{cfg.lora_rank} LoRA" if cfg.lora_rank else "the whole transformer"
    spent = (
        f"{t['train_minutes']:.1f} min"
        if t["train_minutes"] is not None
        else f"{t['run_minutes']:.1f} min after resuming"
    )
    print(
        f"[stdrc] fine-tuned {kind} of {base} for {cfg.steps} steps in {spent} "
        f"({t['sec_per_step']:.2f} s/step, {t['cache_minutes']:.1f} min to render and encode {cfg.n_clips} clips); "
        f"written to {out}"
    )
    return 0


def _train_full(args: argparse.Namespace) -> int:
    for flag in TOY_ONLY:
        if getattr(args, flag) is not None:
            print(
                f"stdrc train --preset full: error: --{flag.replace('_', '-')} belongs to the toy preset "
                "(SynthFaces); the full preset trains on --data.",
                file=sys.stderr,
            )
            return 2
    missing = [f"--{k}" for k in ("model", "data") if not getattr(args, k)]
    if missing:
        print(f"stdrc train --preset full: error: {' and '.join(missing)} required (see docs/GPU.md).", file=sys.stderr)
        return 2
    defaults = dict(steps=2500, batch=16, lambda_id=0.0, lora_rank=32, sample_every=0)
    cfg = TrainConfig(**_trainer_options(args, defaults))
    if args.warmup is None:
        cfg.warmup = min(200, max(1, cfg.steps // 10))
    # finetune() refuses lambda_id > 0 with a message: not wired for real faces
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    out = args.out or str(Path("runs") / "lora")
    check_outputs([Path(out) / "pytorch_lora_weights.safetensors"], Path(out) / "finetune.json", args.overwrite)
    info = finetune(
        args.model, args.data, out, cfg, args.frames, args.height, args.width, dtype, not args.no_detect_face
    )
    print(f"[stdrc] LoRA fine-tuned on {info['clips']} clips in {info['minutes']:.1f} min; adapter in {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_outputs([out / f for f in EVAL_FILES], out / "eval.json", args.overwrite)
    if args.weights is None:  # the shipped model: the base, with the shipped adapter unless told otherwise
        args.weights = str(TW.BASE_DIR)
        args.adapter = args.adapter or str(TW.ADAPTER_DIR)
    adapter = None if args.adapter is None or args.adapter.lower() == "none" else Path(args.adapter)
    if adapter is not None and not ((adapter / TW.LORA_FILE).is_file() or (adapter / "transformer").is_dir()):
        raise FileNotFoundError(
            f"`--adapter` {str(adapter)!r} holds no {TW.LORA_FILE} (nor a fine-tuned transformer/); give a folder "
            "`stdrc train` wrote, or `--adapter none` to score the base model alone."
        )
    backbone = TW.load_toy(args.weights)
    if adapter is not None:
        from ..toy.adapter import load_adapter

        load_adapter(backbone, adapter)
    readout = Readout.load(TW.scorer_dir(args.weights))
    print(f"[stdrc] scoring with the readout in {TW.scorer_dir(args.weights)}")
    if not (args.face_crop or args.face_cutout):  # prepare references the way the model was trained
        prep = backbone.extra.get("reference_prep", "whole")
        args.face_crop, args.face_cutout = prep == "crop", prep == "cutout"
        if prep != "whole":
            print(f"[stdrc] {args.weights} was trained on face {prep} references; evaluating with them")
    if args.face_crop or args.face_cutout or args.ref_light == "prompt":
        print("[stdrc] the references are prepared with the renderer's ground truth: an upper bound, not a result")
    report = evaluate(
        backbone,
        readout,
        n=args.n,
        seed=args.seed,
        batch=args.batch,
        steps=args.steps,
        guidance=guidance_from(args),
        positions=backbone.positions(**_scheme(args)),
        rows=tuple(args.rows),
        ref_mode=args.ref_mode,
        face_crop=args.face_crop,
        face_cutout=args.face_cutout,
        ref_light=args.ref_light,
    )
    save_results(report, out, _provenance(backbone, args))
    print(format_table(report["results"]))
    if report["paired"]:
        print("\npaired per clip (same clips and noise):\n" + format_table(report["paired"]))
    print(
        f"[stdrc] {args.n} held-out clips in {report['minutes']:.1f} min; wrote {args.out}/eval.json, eval.md, "
        "eval_examples.png"
    )
    return 0


def cmd_eval_video(args: argparse.Namespace) -> int:
    from ..prep import faces

    if args.frames < 1:
        raise ValueError(f"`--frames` must be a positive integer, got {args.frames}.")
    for flag in ("video", "reference"):
        if not Path(getattr(args, flag)).is_file():
            raise FileNotFoundError(f"`--{flag}` {getattr(args, flag)} does not exist.")
    if args.out:
        _check_record_out(Path(args.out), args.overwrite)
    try:
        ref = Image.open(args.reference)
        ref.load()
    except OSError as e:
        raise ValueError(f"`--reference` {args.reference} is not a readable image: {e}") from e
    embedder = faces.SFaceEmbedder() if args.embedder == "sface" else faces.InsightFaceEmbedder()
    try:
        frames = viz.read_video(args.video)
    except Exception as e:  # mediapy / ffmpeg say why in their own words
        raise ValueError(f"`--video` {args.video} could not be read as a video: {e}") from e
    res = faces.video_face_similarity(frames, ref, embedder, args.frames)
    score = "no face in any scored frame" if res["face_similarity"] is None else f"{res['face_similarity']:.3f}"
    print(
        f"[stdrc] FaceSim ({res['embedder']}) of {args.video} against {args.reference}: {score} "
        f"({res['frames_scored']} frames scored, {res['frames_without_face']} without a face)"
    )
    if args.out:
        write_record(args.out, {**res, **provenance(None, args.command_line, arguments=vars(args))})
        print(f"[stdrc] wrote {args.out}")
    return 0


def _check_record_out(path: Path, overwrite: bool) -> None:
    """``--out`` for a JSON record: a .json path that is new, or a record stdrc wrote, or ``--overwrite``."""
    if path.suffix.lower() != ".json":
        raise ValueError(f"`--out` must end in .json, got {str(path)!r}.")
    if path.exists() and not overwrite:
        try:
            ours = json.loads(path.read_text()).get("written_by") == "stdrc"
        except (ValueError, AttributeError, OSError):
            ours = False
        if not ours:
            raise FileExistsError(
                f"`--out`: {str(path)!r} exists and was not written by stdrc; choose another path, or pass --overwrite."
            )
