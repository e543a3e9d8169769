"""Draw the docs' pictures from the library itself.

    python docs/make_figures.py   # writes docs/img/method.png and docs/img/looks.png

* ``method.png``: where each position scheme puts the reference. Each panel is the (time, width) plane of
  LTX-2's rotary positions for a toy clip (5 latent frames of 8×8 tokens) and one 8×8 reference, as
  :func:`stdrc_lib.core.positions.build_coords` gives them.
* ``looks.png``: the same held-out clips drawn in SynthFaces' two looks, classic (left) and bold (right).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stdrc_lib import viz  # noqa: E402
from stdrc_lib.core import positions as P  # noqa: E402
from stdrc_lib.toy.dataset import SynthFaces  # noqa: E402
from stdrc_lib.toy.weights import build_toy  # noqa: E402

IMG = Path(__file__).resolve().parent / "img"
OUT = IMG / "method.png"


def looks(n: int = 6, out: Path = IMG / "looks.png") -> Path:
    """Held-out clips in both looks, one clip per row: classic frames 0, 8, 16 and the evaluation reference,
    then the same four in the bold look."""
    sets = [SynthFaces("eval", n, seed=3, look=look) for look in ("classic", "bold")]
    rows, labels = [], []
    for i in range(n):
        row = []
        for ds in sets:
            it = ds[i]
            row += [
                ((it["video"].permute(1, 2, 3, 0) + 1) / 2).numpy()[::8],
                ((it["reference"].permute(1, 2, 0) + 1) / 2).numpy()[None],
            ]
        rows.append(np.concatenate(row))
        labels.append(it["prompt"][9:34])
    viz.save_image(out, viz.contact_sheet(rows, labels, upscale=3))
    print(f"wrote {out}")
    return out


def main() -> Path:
    rope = build_toy(seed=0, num_layers=1).transformer.rope
    grid, ref = (5, 8, 8), (8, 8)
    schemes = ("shared", "tass_pre", "tass")
    titles = {
        "shared": "shared: on frame 0's grid",
        "tass_pre": "tass_pre (Stand-In): before frame 0",
        "tass": "tass (ST-DRC): after the last frame",
    }
    fig, axes = plt.subplots(1, len(schemes), figsize=(4.2 * len(schemes), 3.4), sharey=True)
    for ax, scheme in zip(axes, schemes):
        c = P.build_coords(rope, 1, grid, [ref], P.PositionConfig(scheme)).mean(-1)[0]  # (3, N) box midpoints
        n_v = grid[0] * grid[1] * grid[2]
        t_ms, w_px = c[0] * 1000, c[2]
        ax.scatter(t_ms[:n_v], w_px[:n_v], s=14, marker="s", color="0.75", label="video tokens (noisy, timestep σ)")
        ax.scatter(
            t_ms[n_v:], w_px[n_v:], s=22, marker="o", color="tab:red", label="reference tokens (clean, timestep 0)"
        )
        ax.set_title(titles[scheme], fontsize=10)
        ax.set_xlabel("time position (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("width position (pixels)")
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle(
        "ST-DRC: the reference image's tokens join the video's, at positions chosen by the scheme", fontsize=10
    )
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")
    return OUT


if __name__ == "__main__":
    main()
    looks()
