"""SynthFaces rendering speed: clips per second on one core (17 frames, 64×64).

Usage: python bench/bench_render.py [--clips 300] [--repeats 5] [--against GIT_REV]

Prints the median and the best of the repeats: this machine's speed drifts by ±15 % between runs of
a few seconds, so one run says little. With ``--against``, the renderer of that git revision
(``stdrc_lib/toyworld/render.py`` there) is timed in the same run, alternating with the current one on the
same clips, and the ratio of the medians is printed: the number to trust when the machine drifts.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from stdrc_lib.toyworld import NUM_IDENTITIES, NUM_PROMPTS, Identity, Prompt  # noqa: E402


def _renderer_at(rev: str):
    """The render module as it was at git revision ``rev`` (loaded beside the current one)."""
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:stdrc_lib/toyworld/render.py"], capture_output=True, text=True, check=True
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise SystemExit(f"--against {rev}: cannot read stdrc_lib/toyworld/render.py at that revision ({e})") from e
    path = os.path.join(tempfile.mkdtemp(), "render_at_rev.py")
    with open(path, "w") as f:
        f.write(src)
    name = "stdrc_lib.toyworld._render_at_rev"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against", metavar="GIT_REV", help="also time the renderer of this git revision; print the ratio")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    jobs = [
        (Identity.from_index(int(rng.integers(NUM_IDENTITIES))), Prompt.from_index(int(rng.integers(NUM_PROMPTS))))
        for _ in range(args.clips)
    ]
    renderers = {"current": importlib.import_module("stdrc_lib.toyworld.render").render_clip}
    if args.against:
        renderers[args.against] = _renderer_at(args.against).render_clip
    for fn in renderers.values():
        fn(*jobs[0], np.random.default_rng(0))  # warm-up
    rates: dict[str, list[float]] = {k: [] for k in renderers}
    for _ in range(args.repeats):
        for name, fn in renderers.items():  # alternate, so drift hits both alike
            r = np.random.default_rng(1)
            t = time.perf_counter()
            for ident, prompt in jobs:
                fn(ident, prompt, r)
            rates[name].append(args.clips / (time.perf_counter() - t))
    for name, rs in rates.items():
        med, best = statistics.median(rs), max(rs)
        print(
            f"{name}: {args.clips} clips of 17×64×64 on one core, {args.repeats} runs: median {med:.0f} clips/s "
            f"({med * 17:.0f} frames/s), best {best:.0f} clips/s"
        )
    if args.against:
        ratio = statistics.median(rates["current"]) / statistics.median(rates[args.against])
        print(f"current / {args.against}: {ratio:.2f}× (ratio of medians, same run)")


if __name__ == "__main__":
    main()
