"""Face backends: the ArcFace ONNX paths (insightface model_zoo, onnx2torch) and offline detection on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stdrc_lib.prep import faces as F

pytest.importorskip("insightface")
pytest.importorskip("onnxruntime")


class TinyArcFace(torch.nn.Module):
    """ArcFace-shaped stand-in: 1×3×112×112 → 1×512 (a few convs and a linear head)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, 2, 1),
            torch.nn.BatchNorm2d(8),
            torch.nn.PReLU(8),
            torch.nn.Conv2d(8, 16, 3, 2, 1),
            torch.nn.BatchNorm2d(16),
            torch.nn.PReLU(16),
            torch.nn.AdaptiveAvgPool2d(4),
            torch.nn.Flatten(),
            torch.nn.Linear(256, 512),
        )

    def forward(self, x):
        return self.body(x)


@pytest.fixture(scope="module")
def arcface_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyArcFace().eval()
    path = tmp_path_factory.mktemp("arcface") / "w600k_tiny.onnx"
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 112, 112),),
        str(path),
        input_names=["input"],
        output_names=["embedding"],
        dynamo=False,
        opset_version=17,
    )
    return path


def test_tiny_arcface_loads_through_insightface_model_zoo(arcface_onnx):
    from insightface.model_zoo import get_model

    rec = get_model(str(arcface_onnx), providers=["CPUExecutionProvider"])
    assert rec is not None and rec.taskname == "recognition"
    assert tuple(rec.input_size) == (112, 112)
    feat = rec.get_feat(np.zeros((112, 112, 3), np.uint8))
    assert feat.shape == (1, 512)


def test_onnx2torch_matches_onnxruntime(arcface_onnx):
    import onnxruntime as ort

    torch_model = F.to_torch(arcface_onnx)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    sess = ort.InferenceSession(str(arcface_onnx), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = torch_model(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 512)
    assert np.abs(got - want).max() <= 1e-5


def test_differentiable_embedder_sends_gradients(arcface_onnx):
    emb = F.InsightFaceEmbedder(model_file=arcface_onnx, differentiable=True)
    x = torch.rand(2, 3, 112, 112, requires_grad=True)
    e = emb.embed(x * 2 - 1)
    assert e.shape == (2, 512) and torch.allclose(e.norm(dim=-1), torch.ones(2), atol=1e-5)
    e.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="faces"):
        emb.embed(torch.zeros(1, 3, 64, 64))


def test_missing_model_pack_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"buffalo_l.*not found.*unzip"):
        F.InsightFaceEmbedder(pack="buffalo_l", root=tmp_path)


def test_offline_detection_finds_the_astronaut_face():
    skdata = pytest.importorskip("skimage.data")
    img = skdata.astronaut()  # a real photograph shipped inside scikit-image
    faces = F.MTCNNDetector().detect(img)
    assert faces, "no face found in the astronaut photograph"
    x0, y0, x1, y1 = faces[0]["box"]
    # Eileen Collins' face sits in the upper middle of the 512×512 picture
    assert 120 < (x0 + x1) / 2 < 300 and 40 < (y0 + y1) / 2 < 200, faces[0]["box"]
    lm = faces[0]["landmarks"]
    assert lm[0, 0] < lm[1, 0]  # left eye left of right eye
    aligned = F.detect_and_align(img)
    assert aligned.shape == (112, 112, 3)
    crop = F.crop_reference(img)
    assert crop.shape[0] > 64 and crop.shape[1] > 64


def test_insightface_sample_photo_and_arcface_onnx_end_to_end(arcface_onnx):
    import os

    import insightface
    from PIL import Image

    photo = os.path.join(os.path.dirname(insightface.__file__), "data", "images", "Tom_Hanks_54745.png")
    emb = F.InsightFaceEmbedder(model_file=arcface_onnx).embed_image(Image.open(photo))
    assert emb.shape == (512,) and abs(float(np.linalg.norm(emb)) - 1) < 1e-5


def test_no_face_is_reported_clearly():
    skdata = pytest.importorskip("skimage.data")
    img = skdata.coffee()  # a cup of coffee: no face
    assert F.MTCNNDetector().detect(img) == []
    with pytest.raises(F.NoFaceFoundError, match="no face found in `image`.*detect_face=False"):
        F.detect_and_align(img)


