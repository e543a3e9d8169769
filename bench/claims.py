"""Fine-tune and score the variants of docs/ABLATION.md's protocol, then decide its claims.

Usage:
    python bench/claims.py --list                     # what is done
    python bench/claims.py --all                      # the whole study, in order (resumable)
    python bench/claims.py                            # every variant not yet done, seed 0 first (resumable)
    python bench/claims.py --only tass shared --seeds 0
    python bench/claims.py --decide                   # the claims table from the finished scores
    python bench/claims.py --guidance                 # the three-stream guidance grid on the shipped adapter
    python bench/claims.py --guidance lines           # only the grid's cells that the guidance claims need
    python bench/claims.py --attention                # pixel-aligned attention of shared, tass and tass_pre

Every variant fine-tunes the shipped base (``data/toy/base``) with the shipped adapter's recipe
(``stdrc_lib.toy.adapter.AdapterConfig``), changing only what the variant names; checkpoints in
``runs/claims/<variant>_s<seed>``, so a killed run continues. It is then scored by ``stdrc eval``'s code on the
protocol's clips (``--n 256 --seed 1``, rows ``model`` and ``no_reference``) with the base's scoring readout, and
the result, with per-clip values, command, revision and sha256 of base and adapter, goes to
``docs/claims/<variant>_s<seed>.json``. A finished variant is skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "claims"  # stdrc_lib.toy.claims.RESULTS in a checkout
RUNS = ROOT / "runs" / "claims"

# name → (scheme, augmentation on, identity loss on, seeds); the order they run in
VARIANTS = {
    "tass": ("tass", True, True, (0, 1, 2)),
    "shared": ("shared", True, True, (0, 1, 2)),
    "tass_noaug": ("tass", False, True, (0, 1, 2)),
    "tass_noid": ("tass", True, False, (0, 1, 2)),
    "tass_pre": ("tass_pre", True, True, (0,)),
    "temporal": ("temporal", True, True, (0,)),
    "spatial": ("spatial", True, True, (0,)),
    "nope": ("nope", True, True, (0,)),
    "shared_noaug": ("shared", False, True, (0,)),
}
EVAL = dict(n=256, seed=1)  # the protocol's clips


def config(name: str, seed: int):
    from stdrc_lib.prep.augment import NO_AUGMENT, AugmentConfig
    from stdrc_lib.toy.adapter import AdapterConfig

    scheme, aug, id_loss, _ = VARIANTS[name]
    defaults = AdapterConfig()
    return AdapterConfig(
        scheme=scheme,
        augment=AugmentConfig() if aug else NO_AUGMENT,
        lambda_id=defaults.lambda_id if id_loss else 0.0,
        seed=seed,
        data_seed=defaults.seed,  # every variant and seed trains on the shipped adapter's clips
    )


def run_one(name: str, seed: int, base: Path, n: int = EVAL["n"], progress: bool = True) -> Path:
    """Fine-tune (resumably) and score one variant; the results file, or the existing one."""
    from stdrc_lib.outputs import provenance, weight_hashes, write_record
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.adapter import load_adapter, train_adapter
    from stdrc_lib.toy.evaluate import evaluate
    from stdrc_lib.toy.readout import Readout

    out = RESULTS / f"{name}_s{seed}.json"
    if out.is_file():
        return out
    runs = RUNS / f"{name}_s{seed}"
    adapter = runs / "adapter"
    if not (adapter / "manifest.json").is_file():
        train_adapter(base, config(name, seed), adapter, runs, progress=progress)
    backbone = load_adapter(TW.load_toy(base), adapter)
    report = evaluate(backbone, Readout.load(TW.scorer_dir(base)), n=n, seed=EVAL["seed"],
                      rows=("model", "no_reference"), progress=progress)  # fmt: skip
    record = provenance(base, adapter=str(adapter), adapter_sha256=weight_hashes(adapter), variant=name,
                        train_seed=seed)  # fmt: skip
    training = json.loads((adapter / "manifest.json").read_text()).get("training", {})  # its minutes, its loss
    data = {k: v for k, v in report.items() if k != "examples"} | {"training": training, "provenance": record}
    write_record(out, data)
    return out


def guidance_cells(s_ref: float, s_txt: float, lines: bool = False) -> list[tuple[str, float, float]]:
    """Every cell of the guidance grid, the two claims' lines (through the defaults) first, so a run cut short has
    scored what the claims need; with ``lines``, only those."""
    from stdrc_lib.core.config import ORDERS
    from stdrc_lib.toy.claims import guidance_grid

    refs, txts = guidance_grid(s_ref, s_txt)
    grid = [(o, r, t) for o in ORDERS for r in refs for t in txts]
    cells = sorted(grid, key=lambda c: (c[1] != s_ref and c[2] != s_txt, ORDERS.index(c[0]), c[1], c[2]))
    return [c for c in cells if c[1] == s_ref or c[2] == s_txt] if lines else cells


def run_guidance_cell(order: str, s_ref: float, s_txt: float, n: int | None = None, progress: bool = True) -> Path:
    """Score one cell of the grid on the shipped model (base + adapter), or skip it once scored."""
    from stdrc_lib.core.config import GuidanceConfig
    from stdrc_lib.outputs import provenance, weight_hashes, write_record
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.claims import GUIDANCE_EVAL, guidance_cell_name
    from stdrc_lib.toy.evaluate import evaluate
    from stdrc_lib.toy.readout import Readout

    out = RESULTS / "guidance" / f"{guidance_cell_name(order, s_ref, s_txt)}.json"
    if out.is_file():
        return out
    backbone = TW.toy_backbone()  # the shipped base with the shipped adapter
    report = evaluate(backbone, Readout.load(TW.scorer_dir(TW.BASE_DIR)), n=n or GUIDANCE_EVAL["n"],
                      seed=GUIDANCE_EVAL["seed"], guidance=GuidanceConfig(s_ref=s_ref, s_txt=s_txt, order=order),
                      rows=("model",), progress=progress)  # fmt: skip
    record = provenance(TW.BASE_DIR, adapter_sha256=weight_hashes(TW.ADAPTER_DIR), cell=[order, s_ref, s_txt])
    write_record(out, {k: v for k, v in report.items() if k != "examples"} | {"provenance": record})
    return out


ATTENTION_VARIANTS = ("shared", "tass", "tass_pre")


def pixel_aligned(base: Path, n: int = 32, steps: int = 20, progress: bool = True, variants=ATTENTION_VARIANTS) -> Path:
    """Pixel-aligned attention of the seed-0 adapters of ``shared``, ``tass`` and ``tass_pre``, each with the
    scheme it was trained with, on the first ``n`` of the protocol's clips, with the same noise for every variant:
    per clip, the mean over layers, heads and frame-0 queries of the share of a query's reference attention on the
    reference token at its own position (conditional stream, last step). Written to ``pixel_aligned.json`` beside
    the scores."""
    import torch
    from tqdm.auto import tqdm

    from stdrc_lib.core import attention
    from stdrc_lib.outputs import provenance, weight_hashes, write_record
    from stdrc_lib.pipeline import generate
    from stdrc_lib.toy import weights as TW

    arms = {v: RUNS / f"{v}_s0" / "adapter" for v in variants}
    missing = [v for v, a in arms.items() if not (a / "manifest.json").is_file()]
    if missing:
        raise SystemExit(f"claims: pixel-aligned attention needs the seed-0 adapters of {missing}; train them first.")
    per_clip, hashes = {}, {}
    for v, adapter in arms.items():
        bb = TW.load_adapter(TW.load_toy(base), adapter)
        items, refs = _clips(bb, n, EVAL["seed"])
        frames = items[0]["video"].shape[1]  # (3, F, H, W)
        grid = bb.latent_grid(frames, *refs.shape[1:3])
        n_video = grid[0] * grid[1] * grid[2]
        ref_grid = (refs.shape[1] // bb.vae_factors[1], refs.shape[2] // bb.vae_factors[1])
        values = []
        for i, it in enumerate(tqdm(items, desc=f"attention {v}", disable=not progress)):
            with attention.capture_attention(bb.transformer, n_video, per_head=True) as store:
                generate(bb, it["prompt"], refs[i], num_frames=frames, num_steps=steps,
                         generator=torch.Generator().manual_seed(i), progress=False)  # fmt: skip
            maps = torch.stack([store.maps[layer][2] for layer in sorted(store.maps)])  # conditional stream
            values.append(float(attention.pixel_aligned_share(maps, grid, ref_grid).mean()))
        per_clip[v] = values
        hashes[v] = weight_hashes(adapter)
    out = RESULTS / "pixel_aligned.json"
    record = provenance(base, adapters_sha256=hashes, clips=n, steps=steps)
    write_record(out, {"per_clip": per_clip, "provenance": record})
    return out


def _clips(backbone, n: int, seed: int):
    """The first ``n`` held-out clips of ``seed`` in the model's world, and their references as the model sees them
    (uint8, ``(n, H, W, 3)``)."""
    from stdrc_lib.core.reference import to_uint8
    from stdrc_lib.toy.dataset import SynthFaces
    from stdrc_lib.toy.evaluate import references_for

    items = [SynthFaces("eval", n, seed=seed, look=backbone.extra["look"])[i] for i in range(n)]
    return items, to_uint8(references_for(backbone, items).permute(0, 2, 3, 1)).numpy()


def _sheet(key: str, samples, steps: int, weights: dict) -> Path:
    """Sample each ``(label, backbone, prompt, reference, guidance, noise seed)`` and draw one row per sample: the
    reference, then frames 0, 4, 8, 12 and 16. Written beside the scores as ``<key>.png``, with ``<key>.png.json``
    naming the command, revision and ``weights`` (name → folder) with their sha256."""
    import numpy as np
    import torch

    from stdrc_lib import viz
    from stdrc_lib.outputs import provenance, record_path, weight_hashes, write_record
    from stdrc_lib.pipeline import generate

    rows, labels = [], []
    for label, bb, prompt, ref, guidance, seed in samples:
        noise = torch.Generator().manual_seed(seed)
        out = generate(bb, prompt, ref, num_steps=steps, guidance=guidance, generator=noise, progress=False)
        rows.append(np.concatenate([ref[None], out.frames[0].numpy()[::4]]))
        labels.append(label)
    path = RESULTS / f"{key}.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    viz.save_image(path, viz.contact_sheet(rows, labels, upscale=2))
    hashes = {name: {"folder": str(folder), "sha256": weight_hashes(folder)} for name, folder in weights.items()}
    write_record(record_path(path), provenance(None, models=hashes, steps=steps, rows=labels))
    return path


def claim_pictures(base: Path, n: int = 4, steps: int = 20) -> list[Path]:
    """One picture per primary claim: the two arms (seed 0) on the same ``n`` held-out clips and noise, the reference
    first, then frames 0, 4, 8, 12 and 16 of each arm's clip. Written beside the scores as ``<claim>.png``."""
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.claims import PRIMARY

    written = []
    for claim in PRIMARY:
        arms = [RUNS / f"{v}_s0" / "adapter" for v in (claim.a, claim.b)]
        if not all((a / "manifest.json").is_file() for a in arms):
            print(f"[claims] {claim.key}: no picture drawn; it needs the seed-0 adapters in {arms[0].parent} and "
                  f"{arms[1].parent} (`--only {claim.a} {claim.b} --seeds 0` fine-tunes them again)")
            continue
        models = [TW.load_adapter(TW.load_toy(base), a) for a in arms]
        items, refs = _clips(models[0], n, EVAL["seed"])
        samples = [(f"{name}: {it['prompt'][9:45]}", m, it["prompt"], refs[i], None, i)
                   for i, it in enumerate(items) for name, m in zip((claim.a, claim.b), models)]  # fmt: skip
        weights = {"base": base, claim.a: arms[0], claim.b: arms[1]}
        written.append(_sheet(claim.key, samples, steps, weights))
    return written


