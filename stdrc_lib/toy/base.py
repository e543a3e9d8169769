"""The toy base model: a miniature of the pretrained video model that ST-DRC fine-tunes.

The paper starts from a pretrained LTX-2.3, which already draws people and already continues a first frame
given as clean tokens (its image-to-video). The toy base is made the same way, on SynthFaces' bold look,
with no reference anywhere:

1. ``vae``: an ``AutoencoderKLLTX2Video`` with 32 latent channels (:mod:`stdrc_lib.toy.train_vae`), trained in
   stages: whole 64×64 clips first, then random 32×32 windows, which cost a quarter as much per clip;
2. ``readout``: the readout that training may use (identity loss, face crops);
3. ``scorer``: a second readout, trained apart (another seed, another pool of clips), that scores models,
   so that no model is scored by the readout it was trained against;
4. ``transformer`` + ``text_encoder``: ``LTX2VideoTransformer3DModel`` and the toy text encoder trained from
   scratch by the one trainer (:func:`stdrc_lib.train.trainer.train`) on a mix of text-to-video and
   image-to-video rows (frame 0's clean latent at frame 0's positions, timestep 0, no loss on it);
5. ``keyframes``: the transformer's training continued with LTX-2's other conditioning added, keyframes: a
   frame of the clip, encoded as an image, appended clean at that frame's own positions, every noisy frame kept.
   LTX-2 has this prior (ltx-core's ``VideoConditionByKeyframeIndex``); without it extra clean tokens are
   foreign to the base, and a fine-tune learns to ignore a reference rather than read it (docs/STDRC.md).

One command makes all of it, resumably (each stage is skipped once its folder exists; the VAE and the
transformer resume from their checkpoints under ``--runs``)::

    python -m stdrc_lib.toy.base --out data/toy/base

The weights are stored as float16 (loaded as float32) and the folder gets a manifest: the recipe, command,
seed, steps, wall time per stage, git revision, metrics and sha256 of every file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..core.io import atomic_folder, load_safetensors, read_json
from ..outputs import REVISION_AT_START
from ..train.trainer import ClipCache, TrainConfig, train
from . import weights as TW
from .manifest import write_manifest
from .readout import train_readout
from .render import BOLD
from .text import ToyTextEncoder
from .train import build_cache
from .train_vae import train_vae

STAGES = ("vae", "readout", "scorer", "transformer", "keyframes")


def base_train_config(**overrides) -> TrainConfig:
    """The base transformer's training options: no reference; half the rows image-to-video; 10 % null prompts
    (for classifier-free guidance); face tokens weighted twice in the loss; an exponential moving average of the
    weights (horizon about 1,000 steps) is what is kept."""
    cfg = dict(
        steps=8000,
        batch=16,
        lr=1e-3,
        warmup=200,
        seed=0,
        p_text=0.1,
        p_ref=0.0,
        p_both=0.0,
        p_first_frame=0.5,
        ema_decay=0.999,
        face_loss_weight=2.0,
        sample_every=0,
        ckpt_every=200,
    )
    return TrainConfig(**{**cfg, **overrides})


def keyframe_train_config(**overrides) -> TrainConfig:
    """The keyframe stage's options: the base's (half the rows image-to-video, faces weighted twice, a moving
    average) with 30 % keyframe rows; every other row has no reference, and 10 % of them no prompt either. A lower
    learning rate than the base's, since it continues it."""
    cfg = dict(steps=1500, lr=3e-4, warmup=100, seed=1, p_text=0.0, p_ref=0.9, p_both=0.1, p_keyframe=0.3,
               ckpt_every=100)  # fmt: skip
    return base_train_config(**{**cfg, **overrides})


@dataclass
class BaseRecipe:
    """Everything that makes the base model; the manifest records it."""

    look: str = BOLD.name
    # each stage continues the one before (a new warm-up and cosine schedule, new clips): whole 5-frame clips, then
    # 32×32 windows, then the same in bfloat16 autocast (twice as fast here), then windows of whole 17-frame clips;
    # the first three were cut short by hand (see docs/BASE.md for why)
    vae_stages: tuple[dict, ...] = (
        dict(steps=3000, stop_after=1000, batch=8, seed=0, face_weight=1.0),
        dict(steps=6000, stop_after=1500, batch=16, seed=1, face_weight=1.0, crop=32),
        dict(steps=12000, stop_after=6000, batch=16, seed=2, face_weight=1.0, crop=32, bf16=True),
        dict(steps=6000, batch=8, frames=17, seed=3, face_weight=1.0, crop=32, bf16=True),
    )
    vae_eval_clips: int = 64
    readout_steps: int = 4000
    readout_pool: int = 3000
    readout_eval_clips: int = 300
    readout_seed: int = 0
    scorer_seed: int = 1  # another seed draws another pool of clips and another initialisation
    n_clips: int = 12000
    cache_seed: int = 0
    transformer: TrainConfig = field(default_factory=base_train_config)
    keyframe_clips: int = 4000  # clips with a frame of each as its reference; rendered again on a resume
    keyframe_seed: int = 1
    keyframes: TrainConfig = field(default_factory=keyframe_train_config)


