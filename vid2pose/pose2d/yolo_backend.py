"""``--pose2d yolo``: Ultralytics YOLO pose models (one stage: boxes + 17 COCO keypoints per person).

Optional extra: ``pip install "vid2pose[yolo]"``. Ultralytics needs an importable torchvision
that matches the installed torch (see the README's "yolo" install notes); without it the backend
stops with a one-line MissingDependencyError. Ultralytics and its published weights are AGPL-3.0.

Weights: registry ``yolo11n-pose`` = ``yolo11n-pose.pt`` from the ultralytics/assets GitHub release
(URL in vid2pose.weights), looked up in the usual weights folders; ``--pose2d-weights PATH``
(``weights``) takes any Ultralytics pose checkpoint with 17 keypoints (e.g. yolo11x-pose.pt,
yolo26n-pose.pt, or one trained by the user). Nothing is downloaded.

Safety: Ultralytics ``.pt`` files are pickles. They are loaded through Ultralytics' restricted
loader (``torch.load(weights_only=True)`` with an allow-list of its own model classes), so a file
holding anything else is refused with a WeightsError unless ``trust=True`` (the CLI's
``--trust-weights``). An Ultralytics release without that loader can only unpickle fully, so
then ``trust=True`` is required.

Offline: before ultralytics is imported we set ``YOLO_OFFLINE=1`` (no connectivity checks, no
telemetry), ``YOLO_AUTOINSTALL=false`` (it would otherwise pip-install missing packages at run time),
``YOLO_VERBOSE=false`` unless set, and ``YOLO_CONFIG_DIR`` (where it writes settings.json) to
``$XDG_CACHE_HOME/vid2pose/ultralytics`` unless set. Ultralytics' plotting is never used: its PIL
path downloads a font even when offline.

All frames of one ``process`` call go to a single ``predict`` call (chunks of MAX_BATCH frames to
bound memory), which batches them on the device; ``--device cuda`` runs in half precision.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from vid2pose.errors import MissingDependencyError, WeightsError
from vid2pose.types import Person2D, WeightsIdentity
from vid2pose.weights import identity, resolve

log = logging.getLogger(__name__)

WEIGHTS_NAME = "yolo11n-pose"
FLAG = "--pose2d-weights"
INSTALL = ('pip install "vid2pose[yolo]"  (ultralytics, AGPL-3.0; it needs a torchvision build that '
           'matches your torch)')
MAX_BATCH = 16
NUM_KEYPOINTS = 17


def config_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "vid2pose" / "ultralytics"


def _prepare_environment() -> None:
    """Ultralytics reads these when it is first imported, so they must be set before that."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    if not os.environ.get("YOLO_CONFIG_DIR"):
        d = config_dir()
        d.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(d)


def import_ultralytics():
    """The YOLO class, or a MissingDependencyError that says how to install it."""
    if importlib.util.find_spec("ultralytics") is None:
        raise MissingDependencyError(f"the yolo backend needs ultralytics, which is not installed: {INSTALL}")
    _prepare_environment()
    try:
        # A torchvision built for another torch imports but lacks its C++ ops; ultralytics only
        # fails at the first predict then, so check here to fail early and clearly.
        import torchvision  # noqa: F401
        from torchvision.ops import nms
        import torch

        nms(torch.zeros((1, 4)), torch.zeros(1), 0.5)
        from ultralytics import YOLO
    except Exception as e:
        detail = " ".join(str(e).split())[:160]
        raise MissingDependencyError(
            f"ultralytics or torchvision cannot be used ({type(e).__name__}: {detail}); {INSTALL}") from e
    return YOLO


def map_device(device: str) -> tuple[str, bool]:
    """vid2pose device -> (ultralytics device string, use half precision)."""
    d = (device or "cpu").lower()
    if d.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return (d if ":" in d else "cuda:0"), True
        log.warning("CUDA was asked for but torch sees no GPU; running YOLO on the CPU")
    elif d == "mps":
        return "mps", False
    return "cpu", False


def _clean(e: Exception) -> str:
    text = " ".join(str(e).split()).replace("ERROR ❌️", "").strip()
    return text.encode("ascii", "ignore").decode()[:200]


