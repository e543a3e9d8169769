"""Where is identity decided, and does the reference help there? One-step denoising across noise levels.

Usage: python bench/diagnose_denoising.py [--clips 32] [--weights data/toy/base --adapter FOLDER] [--model FOLDER]
                                        [--ckpt CHECKPOINT --isolated]
                                        [--out docs/img/denoising_by_sigma.png]

For held-out clips (held-out identities and prompts), the true latent x₀ is noised to x_σ = (1 − σ)·x₀ + σ·ε
at each σ of a grid, and the model predicts x̂₀ = x_σ − σ·v̂ in one step, with the prompt and with the
reference (both reference modes: a frame of the clip, and an evaluation-mode reference in another pose,
place, light and background) or without it. Each x̂₀ is decoded and read by the toy readout. This separates
two questions that full sampling mixes: can the model *recover* a face that is partly there (low σ), and
does the reference add identity where the noise has hidden it (high σ)?

Prints a table (identity accuracy, mean ± 95 % CI over clips) and draws one picture: identity accuracy
against σ, one line per condition, with the VAE reconstruction (the ceiling) and chance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stdrc_lib.core import positions as P
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.evaluate import DENOISING_SIGMAS, denoising_identity
from stdrc_lib.toy.metrics import identity_chance
from stdrc_lib.toy.readout import Readout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=32, help="held-out clips (default 32)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument(
        "--weights", default=None, help="toy model folder (default: the shipped base with the shipped adapter)"
    )
    ap.add_argument("--adapter", default=None, help="adapter folder to put on --weights")
    ap.add_argument(
        "--model",
        help="folder with transformer/ and text_encoder/ to test instead of the shipped ones (e.g. a continued run "
        "written by `python -m stdrc_lib.toy.base`); the VAE and readout still come from --weights",
    )
    ap.add_argument(
        "--ckpt",
        help="a training checkpoint folder (e.g. runs/ablation/tass_s0/ckpt/step-000800) whose transformer and "
        "text encoder replace the shipped ones (same toy architecture)",
    )
    ap.add_argument(
        "--isolated", action="store_true", help="the model was trained with an isolated reference pass (tass_iso_*)"
    )
    ap.add_argument("--scheme", default=None, choices=P.SCHEMES, help="reference positions (default: the model's own)")
    ap.add_argument("--sigmas", type=float, nargs="+", default=list(DENOISING_SIGMAS))
    ap.add_argument("--out", default="docs/img/denoising_by_sigma.png")
    args = ap.parse_args()
    if args.weights is None:
        b = TW.toy_backbone()
    else:
        b = TW.load_toy(args.weights)
        if args.adapter:
            from stdrc_lib.toy.adapter import load_adapter

            load_adapter(b, args.adapter)
    if args.model:
        from diffusers import LTX2VideoTransformer3DModel

        from stdrc_lib.toy.text import ToyTextEncoder

        b.transformer = LTX2VideoTransformer3DModel.from_pretrained(Path(args.model) / "transformer").eval()
        b.text_encoder = ToyTextEncoder.load(Path(args.model) / "text_encoder").eval()
    if args.ckpt:
        from stdrc_lib.train.checkpoint import load_checkpoint

        load_checkpoint(args.ckpt, {"transformer": b.transformer, "text_encoder": b.text_encoder})
    readout = Readout.load(TW.scorer_dir(args.weights or TW.BASE_DIR))
    pos = b.positions(**({} if args.scheme is None else {"scheme": args.scheme}))
    try:
        rep = denoising_identity(
            b, readout, args.clips, args.sigmas, args.batch, positions=pos, isolated_reference=args.isolated
        )
    except ValueError as e:  # `n` / `sigmas`: the library names the argument
        raise SystemExit(f"diagnose_denoising: {e}") from None
    conds, ceil, chance = list(rep["accuracy"]), rep["ceiling"], identity_chance()
    rows = rep["accuracy"]
    print(f"identity accuracy of one-step x̂₀ ({args.clips} held-out clips; VAE reconstruction {ceil['mean']:.3f}, "
          f"chance {chance:.3f})")  # fmt: skip
    print("| σ | " + " | ".join(conds) + " |\n|---:|" + "---:|" * len(conds))
    for i, s in enumerate(args.sigmas):
        print(f"| {s:g} | " + " | ".join(f"{rows[c][i]['mean']:.3f} ± {rows[c][i]['ci95']:.3f}" for c in conds) + " |")
    print("\npaired gain over no reference (same clips and noise), mean ± 95 % CI:")
    print("| σ | clip reference | evaluation reference |\n|---:|---:|---:|")
    for i, s in enumerate(args.sigmas):
        gains = [rep["gain"][c][i] for c in ("clip reference", "evaluation reference")]
        print(f"| {s:g} | " + " | ".join(f"{g['mean']:+.3f} ± {g['ci95']:.3f}" for g in gains) + " |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for c, style in zip(conds, ("o-", "s-", "^--")):
        m = [r["mean"] for r in rows[c]]
        e = [r["ci95"] for r in rows[c]]
        ax.errorbar(args.sigmas, m, yerr=e, fmt=style, capsize=3, label=c)
    ax.axhline(ceil["mean"], color="k", ls=":", label="VAE reconstruction (ceiling)")
    ax.axhline(chance, color="grey", ls="-.", label="chance")
    ax.set_xlabel("σ (noise level the model starts from)")
    ax.set_ylabel("identity accuracy of one-step x̂₀")
    ax.set_title("Where does the reference add identity?")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
