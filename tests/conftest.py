import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

from stdrc_lib.core import backbone as bb  # noqa: E402
from stdrc_lib.core import positions as P  # noqa: E402
from stdrc_lib.core import reference as R  # noqa: E402
from stdrc_lib.toy import weights as TW  # noqa: E402

GRID = (3, 4, 4)  # latent (F, H, W): 9 frames of 32×32 pixels with the toy VAE
REF_GRID = (4, 4)


@pytest.fixture(scope="session")
def toy():
    """A 2-layer toy backbone with a fixed seed (the real diffusers classes)."""
    return TW.build_toy(seed=0, num_layers=2)


def forward(toy, x, refs, coords, text=None, mask=None, sigma=0.7):
    """Velocity at all tokens for video tokens ``x`` and reference token list ``refs``."""
    b, n_v, _ = x.shape
    if text is None:
        text, tmask = toy.text_encoder.encode(["a person smiling"] * b)
    else:
        text, tmask = text
    tokens = R.concat_tokens(x, refs)
    n = tokens.shape[1]
    sig = torch.full((b,), sigma)
    ts = R.token_timesteps(sig, n_v, n - n_v)
    with torch.no_grad():
        return bb.transformer_forward(toy.transformer, tokens, text, ts, sig, coords[:, :, :n], tmask, mask)


def make_tokens(b=2, n_ref=1, seed=0, c=16):
    g = torch.Generator().manual_seed(seed)
    n_v = GRID[0] * GRID[1] * GRID[2]
    x = torch.randn(b, n_v, c, generator=g)
    refs = [torch.randn(b, REF_GRID[0] * REF_GRID[1], c, generator=g) for _ in range(n_ref)]
    return x, refs


def coords_for(toy, b=2, n_ref=1, **cfg):
    return P.build_coords(toy.transformer.rope, b, GRID, [REF_GRID] * n_ref, P.PositionConfig(**cfg))


def tiny_base_recipe():
    """The base recipe cut to a few steps of everything (about half a minute on 2 cores)."""
    from stdrc_lib.toy import base as B

    return B.BaseRecipe(
        vae_stages=(dict(steps=3, stop_after=2, batch=2), dict(steps=1, batch=2, crop=32, seed=1)), vae_eval_clips=2,
        readout_steps=2, readout_pool=3, readout_eval_clips=3, n_clips=4,
        transformer=B.base_train_config(steps=2, batch=2, warmup=1, ckpt_every=1),
        keyframe_clips=4, keyframes=B.keyframe_train_config(steps=2, batch=2, warmup=1, ckpt_every=1),
    )  # fmt: skip


@pytest.fixture
def tiny_recipe():
    return tiny_base_recipe()


@pytest.fixture(scope="session")
def tiny_shipped(tmp_path_factory):
    """A data folder laid out as the shipped one (toy/base, toy/stdrc), with a tiny base built by the base recipe
    and a tiny adapter fine-tuned on it: ``(data_root, base_manifest_extra)``."""
    from stdrc_lib.toy import adapter as AD
    from stdrc_lib.toy import base as B

    root = tmp_path_factory.mktemp("shipped")
    extra = B.build(root / "toy" / "base", tiny_base_recipe(), runs=root / "runs")
    cfg = AD.AdapterConfig(steps=2, batch=2, warmup=1, n_clips=4, ckpt_every=1)
    AD.train_adapter(root / "toy" / "base", cfg, root / "toy" / "stdrc", root / "runs" / "adapter", progress=False)
    return root, extra


@pytest.fixture
def use_tiny_shipped(tiny_shipped, monkeypatch):
    """Point the library's shipped-weight folders at :func:`tiny_shipped`'s."""
    root, _ = tiny_shipped
    monkeypatch.setattr(TW, "TOY_DIR", root / "toy")
    monkeypatch.setattr(TW, "BASE_DIR", root / "toy" / "base")
    monkeypatch.setattr(TW, "ADAPTER_DIR", root / "toy" / "stdrc")
    return root
