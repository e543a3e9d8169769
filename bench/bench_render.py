"""SynthFaces rendering speed: clips per second on one core (17 frames, 64×64).

Usage: python bench/bench_render.py [--clips 300] [--repeats 5] [--against GIT_REV [--check-equal N]]

Prints the median and the best of the repeats: this machine's speed drifts by ±15 % between runs of
a few seconds, so one run says little. With ``--against``, the renderer of that git revision
(``stdrc_lib/toy/render.py`` there) is timed in the same run, alternating with the current one on the
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

from stdrc_lib.toy import NUM_IDENTITIES, NUM_PROMPTS, Identity, Prompt  # noqa: E402


def _renderer_at(rev: str):
    """The render module as it was at git revision ``rev`` (loaded beside the current one)."""
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:stdrc_lib/toy/render.py"], capture_output=True, text=True, check=True
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise SystemExit(f"--against {rev}: cannot read stdrc_lib/toy/render.py at that revision ({e})") from e
    path = os.path.join(tempfile.mkdtemp(), "render_at_rev.py")
    with open(path, "w") as f:
        f.write(src)
    name = "stdrc_lib.toy._render_at_rev"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def check_equal(a, b, n: int, seed: int = 7) -> int:
    """How many of ``n`` random clips (with masks, and their evaluation references) render differently. Masks are
    compared only where both renderers draw them (older revisions do not)."""
    import inspect

    masks = all("return_alpha" in inspect.signature(m.render_clip).parameters for m in (a, b))
    kw = {"return_alpha": True} if masks else {}
    rng = np.random.default_rng(seed)
    differ = 0
    for k in range(n):
        ident = Identity.from_index(int(rng.integers(NUM_IDENTITIES)))
        prompt = Prompt.from_index(int(rng.integers(NUM_PROMPTS)))
        outs = [
            (
                m.render_clip(ident, prompt, np.random.default_rng(k), **kw),
                m.render_eval_reference(ident, prompt, np.random.default_rng(k), **kw),
            )
            for m in (a, b)
        ]
        flat = [[np.asarray(x) for part in o for x in part] for o in outs]
        differ += not all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(*flat))
    return differ


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against", metavar="GIT_REV", help="also time the renderer of this git revision; print the ratio")
    ap.add_argument(
        "--check-equal",
        type=int,
        default=0,
        metavar="N",
        help="with --against, first check that both renderers give bitwise the same N clips, masks and evaluation "
        "references (exit 1 if not)",
    )
    args = ap.parse_args()
    if args.check_equal and not args.against:
        ap.error("--check-equal needs --against GIT_REV: the renderer to compare with")
    if args.check_equal < 0:
        ap.error(f"--check-equal must be >= 0, got {args.check_equal}")
    rng = np.random.default_rng(0)
    jobs = [
        (Identity.from_index(int(rng.integers(NUM_IDENTITIES))), Prompt.from_index(int(rng.integers(NUM_PROMPTS))))
        for _ in range(args.clips)
    ]
    current = importlib.import_module("stdrc_lib.toy.render")
    renderers = {"current": current.render_clip}
    if args.against:
        other = _renderer_at(args.against)
        renderers[args.against] = other.render_clip
        if args.check_equal:
            n = check_equal(current, other, args.check_equal)
            if n:
                raise SystemExit(f"{n} of {args.check_equal} clips differ from {args.against}'s renderer")
            print(f"bitwise equal to {args.against}: {args.check_equal} clips, masks and evaluation references")
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
