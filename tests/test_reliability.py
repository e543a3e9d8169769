"""Reliability: more bad inputs, property tests, safe loading, and no network at all."""

from __future__ import annotations

import json
import re
import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stdrc_lib.core import guidance as G
from stdrc_lib.core import positions as P
from stdrc_lib.core import reference as R
from stdrc_lib.pipeline import generate
from stdrc_lib.toy import weights as TW

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- bad inputs
def test_very_large_image_is_refused_before_conversion():
    big = np.zeros((9000, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"`image` is 9000×16 pixels.*at most 8192"):
        R.image_to_tensor(big)


def test_exif_rotated_photo_is_turned_upright():
    from PIL import Image

    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    import io

    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    x = R.image_to_tensor(Image.open(io.BytesIO(buf.getvalue())))
    assert tuple(x.shape) == (3, 40, 20)  # upright: portrait
    assert x[:, :18].mean() > 0.5 and x[:, 22:].mean() < -0.5  # the white half is now on top


def test_unknown_guidance_order():
    with pytest.raises(ValueError, match="`order` must be one of"):
        G.GuidanceConfig(order="sideways")


def test_non_finite_guidance_scale():
    with pytest.raises(ValueError, match="`s_ref` must be a finite number"):
        G.GuidanceConfig(s_ref=float("inf"))


@pytest.mark.parametrize("steps", [0, -3])
def test_zero_or_negative_steps(toy, steps):
    with pytest.raises(ValueError, match="`num_steps` must be a positive integer"):
        generate(toy, "a face", None, num_frames=5, height=32, width=32, num_steps=steps, progress=False)


def test_truncated_safetensors_names_the_file(tmp_path):
    src = TW.BASE_DIR
    dst = tmp_path / "toy"
    shutil.copytree(src, dst)
    f = dst / "text_encoder" / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors.*truncated or corrupt"):
        TW.load_toy(dst)


def test_config_with_unknown_keys(tmp_path):
    dst = tmp_path / "te"
    shutil.copytree(TW.BASE_DIR / "text_encoder", dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg["hidden_size"] = 7
    (dst / "config.json").write_text(json.dumps(cfg))
    from stdrc_lib.toy.text import ToyTextEncoder

    with pytest.raises(ValueError, match=r"unknown keys \['hidden_size'\]"):
        ToyTextEncoder.load(dst)


def test_bad_training_config():
    from stdrc_lib.toy.train import ToyTrainConfig

    with pytest.raises(ValueError, match="`p_text` must be in"):
        ToyTrainConfig(p_text=1.5)
    with pytest.raises(ValueError, match="`lambda_id` must be"):
        ToyTrainConfig(lambda_id=-1)
    with pytest.raises(ValueError, match="`scheme` must be one of"):
        ToyTrainConfig(scheme="diagonal")


def test_identity_loss_without_embedder(toy):
    from stdrc_lib.toy.train import ToyTrainConfig, train_toy

    with pytest.raises(ValueError, match="`embedder` must be a differentiable FaceEmbedder"):
        train_toy(toy, ToyTrainConfig(steps=1, lambda_id=0.5), progress=False)


def test_not_a_checkpoint_folder(tmp_path):
    from stdrc_lib.train import checkpoint as C

    with pytest.raises(FileNotFoundError, match="is not a checkpoint"):
        C.load_checkpoint(tmp_path, {})
    (tmp_path / "latest").write_text("step-000009")
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        C.latest_checkpoint(tmp_path)


def test_frame_count_and_sizes_in_latent_grid(toy):
    with pytest.raises(ValueError, match=r"`num_frames` must be k·4\+1"):
        toy.latent_grid(18, 64, 64)
    with pytest.raises(ValueError, match="multiple of the VAE.s spatial factor 8"):
        toy.latent_grid(17, 64, 60)


# ----------------------------------------------------------------------------- safe loading
def test_no_pickle_loading_anywhere():
    """torch.load only with weights_only=True; the library itself never calls it."""
    offenders = []
    for path in list((ROOT / "stdrc_lib").rglob("*.py")) + list((ROOT / "bench").rglob("*.py")):
        for m in re.finditer(r"torch\.load\(([^)]*)\)", path.read_text()):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not offenders, offenders
    shipped = [p for p in (ROOT / "data").rglob("*") if p.is_file() and p.suffix in (".pt", ".pth", ".bin", ".ckpt")]
    assert not shipped, f"weights must be safetensors, found {shipped}"


# ----------------------------------------------------------------------------- properties
class _Rope:
    """The toy transformer's rope (built once)."""

    rope = None


def _rope():
    if _Rope.rope is None:
        _Rope.rope = TW.build_toy(num_layers=1).transformer.rope
    return _Rope.rope


@settings(max_examples=25, deadline=None)
@given(
    scheme=st.sampled_from(["temporal_pre", "spatial", "tass_pre"]),
    f=st.integers(1, 4),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    dt=st.integers(1, 3),
    dh=st.floats(0.0, 1.0),
    dw=st.floats(0.0, 1.0),
)
def test_reference_offsets_do_not_depend_on_the_video_length(scheme, f, h, w, dt, dh, dw):
    """A reference's shift from the video's frame 0 is set by (Δt, Δh, Δw) alone, not by F (``tass`` instead
    follows the video's end: see test_tass_follows_the_video_s_end)."""
    rope = _rope()
    cfg = P.PositionConfig(scheme=scheme, dt_frames=dt, dh=dh, dw=dw, fps=24.0)
    with warnings.catch_warnings():  # large random offsets may trip the out-of-range warning
        warnings.simplefilter("ignore")
        a = P.build_coords(rope, 1, (f, h, w), [(h, w)], cfg)
        b = P.build_coords(rope, 1, (f + 2, h, w), [(h, w)], cfg)
    ra, rb = a[:, :, f * h * w :], b[:, :, (f + 2) * h * w :]
    assert torch.allclose(ra, rb)
    # and relative to the video's first frame the shift is exactly the configured one
    shift = ra.mean(-1)[0, :, 0] - a.mean(-1)[0, :, 0]
    s_t, s_h, s_w = rope.scale_factors
    if scheme in ("temporal_pre", "tass_pre"):
        assert shift[0].item() == pytest.approx(-dt / 24.0, abs=1e-6)
    else:
        assert shift[0].item() == pytest.approx(0.0, abs=1e-6)
    if scheme in ("spatial", "tass_pre"):
        assert shift[1].item() == pytest.approx(dh * h * s_h, rel=1e-5, abs=1e-4)
        assert shift[2].item() == pytest.approx(dw * w * s_w, rel=1e-5, abs=1e-4)


@settings(max_examples=25, deadline=None)
@given(f=st.integers(1, 6), h=st.integers(1, 6), w=st.integers(1, 6), dh=st.floats(0.0, 2.0), dw=st.floats(0.0, 2.0))
def test_tass_follows_the_video_s_end(f, h, w, dh, dw):
    """``tass`` puts the reference at the latent frame after the video's last, whatever F: its time box starts
    where the video's last latent frame ends, and its space box is the video's frame-0 grid shifted by (Δh·H, Δw·W)."""
    rope = _rope()
    cfg = P.PositionConfig(scheme="tass", dh=dh, dw=dw, fps=24.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = P.build_coords(rope, 1, (f, h, w), [(h, w)], cfg)
    n_v = f * h * w
    video, ref = c[:, :, :n_v], c[:, :, n_v:]
    assert torch.allclose(ref[0, 0, :, 0], video[0, 0, :, 1].max().expand(h * w))
    _, s_h, s_w = rope.scale_factors
    frame0 = video[:, :, : h * w]
    assert torch.allclose(ref[:, 1], frame0[:, 1] + dh * h * s_h)
    assert torch.allclose(ref[:, 2], frame0[:, 2] + dw * w * s_w)


_vec = st.lists(st.floats(-10, 10, allow_nan=False), min_size=4, max_size=4)


@settings(max_examples=50, deadline=None)
@given(u=_vec, m=_vec, c=_vec, s=st.floats(-5, 5), order=st.sampled_from(G.ORDERS))
def test_guidance_reduces_to_plain_cfg(u, m, c, s, order):
    vu, vm, vc = (torch.tensor(x, dtype=torch.float64) for x in (u, m, c))
    # equal scales: the middle stream cancels, leaving CFG between the outer streams
    assert torch.allclose(G.combine(vu, vm, vc, s, s, order), G.cfg(vu, vc, s), atol=1e-9)
    # scale 1 on the outer term and 1 on the inner one: the fully conditional stream
    assert torch.allclose(G.combine(vu, vm, vc, 1.0, 1.0, order), vc, atol=1e-9)
    # weights form equals the paper form
    w = G.stream_weights(order, s, 2.0) if order == "ref_first" else G.stream_weights(order, 2.0, s)
    args = (s, 2.0) if order == "ref_first" else (2.0, s)
    assert torch.allclose(G.combine_weighted([vu, vm, vc], w), G.combine(vu, vm, vc, *args, order), atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(u=_vec, m=_vec, c=_vec, a=st.floats(-3, 3), s_ref=st.floats(-5, 5), s_txt=st.floats(-5, 5))
def test_guidance_is_linear_in_the_velocities(u, m, c, a, s_ref, s_txt):
    vu, vm, vc = (torch.tensor(x, dtype=torch.float64) for x in (u, m, c))
    lhs = G.combine(a * vu, a * vm, a * vc, s_ref, s_txt)
    assert torch.allclose(lhs, a * G.combine(vu, vm, vc, s_ref, s_txt), atol=1e-8)
    # adding the same velocity to every stream adds it to the result (weights sum to 1)
    d = torch.ones(4, dtype=torch.float64)
    assert torch.allclose(G.combine(vu + d, vm + d, vc + d, s_ref, s_txt), G.combine(vu, vm, vc, s_ref, s_txt) + d)


# ----------------------------------------------------------------------------- no network
@pytest.fixture
def no_sockets(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise RuntimeError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return calls


def test_demo_and_training_make_no_network_connection(no_sockets, tmp_path):
    from stdrc_lib.cli import main
    from stdrc_lib.toy.train import ToyTrainConfig, build_cache, train_toy

    toy = TW.build_toy(seed=0, num_layers=1)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "2"]) == 0
    assert (tmp_path / "demo" / "demo.mp4").stat().st_size > 0
    cache = build_cache(toy.vae, 4, progress=False)
    log = train_toy(toy, ToyTrainConfig(steps=2, batch=2, n_clips=4, sample_every=0), cache=cache, progress=False)
    assert len(log["losses"]) == 2 and all(np.isfinite(log["losses"]))
    assert no_sockets == []
    with pytest.raises(RuntimeError, match="network access attempted"):  # the guard itself works
        socket.create_connection(("127.0.0.1", 9))


def test_error_table_in_docs_is_current():
    """docs/ERRORS.md lists the same cases, raising the same exception types, as the code does now."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_error_table", ROOT / "docs" / "make_error_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def cols(text):
        return [tuple(c.strip() for c in ln.split(" | ")[:2]) for ln in text.splitlines() if ln.startswith("| ")][2:]

    fresh = mod.table()
    assert len(cols(fresh)) >= 25
    assert cols(fresh) == cols((ROOT / "docs" / "ERRORS.md").read_text()), "run python docs/make_error_table.py"
