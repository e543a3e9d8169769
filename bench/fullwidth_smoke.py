"""Wall time and peak memory of the LTX-2.3 path at full width on this CPU (the smoke checkpoint of
``stdrc_lib.fullwidth``: LTX-2.3's classes and widths, ``--layers`` transformer blocks, random weights).

Usage: python bench/fullwidth_smoke.py [--layers 1] [--steps 2] [--json docs/results/fullwidth_smoke.json]

Each phase runs in a fresh process, so its peak resident memory is its own: build the checkpoint and save it in
bfloat16; load it in float32 and generate a 9-frame 64×64 clip with three-stream guidance and a reference; the same
in bfloat16. A sampling step is timed as the mean over ``--steps`` after the first (which also builds the
reference tokens); a phase's wall time includes loading the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _phase(name: str, folder: str, layers: int, steps: int) -> dict:
    import numpy as np
    import torch

    from stdrc_lib.fullwidth import build_smoke_pipeline
    from stdrc_lib.pipeline import STDRCPipeline

    t0 = time.time()
    if name == "build":
        pipe = build_smoke_pipeline(layers, dtype=torch.bfloat16)
        params = sum(p.numel() for m in (pipe.transformer, pipe.vae, pipe.text_encoder, pipe.connectors)
                     for p in m.parameters())  # fmt: skip
        pipe.save_pretrained(folder, safe_serialization=True)
        out = {"parameters": params}
    else:
        dtype = torch.float32 if name == "fp32" else torch.bfloat16
        pipe = STDRCPipeline.from_pretrained(folder, torch_dtype=dtype)
        t_load = time.time() - t0
        ref = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
        times = []

        def tick(_pipe, step, _t, kwargs):
            times.append(time.time())
            return kwargs

        t1 = time.time()
        pipe("a person smiling", reference_image=ref, num_frames=9, height=64, width=64, num_inference_steps=steps,
             generator=torch.Generator().manual_seed(0), output_type="np", progress=False,
             callback_on_step_end=tick)  # fmt: skip
        total = time.time() - t1
        per_step = float(np.diff([t1, *times])[1:].mean()) if len(times) > 1 else total
        out = {"load_s": t_load, "generate_s": total, "step_s": per_step}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    return {**out, "wall_s": time.time() - t0, "peak_rss_gib": peak}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=1, help="transformer blocks (LTX-2.3 has 48)")
    ap.add_argument("--steps", type=int, default=2, help="sampling steps per generation (≥ 2)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers and their provenance here")
    ap.add_argument("--phase", choices=["build", "fp32", "bf16"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.layers < 1 or args.steps < 2:
        ap.error(f"--layers must be ≥ 1 and --steps ≥ 2, got {args.layers} and {args.steps}")
    if args.phase:
        print(json.dumps(_phase(args.phase, args.folder, args.layers, args.steps)))
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for phase in ("build", "fp32", "bf16"):
            cmd = [sys.executable, __file__, "--phase", phase, "--folder", d, "--layers", str(args.layers),
                   "--steps", str(args.steps)]  # fmt: skip
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if r.returncode != 0:
                raise SystemExit(f"phase {phase} failed:\n{r.stderr[-3000:]}")
            results[phase] = json.loads(r.stdout.strip().splitlines()[-1])
    n = results["build"]["parameters"] / 1e9
    print(f"full-width smoke checkpoint, {args.layers} block(s), {n:.2f} B parameters")
    print("| phase | wall time | peak resident memory | per sampling step |")
    print("|---|---:|---:|---:|")
    for phase, r in results.items():
        step = f"{r['step_s']:.1f} s" if "step_s" in r else "–"
        print(f"| {phase} | {r['wall_s']:.1f} s | {r['peak_rss_gib']:.1f} GiB | {step} |")
    if args.json:
        from stdrc_lib.outputs import provenance, write_record

        write_record(args.json, {"layers": args.layers, "steps": args.steps, "phases": results, **provenance()})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
