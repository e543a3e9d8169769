"""stdrc: ST-DRC identity-preserving text-to-video on diffusers' LTX-2 classes.

    from stdrc_lib import STDRCPipeline, GuidanceConfig, PositionConfig, generate, toy_backbone

The package is split so that the method reads on its own: ``core`` (the method), ``train`` (the one
trainer), ``prep`` (reference preparation), ``pipeline`` (the one generation API), ``toy`` (the SynthFaces
world, a plug-in) and ``cli``. The names above are imported on first use, so ``import stdrc_lib`` stays light.
"""

import logging

__version__ = "0.1.0"

# With torchao installed (the optional memory tiers), importing diffusers or peft imports it, and it warns that its
# CUDA-only kernels and its checkpoint tensor types do not load on this machine (stdrc uses neither), and torch
# warns about how torchao registers two enums.
for _name in ("torchao", "diffusers.quantizers.torchao.torchao_quantizer", "torch.utils._pytree"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_EXPORTS = {
    "STDRCPipeline": "stdrc_lib.pipeline",
    "STDRCPipelineOutput": "stdrc_lib.pipeline",
    "generate": "stdrc_lib.pipeline",
    "pipeline_from_backbone": "stdrc_lib.pipeline",
    "GuidanceConfig": "stdrc_lib.core.config",
    "PositionConfig": "stdrc_lib.core.config",
    "Backbone": "stdrc_lib.core.backbone",
    "TrainConfig": "stdrc_lib.train.trainer",
    "train": "stdrc_lib.train.trainer",
    "toy_backbone": "stdrc_lib.toy.weights",  # the shipped toy model (imports the toy world on first use)
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'stdrc_lib' has no attribute {name!r}")