def build_base(seed: int = 0, vae=None):
    """A randomly initialised base backbone (transformer, text encoder; a fresh VAE unless ``vae`` is given)."""
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    from ..core.backbone import Backbone, check_consistency

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        transformer = LTX2VideoTransformer3DModel(**TW.BASE_TRANSFORMER_CONFIG)
        text = ToyTextEncoder()
        vae = AutoencoderKLLTX2Video(**TW.BASE_VAE_CONFIG) if vae is None else vae
    check_consistency(transformer, vae)
    return Backbone(transformer, vae.eval(), text)


def _cache(vae, recipe: BaseRecipe, path: Path) -> ClipCache:
    """The training clips' latents, prompts and face boxes; encoded once and kept in ``path``."""
    from safetensors.torch import save_file

    if path.is_file():
        t = load_safetensors(path)
        prompts = json.loads(path.with_suffix(".json").read_text())
        return ClipCache(t["latents"], prompts, face_boxes=t["face_boxes"])
    c = build_cache(vae, recipe.n_clips, recipe.cache_seed, look=recipe.look)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(c.prompts))
    save_file({"latents": c.latents.contiguous(), "face_boxes": c.face_boxes.contiguous()}, str(path))
    return ClipCache(c.latents, c.prompts, face_boxes=c.face_boxes)


def _half(folder: Path) -> None:
    """Store every safetensors file under ``folder`` as float16 (the loaders cast back to float32)."""
    from safetensors.torch import save_file

    for f in folder.rglob("*.safetensors"):
        t = load_safetensors(f)
        save_file({k: v.half() if v.is_floating_point() else v for k, v in t.items()}, str(f))


def _stage_vae(recipe: BaseRecipe, runs: Path) -> dict:
    """The VAE stages in turn (``vae_stage1`` …, the last one into ``vae``); their metrics, the last one's on top."""
    records, init = [], None
    for i, stage in enumerate(recipe.vae_stages, 1):
        last = i == len(recipe.vae_stages)
        out = runs / ("vae" if last else f"vae_stage{i}")
        if not out.is_dir():
            ckpt = runs / ("vae_ckpt" if i == 1 else f"vae{i}_ckpt")
            train_vae(out=out, preset="base", ckpt_dir=ckpt, eval_clips=recipe.vae_eval_clips, init=init, **stage)
        records.append(read_json(out / "metrics.json", "VAE metrics"))
        init = out
    minutes = sum(r.get("minutes", 0.0) for r in records)
    return {**records[-1], "minutes": minutes, "stages": records}


def _load_vae(runs: Path):
    from diffusers import AutoencoderKLLTX2Video

    return AutoencoderKLLTX2Video.from_pretrained(runs / "vae", local_files_only=True).float().eval()


def _stage_readout(recipe: BaseRecipe, runs: Path, name: str, seed: int) -> dict:
    out = runs / name
    if not out.is_dir():
        vae, pool, n_eval = _load_vae(runs), recipe.readout_pool, recipe.readout_eval_clips
        train_readout(
            recipe.readout_steps, out, seed=seed, pool_clips=pool, vae=vae, look=recipe.look, eval_clips=n_eval
        )
    return read_json(out / "metrics.json", f"{name} metrics")


def _train_stage(out: Path, cfg: TrainConfig, ckpt_dir: Path, prepare) -> dict:
    """Train the backbone ``prepare()`` returns (with its clip cache) by ``cfg`` into ``out``, resuming from
    ``ckpt_dir``; a finished stage (its ``train_log.json``) is read, not trained again."""
    if (out / "train_log.json").is_file():
        return read_json(out / "train_log.json", "training log")
    t0 = time.time()
    backbone, cache = prepare()
    t_cache = time.time() - t0
    log = train(backbone, cache, cfg, ckpt_dir=ckpt_dir)
    log["cache_minutes"] = t_cache / 60

    def write(d: Path) -> None:
        TW.save_toy(backbone, d)
        (d / "train_log.json").write_text(json.dumps(log))

    atomic_folder(out, write)
    return log


def _stage_transformer(recipe: BaseRecipe, runs: Path) -> dict:
    def prepare():
        vae = _load_vae(runs)
        return build_base(recipe.transformer.seed, vae), _cache(vae, recipe, runs / "cache.safetensors")

    return _train_stage(runs / "model", recipe.transformer, runs / "ckpt", prepare)