def guidance_pictures(n: int = 3, steps: int = 20) -> list[Path]:
    """One picture per guidance claim on the shipped model: the first ``n`` of the grid's clips, each sampled with
    the same noise at every value of one scale (the other at its default), the reference first, then frames 0, 4,
    8, 12 and 16. Written beside the scores as ``G1.png`` (along ``s_ref``) and ``G2.png`` (along ``s_txt``)."""
    from stdrc_lib.core.config import GuidanceConfig
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.claims import GUIDANCE_EVAL, guidance_grid

    bb = TW.toy_backbone()
    d = GuidanceConfig()
    refs_grid, txts_grid = guidance_grid(d.s_ref, d.s_txt)
    items, refs = _clips(bb, n, GUIDANCE_EVAL["seed"])
    along = {
        "G1": [(f"s_ref {v:g}", GuidanceConfig(s_ref=v, s_txt=d.s_txt)) for v in refs_grid],
        "G2": [(f"s_txt {v:g}", GuidanceConfig(s_ref=d.s_ref, s_txt=v)) for v in txts_grid],
    }
    return [
        _sheet(
            key,
            [
                (f"{label}: {it['prompt'][9:45]}", bb, it["prompt"], refs[i], g, i)
                for i, it in enumerate(items)
                for label, g in scales
            ],
            steps,
            {"base": TW.BASE_DIR, "adapter": TW.ADAPTER_DIR},
        )  # fmt: skip
        for key, scales in along.items()
    ]