def load_model(yolo_cls, path: Path, trust: bool = False):
    """YOLO model from an Ultralytics .pt file, refusing arbitrary pickles unless ``trust``."""
    if path.suffix.lower() != ".pt":
        raise WeightsError(f"{path.name}: the yolo backend loads Ultralytics .pt checkpoints")
    from ultralytics.nn import tasks

    safe_loader = getattr(getattr(tasks, "_SafeLoad", None), "SUPPORTED", False) and hasattr(tasks, "SAFE_LOAD")
    if not trust and not safe_loader:
        raise WeightsError(
            f"{path.name}: this ultralytics version can only load .pt files by full unpickling, which could "
            "run code from the file; upgrade ultralytics, or pass --trust-weights if you trust where it came from")
    saved = getattr(tasks, "SAFE_LOAD", None)
    try:
        if not trust:
            tasks.SAFE_LOAD = True  # ultralytics' own restricted (weights_only) loader for this load
        model = yolo_cls(str(path.resolve()))
    except Exception as e:
        msg = _clean(e)
        if "outside the supported" in msg:
            raise WeightsError(
                f"{path.name} holds Python objects beyond Ultralytics model classes, and loading it could run "
                "code from the file; pass --trust-weights if you trust where it came from") from e
        raise WeightsError(f"{path.name} is not a loadable Ultralytics checkpoint ({type(e).__name__}: {msg})") from e
    finally:
        if saved is not None:
            tasks.SAFE_LOAD = saved
    kpt = getattr(getattr(model, "model", None), "kpt_shape", None)
    if getattr(model, "task", None) != "pose" or not kpt or int(kpt[0]) != NUM_KEYPOINTS:
        raise WeightsError(f"{path.name} is not a COCO-17 pose model (task={getattr(model, 'task', None)}, "
                           f"kpt_shape={kpt}); the yolo backend needs e.g. yolo11n-pose.pt")
    return model


class YoloPoseBackend:
    name = "yolo"
    skeleton = "coco17"

    def __init__(self, path: Path, device: str = "cpu", conf: float = 0.25, iou: float = 0.7,
                 imgsz: int = 640, trust: bool = False):
        yolo_cls = import_ultralytics()
        self.path = Path(path)
        self.model = load_model(yolo_cls, self.path, trust)
        self.device, self.half = map_device(device)
        self.conf, self.iou, self.imgsz = conf, iou, imgsz
        self._ids: list[WeightsIdentity] | None = None

    def _predict(self, frames: list[np.ndarray]):
        return self.model.predict(
            frames, conf=self.conf, iou=self.iou, imgsz=self.imgsz, device=self.device, half=self.half,
            classes=[0], verbose=False, save=False, show=False, stream=False, batch=len(frames))

    @staticmethod
    def _people(result, shape) -> list[Person2D]:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0 or result.keypoints is None:
            return []
        h, w = shape[:2]
        xyxy = boxes.xyxy.float().cpu().numpy().astype(np.float32)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        score = boxes.conf.float().cpu().numpy()
        kp = result.keypoints.data.float().cpu().numpy().astype(np.float32)
        if kp.shape[-1] == 2:  # a model trained without keypoint visibility: treat all as seen
            kp = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,), np.float32)], -1)
        kp[..., 2] = kp[..., 2].clip(0, 1)
        order = np.argsort(-score, kind="stable")
        return [Person2D(bbox=xyxy[i], score=float(np.clip(score[i], 0, 1)), keypoints=kp[i]) for i in order]

    def process(self, images: Sequence[np.ndarray]) -> list[list[Person2D]]:
        out: list[list[Person2D]] = []
        for start in range(0, len(images), MAX_BATCH):
            frames = [np.ascontiguousarray(im) for im in images[start:start + MAX_BATCH]]
            for res, im in zip(self._predict(frames), frames):
                out.append(self._people(res, im.shape))
        return out

    def reset(self) -> None:
        pass  # predict() with the default tracker off keeps no state between frames

    def weights(self) -> list[WeightsIdentity]:
        if self._ids is None:
            self._ids = [identity(WEIGHTS_NAME, self.path)]
        return list(self._ids)

    def close(self) -> None:
        self.model = None


def create(weights: Path | str | None = None, device: str = "cpu", trust: bool = False,
           conf: float = 0.25) -> YoloPoseBackend:
    """``weights`` replaces yolo11n-pose.pt (--pose2d-weights); ``trust`` allows full unpickling."""
    if importlib.util.find_spec("ultralytics") is None:  # say what to install before asking for a file
        raise MissingDependencyError(f"the yolo backend needs ultralytics, which is not installed: {INSTALL}")
    path = resolve(WEIGHTS_NAME, weights, FLAG)
    return YoloPoseBackend(path, device=device, conf=conf, trust=trust)