def test_default_detector_falls_back_to_mtcnn_without_a_pack(tmp_path):
    det = F.default_detector(root=tmp_path)
    assert isinstance(det, F.MTCNNDetector)


# ------------------------------------------------------------------ the bundled face metric (SFace, offline)
def _photos():
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((256, 300)))
    return hopper, data.astronaut()  # two people, in images that ship inside installed packages


@pytest.fixture(scope="module")
def sface():
    return F.SFaceEmbedder()


def test_sface_tells_two_people_apart(sface):
    hopper, astronaut = _photos()
    a, b = sface.embed_image(hopper), sface.embed_image(np.roll(hopper, 12, axis=1))
    c = sface.embed_image(astronaut)
    assert a.shape == (128,) and abs(np.linalg.norm(a) - 1) < 1e-6
    assert float(a @ b) > 0.9 > 0.5 > float(a @ c)
    assert (
        sface.detect(np.zeros((64, 64, 3), np.uint8)) == []
        and sface.embed_image(np.zeros((64, 64, 3), np.uint8)) is None
    )


def test_video_face_similarity_skips_frames_without_a_face(sface):
    hopper, astronaut = _photos()
    frames = np.stack([np.roll(hopper, s, axis=1) for s in range(0, 40, 5)])
    frames[3] = 0  # a frame with nobody in it
    same = F.video_face_similarity(frames, hopper, sface, n_frames=8)
    assert same["frames_scored"] == 7 and same["frames_without_face"] == 1 and same["per_frame"][3] is None
    other = F.video_face_similarity(frames, astronaut, sface, n_frames=8)
    assert same["face_similarity"] > 0.9 and other["face_similarity"] < 0.5
    assert F.video_face_similarity(frames, hopper, sface, n_frames=3)["frame_indices"] == [0, 4, 7]
    with pytest.raises(F.NoFaceFoundError, match="`reference`"):
        F.video_face_similarity(frames, np.zeros((64, 64, 3), np.uint8), sface)
    with pytest.raises(ValueError, match=r"`frames` must be \(F, H, W, 3\)"):
        F.video_face_similarity(frames[0], hopper, sface)
    with pytest.raises(ValueError, match="`n_frames`"):
        F.video_face_similarity(frames, hopper, sface, n_frames=0)


def test_stdrc_eval_video_scores_an_mp4_against_a_photo(tmp_path, capsys):
    import json

    from PIL import Image

    from stdrc_lib.cli import main
    from stdrc_lib.viz import write_video

    hopper, astronaut = _photos()
    video = write_video(tmp_path / "clip.mp4", np.stack([np.roll(hopper, s, axis=1) for s in range(0, 32, 4)]),
                        upscale=1)  # fmt: skip
    Image.fromarray(hopper).save(tmp_path / "hopper.png")
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    out = tmp_path / "score.json"
    assert (
        main(["eval-video", "--video", str(video), "--reference", str(tmp_path / "hopper.png"), "--out", str(out)]) == 0
    )
    rec = json.loads(out.read_text())
    assert rec["written_by"] == "stdrc" and rec["embedder"] == "sface" and rec["face_similarity"] > 0.8
    assert "FaceSim (sface)" in capsys.readouterr().out
    assert (
        main(["eval-video", "--video", str(video), "--reference", str(tmp_path / "astronaut.png"), "--out", str(out)])
        == 0
    )
    assert json.loads(out.read_text())["face_similarity"] < 0.5  # its own record: replaced
    (tmp_path / "mine.json").write_text("{}")
    assert main(["eval-video", "--video", str(video), "--reference", str(tmp_path / "hopper.png"),
                 "--out", str(tmp_path / "mine.json")]) == 2  # fmt: skip
    assert "not written by stdrc" in capsys.readouterr().err and (tmp_path / "mine.json").read_text() == "{}"
    assert main(["eval-video", "--video", str(tmp_path / "none.mp4"), "--reference", str(out)]) == 2
    assert "`--video`" in capsys.readouterr().err
