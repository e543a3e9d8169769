"""How often the readout reads the light of evaluation references right (the estimate ``--ref-light prompt`` uses).

    python bench/check_light_estimate.py [--n 200 --seed 1] [--weights data/toy]

The readout was never trained on the light of evaluation-style stills (their lighting label is ignored), so this
is measured on exactly the references ``stdrc eval --n N --seed S`` uses. Their true light is recovered by
replaying the renderer's draw from the same random state, without changing the references.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import stdrc_lib.toy.dataset as D
from stdrc_lib.toy.readout import Readout
from stdrc_lib.toy.world import PROMPT_ATTRS


def true_lights(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The evaluation references of ``SynthFaces("eval", n, seed)`` and the light each was rendered in."""
    real, lights = D.render_eval_reference, []

    def recording(ident, prompt, rng, *args, **kw):
        replay = np.random.Generator(np.random.PCG64())
        replay.bit_generator.state = rng.bit_generator.state  # the same draws as the renderer's, in its order
        names = prompt.names()
        replay.choice([s for s in PROMPT_ATTRS["scene"] if s != names["scene"]])
        light = replay.choice([s for s in PROMPT_ATTRS["lighting"] if s != names["lighting"]])
        lights.append(PROMPT_ATTRS["lighting"].index(str(light)))
        return real(ident, prompt, rng, *args, **kw)

    D.render_eval_reference = recording
    try:
        ds = D.SynthFaces("eval", n, seed=seed)
        refs = torch.stack([ds[i]["reference"] for i in range(n)])
    finally:
        D.render_eval_reference = real
    return refs, torch.tensor(lights)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="held-out clips, as in stdrc eval (default: 200)")
    ap.add_argument("--seed", type=int, default=1, help="seed, as in stdrc eval (default: 1)")
    ap.add_argument("--weights", default=str(Path("data") / "toy"), help="toy weights folder with a readout")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error(f"--n must be at least 1, got {args.n}")
    refs, truth = true_lights(args.n, args.seed)
    pred = Readout.load(Path(args.weights) / "readout").predict(refs)["lighting"]
    acc = (pred == truth).float().mean().item()
    wrong = [
        (PROMPT_ATTRS["lighting"][t], PROMPT_ATTRS["lighting"][p])
        for t, p in zip(truth.tolist(), pred.tolist())
        if t != p
    ]
    print(
        f"light of {args.n} evaluation references (seed {args.seed}) read right: {acc:.3f}"
        + (f"; wrong (true, read): {wrong}" if wrong else "")
    )


if __name__ == "__main__":
    main()