def _stage_keyframes(recipe: BaseRecipe, runs: Path) -> dict:
    """Continue the transformer (``runs/model``) with keyframe rows into ``runs/keyframes``."""

    def prepare():
        _stage_transformer(recipe, runs)
        backbone = TW.load_toy(runs / "model")
        clips, seed = recipe.keyframe_clips, recipe.keyframe_seed
        return backbone, build_cache(backbone.vae, clips, seed, look=recipe.look, ref_mode="clip")

    return _train_stage(runs / "keyframes", recipe.keyframes, runs / "keyframes_ckpt", prepare)


def run_stages(recipe: BaseRecipe, runs: Path, stages) -> None:
    """Run the named stages (each skipped when finished), in the order of ``STAGES``."""
    runs = Path(runs)
    for stage in (s for s in STAGES if s in stages):
        if stage == "vae":
            _stage_vae(recipe, runs)
        elif stage == "transformer":
            _stage_transformer(recipe, runs)
        elif stage == "keyframes":
            _stage_keyframes(recipe, runs)
        else:
            _stage_readout(recipe, runs, stage, recipe.readout_seed if stage == "readout" else recipe.scorer_seed)


def build(out: Path, recipe: BaseRecipe, runs: Path = Path("runs/base")) -> dict:
    """Run every stage (skipping finished ones) and assemble ``out``: weights in float16, and a manifest."""
    runs = Path(runs)
    t0 = time.time()
    records = {"vae": _stage_vae(recipe, runs)}
    records["readout"] = _stage_readout(recipe, runs, "readout", recipe.readout_seed)
    records["scorer"] = _stage_readout(recipe, runs, "scorer", recipe.scorer_seed)
    log = _stage_transformer(recipe, runs)
    records["transformer"] = {k: v for k, v in log.items() if k not in ("losses", "id_losses")}
    losses = log["losses"]
    records["transformer"]["final_loss_mean_last_100"] = sum(losses[-100:]) / max(1, len(losses[-100:]))
    klog = _stage_keyframes(recipe, runs)
    records["keyframes"] = {k: v for k, v in klog.items() if k not in ("losses", "id_losses")}
    records["keyframes"]["final_loss_mean_last_100"] = sum(klog["losses"][-100:]) / max(1, len(klog["losses"][-100:]))

    def assemble(d: Path) -> None:
        shutil.copytree(runs / "keyframes" / "transformer", d / "transformer")
        shutil.copytree(runs / "keyframes" / "text_encoder", d / "text_encoder")
        shutil.copytree(runs / "vae", d / "vae")
        for name in ("readout", "scorer"):
            shutil.copytree(runs / name, d / name)
        _half(d)
        for cfg in d.rglob("config.json"):  # diffusers records where a model was loaded from: no machine's paths
            c = json.loads(cfg.read_text())
            if c.pop("_name_or_path", None) is not None:
                cfg.write_text(json.dumps(c, indent=2, sort_keys=True) + "\n")

    atomic_folder(Path(out), assemble)
    minutes = {
        "vae": records["vae"].get("minutes"),
        "readout": records["readout"].get("minutes"),
        "scorer": records["scorer"].get("minutes"),
        "transformer": records["transformer"].get("train_minutes"),
        "transformer_cache": records["transformer"].get("cache_minutes"),
        "keyframes": records["keyframes"].get("train_minutes"),
        "keyframes_cache": records["keyframes"].get("cache_minutes"),
    }
    extra = {
        "kind": "base",
        "look": recipe.look,
        "recipe": json.loads(json.dumps(asdict(recipe))),
        "seed": recipe.transformer.seed,
        "steps": {
            "vae": [s.get("stop_after", s["steps"]) for s in recipe.vae_stages],
            "readout": recipe.readout_steps,
            "transformer": recipe.transformer.steps,
            "keyframes": recipe.keyframes.steps,
        },
        "minutes": minutes,
        "revision": REVISION_AT_START,
        "training": records,
        "assembled_minutes": (time.time() - t0) / 60,
    }
    write_manifest(Path(out), extra)
    return extra


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description="Build the toy base model (VAE, two readouts, a text-to-video + image-to-video transformer, "
        "then keyframe conditioning). "
        "Each stage resumes from its checkpoints under --runs, and is skipped once finished."
    )
    ap.add_argument("--out", type=Path, default=TW.TOY_DIR / "base", help="where the assembled model goes")
    ap.add_argument("--runs", type=Path, default=Path("runs/base"), help="stage outputs and checkpoints")
    ap.add_argument("--steps", type=int, default=None, help="transformer steps (default: the recipe's 8000)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=STAGES,
        default=None,
        help="run only these stages (after the VAE, the readouts and the transformer need nothing but it, so two "
        "processes can share the work); without it, every stage runs and the model is assembled",
    )
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    recipe = BaseRecipe()
    if a.steps is not None:
        recipe.transformer = base_train_config(steps=a.steps)
    if a.only:
        run_stages(recipe, a.runs, a.only)
        return
    print(json.dumps(build(a.out, recipe, a.runs)["minutes"], indent=2))


if __name__ == "__main__":
    main()
