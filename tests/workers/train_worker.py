"""A tiny toy training run for the resume and multi-process tests (run as a script).

    python tests/workers/train_worker.py OUT [--steps 8] [--ckpt-every 1] [--slow-save SECONDS]

Writes OUT/final.safetensors (transformer + text encoder weights) and OUT/log.json (loss per step).
Runs unchanged under ``accelerate launch --num_processes 2 --cpu``. ``--slow-save`` makes every
safetensors write pause halfway for the atomicity test (the library itself has no such hook).
"""

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--ckpt-every", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ema", type=float, default=0.9)
    ap.add_argument("--slow-save", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.slow_save:
        import safetensors.torch as st

        from stdrc_lib.train import checkpoint

        real = st.save_file

        def slow(tensors, filename, metadata=None):
            Path(filename).write_bytes(b"partial")  # a half-written file, then a long pause
            Path(args.out, "saving").touch()
            time.sleep(args.slow_save)
            real(tensors, filename, metadata)

        checkpoint.save_file = slow

    from safetensors.torch import save_file

    from stdrc_lib.prep import augment as A
    from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy
    from stdrc_lib.toy.weights import build_toy

    b = build_toy(seed=0, num_layers=1)
    cache = build_cache(b.vae, 8, seed=0, progress=False)
    cfg = ToyTrainConfig(
        steps=args.steps,
        batch=args.batch,
        warmup=2,
        n_clips=8,
        sample_every=0,
        ckpt_every=args.ckpt_every,
        ema_decay=args.ema,
        augment=A.AugmentConfig(),
    )
    log = train_toy(b, cfg, cache=cache, progress=False, ckpt_dir=Path(args.out) / "ckpt" if args.ckpt_every else None)
    import accelerate

    Path(args.out).mkdir(parents=True, exist_ok=True)
    if accelerate.PartialState().is_main_process:
        sd = {f"transformer.{k}": v.contiguous() for k, v in b.transformer.state_dict().items()}
        sd.update({f"text_encoder.{k}": v.contiguous() for k, v in b.text_encoder.state_dict().items()})
        save_file(sd, str(Path(args.out) / "final.safetensors"))
        Path(args.out, "log.json").write_text(json.dumps({"losses": log["losses"], "processes": log["processes"]}))


if __name__ == "__main__":
    main()
