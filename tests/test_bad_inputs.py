"""Each bad input ends in an error that names the argument."""

import numpy as np
import pytest
import torch

from stdrc_lib.core import positions as P
from stdrc_lib.core import reference as R
from stdrc_lib.core import sampling as S
from stdrc_lib.pipeline import generate
from stdrc_lib.toy import sample_reference


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((2, 8, 8, 3), np.uint8), "`image` must have 2"),  # wrong ndim
        (np.zeros((8,), np.uint8), "`image` must have 2"),
        (np.zeros((8, 8, 5), np.uint8), "1, 3 or 4 channels"),  # wrong channel count
        (torch.zeros(2, 8, 8), "1, 3 or 4 channels"),
        ("face.png", "PIL.Image"),  # not an image
        (np.zeros((0, 4, 3), np.uint8), "at least 1×1"),
        (np.full((4, 4, 3), 3.0, np.float32), r"\[0, 1\]"),
    ],
)
def test_bad_images(image, match):
    with pytest.raises((ValueError, TypeError), match=match):
        R.image_to_tensor(image)


def test_nan_reference():
    img = np.random.rand(8, 8, 3).astype(np.float32)
    img[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="`image` contains 1 NaN"):
        R.image_to_tensor(img)


def test_nan_latents(toy):
    z = torch.zeros(1, 16, 2, 4, 4)
    z[0, 0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="`latents` contains 0 NaN and 1 Inf"):
        R.decode(toy.vae, z)


@pytest.mark.parametrize(
    "shape, match",
    [
        ((1, 3, 32, 32), "must be 5-D"),
        ((1, 4, 5, 32, 32), "must have 3 channels"),
        ((1, 3, 6, 32, 32), r"k·4\+1"),
        ((1, 3, 5, 30, 32), "multiple of the VAE's spatial factor 8"),
    ],
)
def test_bad_video_shapes(toy, shape, match):
    with pytest.raises(ValueError, match=match):
        R.encode(toy.vae, torch.zeros(shape))


def test_generate_sizes(toy):
    with pytest.raises(ValueError, match="num_frames"):
        generate(toy, "a face", None, num_frames=8, height=32, width=32, num_steps=1)
    with pytest.raises(ValueError, match="height"):
        generate(toy, "a face", None, num_frames=5, height=36, width=32, num_steps=1)


def test_unknown_scheme_name():
    with pytest.raises(ValueError, match="`scheme` must be one of"):
        P.PositionConfig(scheme="diag")


def test_prompt_type(toy):
    with pytest.raises(TypeError, match="prompts"):
        toy.text_encoder.tokenize([1, 2])


def test_conditioning_batch_mismatch(toy):
    text, m = toy.text_encoder.encode(["a", "b"])
    null, nm = toy.text_encoder.encode([""])
    with pytest.raises(ValueError, match="null_text"):
        S.Conditioning(text, m, null, nm)
    with pytest.raises(ValueError, match="number of references must match"):
        S.Conditioning(text, m, text, m, [torch.zeros(3, 16, 16)], [(4, 4)])


def test_nan_reference_tokens(toy):
    text, m = toy.text_encoder.encode(["a"])
    ref = torch.zeros(1, 16, 16)
    ref[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="refs"):
        S.Conditioning(text, m, text, m, [ref], [(4, 4)])


def test_reference_image_with_nan_through_generate(toy):
    img = sample_reference(0).astype(np.float32) / 255
    img[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`image` contains"):
        generate(toy, "a face", img, num_frames=5, height=32, width=32, num_steps=1)
