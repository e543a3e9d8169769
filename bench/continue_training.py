"""Does more training make the shipped toy model use its reference? Continue it and compare with no reference.

Usage: python bench/continue_training.py [--steps 1000] [--clips 48] [--lambda-id 0.5] [--sigma-id 0.5]
                                        [--p-cross-ref 0.5] [--face-loss-weight 4] [--p-relight 0.5]
                                        [--p-relayout 1] [--out runs/continue_id]

Loads data/toy, trains the transformer + text encoder for --steps more (lr 5e-4, fresh clip cache, seed 1),
saves them to --out (data/toy is not touched) and prints identity metrics of the continued model
with and without the reference on --clips held-out clips. With --lambda-id > 0 the face-guided identity
loss (toy readout embedding) is added, everything else being equal; --p-cross-ref takes that share of
references from another render of the identity; --face-loss-weight up-weights face tokens in the loss;
--p-relight re-lights that share of references with another of the world's lights; --p-relayout sets the share
of re-laid-out references. References are prepared as the shipped model was trained on them (whole, face
crop or face cut-out, from its manifest), in training and in scoring; scoring also prints the paired
model − no-reference difference.
"""

from __future__ import annotations

import argparse
import json

from stdrc_lib.prep.augment import AugmentConfig
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.evaluate import evaluate
from stdrc_lib.toy.readout import Readout, ToyFaceEmbedder
from stdrc_lib.toy.train import ToyTrainConfig, train_toy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--out", default="runs/continue")
    ap.add_argument("--lambda-id", type=float, default=0.0, help="weight of the identity loss (0 = off)")
    ap.add_argument("--sigma-id", type=float, default=0.5, help="identity loss applies for σ ≤ this")
    ap.add_argument("--p-cross-ref", type=float, default=0.0, help="share of references from another render")
    ap.add_argument("--face-loss-weight", type=float, default=1.0, help="weight of face tokens in the loss (1 = off)")
    ap.add_argument("--p-relight", type=float, default=0.0, help="share of references re-lit by another light")
    ap.add_argument(
        "--p-relayout", type=float, default=None, help="share of references re-laid out (default: the recipe's 0.8)"
    )
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--eval-only", action="store_true", help="score the model saved in --out, do not train")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    b = TW.load_toy()
    readout = Readout.load(TW.TOY_DIR / "readout")
    if args.eval_only:
        from diffusers import LTX2VideoTransformer3DModel

        from stdrc_lib.toy.text import ToyTextEncoder

        b.transformer = LTX2VideoTransformer3DModel.from_pretrained(f"{args.out}/transformer").eval()
        b.text_encoder = ToyTextEncoder.load(f"{args.out}/text_encoder").eval()
        return print(json.dumps(_score(b, readout, args.clips), indent=1))
    cfg = ToyTrainConfig(
        steps=args.steps,
        lr=args.lr,
        warmup=20,
        n_clips=3000,
        seed=1,
        sample_every=0,
        lambda_id=args.lambda_id,
        sigma_id=args.sigma_id,
        p_cross_ref=args.p_cross_ref,
        face_loss_weight=args.face_loss_weight,
        p_relight=args.p_relight,
        ckpt_every=100,
        # references prepared as the shipped model was trained on them (its manifest): whole, crop or cut-out
        face_crop=b.extra["reference_prep"] == "crop",
        face_cutout=b.extra["reference_prep"] == "cutout",
        **({} if args.p_relayout is None else {"augment": AugmentConfig(p_relayout=args.p_relayout)}),
    )
    embedder = ToyFaceEmbedder(readout) if args.lambda_id > 0 else None
    train_toy(b, cfg, out=args.out, embedder=embedder, ckpt_dir=f"{args.out}/ckpt")  # resumes from its checkpoints
    b.transformer.save_pretrained(f"{args.out}/transformer")
    b.text_encoder.save(f"{args.out}/text_encoder")
    print(json.dumps(_score(b, readout, args.clips), indent=1))


def _score(b, readout, clips: int) -> dict:
    prep = b.extra.get("reference_prep", "whole")
    rep = evaluate(
        b, readout, n=clips, batch=8, steps=12, rows=("model", "no_reference"), progress=False,
        face_crop=prep == "crop", face_cutout=prep == "cutout",
    )  # fmt: skip
    rows = {**rep["results"], **rep["paired"]}
    return {row: {k: [round(v["mean"], 3), round(v["ci95"], 3)] for k, v in m.items()} for row, m in rows.items()}


if __name__ == "__main__":
    main()
