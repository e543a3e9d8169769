"""Record the shipped toy model's frames that ``tests/test_unchanged.py`` compares against.

    python tests/data/record_frames.py

Writes ``demo_frames.npz`` (``stdrc demo``'s clip with its default arguments) and ``pipeline_frames.npz``
(``STDRCPipeline`` called directly) beside this file, each with the git revision, torch version, CPU capability,
CPU model and the sha256 of the weights (base and adapter) that made it. Run it when the shipped model changes,
and only then: a refactor must reproduce the old recordings, not replace them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from stdrc_lib.outputs import git_revision, weight_hashes
from stdrc_lib.pipeline import pipeline_from_backbone
from stdrc_lib.toy import sample_reference
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.demo import demo_clip

HERE = Path(__file__).parent


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or ``platform.processor()`` where there is none: two CPUs with the
    same capability (AVX512, say) may still round float kernels differently."""
    import platform

    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def shipped_hashes() -> dict:
    """sha256 of the shipped base and adapter files, by folder."""
    return {"base": weight_hashes(TW.BASE_DIR), "adapter": weight_hashes(TW.ADAPTER_DIR)}


def demo(backbone) -> tuple[np.ndarray, np.ndarray]:
    """``stdrc demo``'s clip with its default arguments: uint8 frames ``(1, F, H, W, 3)`` and the reference."""
    clip = demo_clip(backbone, progress=False)
    return clip.frames.numpy(), clip.reference


def pipeline(backbone) -> np.ndarray:
    """``STDRCPipeline`` called directly with a few arguments of its own: uint8 frames ``(1, F, H, W, 3)``."""
    out = pipeline_from_backbone(backbone)(
        "a person nodding on a beach",
        reference_image=sample_reference(5, look=backbone.extra["look"]),
        num_inference_steps=6,
        generator=torch.Generator().manual_seed(1),
        output_type="np",
        progress=False,
    )
    return (out.frames * 255).round().astype(np.uint8)


def main() -> None:
    backbone = TW.toy_backbone()
    meta = dict(
        revision=git_revision() or "",
        torch=torch.__version__,
        cpu=torch.backends.cpu.get_cpu_capability(),
        cpu_model=cpu_model(),
        weights_sha256=json.dumps(shipped_hashes(), sort_keys=True),
    )
    frames, reference = demo(backbone)
    np.savez_compressed(HERE / "demo_frames.npz", frames=frames, reference=reference, **meta)
    np.savez_compressed(HERE / "pipeline_frames.npz", frames=pipeline(backbone), **meta)
    print(f"wrote {HERE / 'demo_frames.npz'} and {HERE / 'pipeline_frames.npz'}")


if __name__ == "__main__":
    main()