def load_scores(folder: Path | None = None) -> dict:
    from stdrc_lib.toy.claims import load_scores as load

    return load(folder or RESULTS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=list(VARIANTS), help="just these variants")
    ap.add_argument("--seeds", nargs="+", type=int, help="just these seeds (of those each variant has)")
    ap.add_argument("--list", action="store_true", help="show what is finished and stop")
    ap.add_argument(
        "--all",
        action="store_true",
        help="the whole study, resumable: every variant, then the guidance grid, the pixel-aligned attention (if not "
        "measured yet) and the pictures",
    )
    ap.add_argument("--decide", action="store_true", help="print the claims table from the finished scores")
    ap.add_argument(
        "--pictures",
        action="store_true",
        help="draw one picture per claim: the primary claims' seed-0 adapters, the guidance scales on the shipped one",
    )
    ap.add_argument(
        "--guidance",
        nargs="?",
        const="grid",
        choices=["lines", "grid"],
        help="score the guidance grid on the shipped adapter (resumable); `lines`: only the cells the two guidance "
        "claims need (each scale varied through the other's default, both orders)",
    )
    ap.add_argument(
        "--attention", action="store_true", help="pixel-aligned attention of the shared, tass and tass_pre adapters"
    )
    ap.add_argument("--base", type=Path, default=None, help="base model folder (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    todo = [(v, s) for v in (args.only or VARIANTS) for s in VARIANTS[v][3] if not args.seeds or s in args.seeds]
    todo.sort(key=lambda vs: vs[1])  # seed 0 of every variant first: a study cut short still has one of each
    if args.list:
        for v, s in todo:
            print(f"{v}_s{s}: {'done' if (RESULTS / f'{v}_s{s}.json').is_file() else 'to do'}")
        return 0
    if args.decide:
        from stdrc_lib.toy import claims as CL

        state = CL.decide(RESULTS)
        if state["primary"] is None:
            todo = sorted(r for runs in state["missing"].values() for r in runs)
            raise SystemExit(f"claims: not every primary contrast is scored yet (to do: {', '.join(todo)}); see --list")
        print(CL.claims_table(state["primary"]))
        print("\n" + CL.POST_HOC_CAPTION + "\n")
        print(CL.secondary_table(state["post_hoc"]))
        print("\nExploratory (one seed, no multiplicity control):\n")
        print(CL.secondary_table(state["secondary"]))
        if state["guidance"]:
            print("\nThree-stream guidance:\n")
            print(CL.guidance_table(state["guidance"]))
        return 0
    import torch

    from stdrc_lib.toy import weights as TW

    if args.threads:
        torch.set_num_threads(args.threads)
    base = args.base or TW.BASE_DIR
    if not (base / "transformer").is_dir():
        raise SystemExit(f"claims: no base model in {base}; build it with `python -m stdrc_lib.toy.base`.")
    if args.all or not (args.guidance or args.attention or args.pictures):
        for v, s in todo:
            print(f"[claims] {v}_s{s}: {run_one(v, s, base)}")
    if args.all or args.guidance:
        from stdrc_lib.core.config import GuidanceConfig

        d = GuidanceConfig()
        for cell in guidance_cells(d.s_ref, d.s_txt, lines=args.guidance == "lines"):
            print(f"[claims] guidance {cell}: {run_guidance_cell(*cell)}")
    if args.attention or (args.all and not (RESULTS / "pixel_aligned.json").is_file()):
        print(f"[claims] wrote {pixel_aligned(base)}")
    if args.all or args.pictures:
        for path in [*claim_pictures(base), *guidance_pictures()]:
            print(f"[claims] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
