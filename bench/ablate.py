"""The ablation study of the [ablation] issue: variants trained with identical budgets, then scored.

Usage:
    python bench/ablate.py                       # everything not yet done, in order (resumable)
    python bench/ablate.py --only guidance       # just the (s_txt, s_ref) grid on the shipped model
    python bench/ablate.py --only guidance_clipref  # the same grid with a frame of the clip as reference
    python bench/ablate.py --only tass_s0 shared_s0
    python bench/ablate.py --list
    python bench/ablate.py --denoising           # add the one-step denoising probe to finished variants
    # two workers side by side on a 2-core machine (disjoint lists, one thread each):
    python bench/ablate.py --threads 1 --only tass_s0 shared_s0 ... &

Every variant trains the toy transformer + text encoder from scratch for --steps steps (same data
seed, same VAE, same budget) with checkpoints every 100 steps in runs/ablation/<variant>/ckpt, so a
killed run continues where it stopped. It is then scored by ``stdrc eval``'s code on --clips held-out
clips with evaluation-mode references, with and without the reference, and by the one-step denoising probe
(``stdrc_lib.toy.evaluate.denoising_identity`` at σ = 0.7 and 0.9: does the reference add identity where the
noise hides it, paired on the same clips and noise; more sensitive than reading blurry samples). Results go to
docs/ablation/<variant>.json (committed); a finished variant is skipped on the next run.

The guidance study scores the shipped model (data/toy) over a grid of (s_txt, s_ref), both orders, with
evaluation-mode references and again with a frame of the clip as reference; it runs last. Results scored
with the first (single-stage) readout are kept in docs/ablation/v1_first_readout/.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from stdrc_lib.core import guidance as G
from stdrc_lib.core import positions as P
from stdrc_lib.core.io import atomic_write
from stdrc_lib.prep.augment import NO_AUGMENT, AugmentConfig
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.evaluate import denoising_identity, evaluate
from stdrc_lib.toy.readout import Readout, ToyFaceEmbedder
from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "ablation"
RUNS = ROOT / "runs" / "ablation"
LAMBDA_ID = 0.5

# name → (scheme, augmentation on, identity loss on, seed, isolated reference); run in this order. These variants
# were run when the library's `tass` and `temporal` put the reference before frame 0 (now `tass_pre` and
# `temporal_pre`); their names keep the old words.
VARIANTS = {
    "tass_s0": ("tass_pre", True, True, 0, False),
    "tass_iso_s0": ("tass_pre", True, True, 0, True),  # beyond the paper: reference in its own pass, K/V-cacheable
    "shared_s0": ("shared", True, True, 0, False),
    "tass_noaug_s0": ("tass_pre", False, True, 0, False),
    "tass_noid_s0": ("tass_pre", True, False, 0, False),
    "temporal_s0": ("temporal_pre", True, True, 0, False),
    "spatial_s0": ("spatial", True, True, 0, False),
    "nope_s0": ("nope", True, True, 0, False),
    "shared_noaug_s0": ("shared", False, True, 0, False),
    "tass_s1": ("tass_pre", True, True, 1, False),
    "shared_s1": ("shared", True, True, 1, False),
    "tass_s2": ("tass_pre", True, True, 2, False),
    "shared_s2": ("shared", True, True, 2, False),
    "tass_xref_s0": ("tass_pre", True, True, 0, False),  # beyond the paper: see CROSS_REF
    "tass_relayout30_s0": ("tass_pre", True, True, 0, False),  # beyond the paper: see AUGMENT
    "tass_relight_s0": ("tass_pre", True, True, 0, False),  # beyond the paper: see RELIGHT
    "tass_crop_s0": ("tass_pre", True, True, 0, False),  # beyond the paper: see FACE_CROP
    "tass_cutout_s0": ("tass_pre", True, True, 0, False),  # beyond the paper: see FACE_CUTOUT
}
# variants beyond the paper's recipe: name → p_cross_ref (share of references rendered in another context)
CROSS_REF = {"tass_xref_s0": 0.5}
# variants with a weaker augmentation than the default: a dose between `tass_noaug_s0` (copies its reference,
# identity 0.62) and `tass_s0` (copies nothing, identity at chance), to see whether any dose keeps both
AUGMENT = {"tass_relayout30_s0": AugmentConfig(p_relayout=0.3)}
# variants whose clip-frame references are re-lit by another of the world's lights on this share of steps:
# evaluation references are always lit differently from the clip, training references never are
RELIGHT = {"tass_relight_s0": 0.5}
# variants conditioned on a square cut around the reference's face (reference.crop_face), in training and in
# evaluation: the crop removes the place, the scale and most of the background that evaluation references change
FACE_CROP = {"tass_crop_s0"}
# variants conditioned on the person alone on a plain colour, cut to that square (reference.cutout_face, the mask
# being the renderer's): the crop without the background left around the hair, which `tass_crop_s0` pasted
FACE_CUTOUT = {"tass_cutout_s0"}
GRID_S_REF = (1.0, 2.0, 4.0)
GRID_S_TXT = (1.0, 3.0, 5.0)


def _summary(rep: dict) -> dict:
    return {row: {k: [round(v["mean"], 4), round(v["ci95"], 4)] for k, v in m.items()} for row, m in rep.items()}


def _write(name: str, payload: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write(RESULTS / f"{name}.json", lambda p: p.write_text(json.dumps(payload, indent=1)))


GRIDS = {"guidance": "eval", "guidance_clipref": "clip"}  # results name → reference mode


def run_guidance(args, readout, name: str = "guidance") -> None:
    """The (s_txt, s_ref) grid, both orders, with evaluation-mode references (``guidance``) or with a frame
    of the clip as reference (``guidance_clipref``: the one setting where the shipped model does take
    identity from its reference, so ``s_ref`` has something to amplify). Finished cells are kept in
    runs/ablation/<name>_cells.json, so a killed run continues with the next cell; the results file is
    written when the grid is complete."""
    b = TW.load_toy()
    ref_mode = GRIDS[name]
    partial = RUNS / f"{name}_cells.json"
    key = {"clips": args.grid_clips, "steps": args.sample_steps, "ref_mode": ref_mode}
    done = json.loads(partial.read_text()) if partial.is_file() else {**key, "cells": [], "minutes": 0.0}
    if {k: done.get(k) for k in key} != key:  # cells scored with other settings are not mixed in
        done = {**key, "cells": [], "minutes": 0.0}
    have = {(c["order"], c["s_ref"], c["s_txt"]) for c in done["cells"]}
    for order in G.ORDERS:
        for s_ref in GRID_S_REF:
            for s_txt in GRID_S_TXT:
                if (order, s_ref, s_txt) in have:
                    continue
                t0 = time.time()
                rep = evaluate(
                    b, readout, n=args.grid_clips, batch=8, steps=args.sample_steps,
                    guidance=G.GuidanceConfig(s_ref, s_txt, order), rows=("model",), progress=False,
                    ref_mode=ref_mode,
                )  # fmt: skip
                cell = {"order": order, "s_ref": s_ref, "s_txt": s_txt, **_summary(rep["results"])["model"]}
                done["cells"].append(cell)
                done["minutes"] += (time.time() - t0) / 60
                RUNS.mkdir(parents=True, exist_ok=True)
                atomic_write(partial, lambda p: p.write_text(json.dumps(done, indent=1)))
                print(f"{name} {order} s_ref={s_ref} s_txt={s_txt}: "
                      f"identity {cell['identity_accuracy'][0]:.3f} text {cell['text_adherence'][0]:.3f}",
                      flush=True)  # fmt: skip
    _write(name, done)


def _clip_cache(vae, n_clips: int, seed: int, cross_reference: bool = False):
    """Encoded training clips for one data seed, kept on disk so that parallel workers and later sessions
    encode each seed once (the VAE encode is deterministic, so a reloaded cache equals a rebuilt one)."""
    from dataclasses import fields

    from stdrc_lib.toy.train import ToyClipCache as ClipCache

    path = RUNS / f"clip_cache_seed{seed}_n{n_clips}{'_xref' if cross_reference else ''}.pt"
    if path.is_file():
        cache = ClipCache(**torch.load(path, weights_only=True))
        if cache.ref_masks is not None:
            return cache
        # written before caches held reference masks: render them (the same items, so the same masks)
        from stdrc_lib.toy.dataset import SynthFaces

        ds = SynthFaces("train", n_clips, seed=seed, cross_reference=cross_reference)
        items = [ds[i] for i in range(n_clips)]
        cache.ref_masks = torch.stack([it["ref_mask"] for it in items]).to(torch.float16)
        if cross_reference:
            cache.cross_ref_masks = torch.stack([it["cross_ref_mask"] for it in items]).to(torch.float16)
    else:
        cache = build_cache(vae, n_clips, seed, cross_reference=cross_reference)
    atomic_write(path, lambda p: torch.save({f.name: getattr(cache, f.name) for f in fields(cache)}, p))
    return cache


def run_variant(name: str, args, readout, caches: dict) -> None:
    scheme, aug, ident, seed, isolated = VARIANTS[name]
    p_cross = CROSS_REF.get(name, 0.0)
    from diffusers import AutoencoderKLLTX2Video

    cfg = ToyTrainConfig(
        steps=args.steps,
        batch=16,
        seed=seed,
        scheme=scheme,
        n_clips=args.train_clips,
        augment=AUGMENT.get(name, AugmentConfig()) if aug else NO_AUGMENT,
        lambda_id=LAMBDA_ID if ident else 0.0,
        sample_every=0,
        ckpt_every=100,
        isolated_reference=isolated,
        p_cross_ref=p_cross,
        p_relight=RELIGHT.get(name, 0.0),
        face_crop=name in FACE_CROP,
        face_cutout=name in FACE_CUTOUT,
    )
    b = TW.build_toy(seed)
    b.vae = AutoencoderKLLTX2Video.from_pretrained(TW.TOY_DIR / "vae", local_files_only=True).eval()
    key = (seed, p_cross > 0)
    if key not in caches:
        caches[key] = _clip_cache(b.vae, cfg.n_clips, seed, cross_reference=p_cross > 0)
    log = train_toy(
        b,
        cfg,
        cache=caches[key],
        embedder=ToyFaceEmbedder(readout) if ident else None,
        ckpt_dir=RUNS / name / "ckpt",
        out=RUNS / name,
    )
    t0 = time.time()
    rep = evaluate(
        b, readout, n=args.clips, batch=8, steps=args.sample_steps,
        positions=P.PositionConfig(scheme=scheme, fps=b.fps), rows=("model", "no_reference"), progress=False,
        isolated_reference=isolated, face_crop=name in FACE_CROP, face_cutout=name in FACE_CUTOUT,
    )  # fmt: skip
    _write(
        name,
        {
            "variant": name,
            "scheme": scheme,
            "augmentation": aug,
            "identity_loss": ident,
            "seed": seed,
            "isolated_reference": isolated,
            "p_cross_ref": p_cross,
            "train_config": asdict(cfg),
            "train_minutes": log["train_minutes"],
            "final_loss_last_100": sum(log["losses"][-100:]) / len(log["losses"][-100:]),
            "eval_minutes": (time.time() - t0) / 60,
            "clips": args.clips,
            "results": _summary(rep["results"]),
        },
    )
    print(f"{name}: {json.dumps(_summary(rep['results'])['model'])}", flush=True)
    add_denoising(name, args, readout, b)


DENOISING_SIGMAS = (0.7, 0.9)  # where identity is decided (docs/img/denoising_by_sigma.png)


def add_denoising(name: str, args, readout, b=None) -> None:
    """Add the one-step denoising identity probe (paired reference gains at σ = 0.7, 0.9) to a finished
    variant's JSON; with ``b`` None the variant's final checkpoint is loaded."""
    path = RESULTS / f"{name}.json"
    data = json.loads(path.read_text())
    if "denoising" in data:
        return
    scheme, _, _, _, isolated = VARIANTS[name]
    if b is None:
        from stdrc_lib.train.checkpoint import latest_checkpoint, load_checkpoint

        ckpt = latest_checkpoint(RUNS / name / "ckpt")
        if ckpt is None:
            print(f"{name}: no checkpoint in {RUNS / name / 'ckpt'}, cannot add the denoising probe")
            return
        b = TW.load_toy()
        load_checkpoint(ckpt, {"transformer": b.transformer, "text_encoder": b.text_encoder})
    b.transformer.eval()
    b.text_encoder.eval()
    t0 = time.time()
    rep = denoising_identity(
        b, readout, n=args.clips, sigmas=DENOISING_SIGMAS,
        positions=P.PositionConfig(scheme=scheme, fps=b.fps), isolated_reference=isolated,
        face_crop=name in FACE_CROP, face_cutout=name in FACE_CUTOUT,
    )  # fmt: skip
    rnd = lambda r: [round(r["mean"], 4), round(r["ci95"], 4)]  # noqa: E731
    data["denoising"] = {
        "sigmas": rep["sigmas"],
        "clips": rep["clips"],
        "minutes": (time.time() - t0) / 60,
        "accuracy": {c: [rnd(r) for r in rows] for c, rows in rep["accuracy"].items()},
        "gain": {c: [rnd(r) for r in rows] for c, rows in rep["gain"].items()},
    }
    _write(name, data)
    print(f"{name}: denoising gain {json.dumps(data['denoising']['gain'])}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="variant names and/or the grids 'guidance', 'guidance_clipref'")
    ap.add_argument("--steps", type=int, default=800, help="training steps per variant (default 800)")
    ap.add_argument("--train-clips", type=int, default=3000)
    ap.add_argument("--clips", type=int, default=64, help="held-out clips per variant (default 64)")
    ap.add_argument("--grid-clips", type=int, default=32, help="held-out clips per guidance cell (default 32)")
    ap.add_argument("--sample-steps", type=int, default=12)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); use 1 per worker "
        "when running two workers side by side with disjoint --only lists",
    )
    ap.add_argument(
        "--denoising",
        action="store_true",
        help="only add the one-step denoising probe to finished variants that lack it (loads their checkpoints)",
    )
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.threads < 0:
        raise SystemExit(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [*VARIANTS, *GRIDS]
    if args.list:
        for n in names:
            print(n, "done" if (RESULTS / f"{n}.json").is_file() else "to do")
        return
    todo = args.only or names
    unknown = sorted(set(todo) - set(names))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {names}")
    torch.manual_seed(0)
    readout = Readout.load(TW.TOY_DIR / "readout")
    caches: dict = {}
    if args.denoising:
        for name in [n for n in todo if n in VARIANTS and (RESULTS / f"{n}.json").is_file()]:
            add_denoising(name, args, readout)
        return
    for name in todo:
        if (RESULTS / f"{name}.json").is_file():
            print(f"{name}: done, skipping")
            continue
        print(f"=== {name}", flush=True)
        run_guidance(args, readout, name) if name in GRIDS else run_variant(name, args, readout, caches)


if __name__ == "__main__":
    main()
