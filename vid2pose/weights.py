"""One registry of every model file the tool knows, and how a file is found and loaded.

Lookup order for a model's file (first hit wins):
  1. an explicit path flag (e.g. ``--pose2d-weights PATH``),
  2. each folder in ``$VID2POSE_WEIGHTS`` (os.pathsep-separated),
  3. ``./weights`` in the current directory,
  4. the ``weights/`` folder of the vid2pose checkout (editable installs),
  5. the user cache, ``$XDG_CACHE_HOME/vid2pose/weights`` (default ``~/.cache/vid2pose/weights``).
Nothing is ever downloaded: when a file is missing the error says which file,
where it is published, its licence and where to put it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from vid2pose.errors import MissingWeightsError, WeightsError
from vid2pose.types import WeightsIdentity

REPO_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@dataclass(frozen=True)
class WeightsSpec:
    name: str  # registry key, shown by `vid2pose weights`
    task: str  # "pose2d", "detector", "lifter", "mesh", "body"
    filename: str  # expected file name in a weights folder
    source: str  # where the file is published
    licence: str
    description: str = ""
    bundled_with: str = ""  # a package that ships the file (then no user action is needed)
    sha256: str = ""  # known digest of the published file, when we know it


WEIGHTS: dict[str, WeightsSpec] = {}


def register(spec: WeightsSpec) -> WeightsSpec:
    WEIGHTS[spec.name] = spec
    return spec


register(WeightsSpec(
    name="blazepose-full", task="pose2d", filename="pose_landmark_full.tflite",
    source="shipped inside the mediapipe 0.10.21 wheel (mediapipe/modules/pose_landmark/)",
    licence="Apache-2.0", bundled_with="mediapipe",
    description="BlazePose GHUM full landmark model, 33 keypoints (default 2D backend)",
))
register(WeightsSpec(
    name="blazepose-detector", task="detector", filename="pose_detection.tflite",
    source="shipped inside the mediapipe 0.10.21 wheel (mediapipe/modules/pose_detection/)",
    licence="Apache-2.0", bundled_with="mediapipe",
    description="BlazePose person detector (finds every person; boxes for the landmark model)",
))
# RTMPose / YOLOX: OpenMMLab's ONNX releases ship as zips holding end2end.onnx; rtmlib stores that file
# under the zip's stem + ".onnx", and so do we (users of rtmlib can copy ~/.cache/rtmlib/hub/checkpoints/*).
register(WeightsSpec(
    name="rtmpose-m-body7", task="pose2d",
    filename="rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.onnx",
    source="https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
           "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip "
           "(unzip, rename its end2end.onnx to that file name)",
    licence="Apache-2.0",
    description="RTMPose-m SimCC, COCO-17 keypoints, 256x192 input (rtmpose 2D backend)",
))
register(WeightsSpec(
    name="yolox-m-humanart", task="detector",
    filename="yolox_m_8xb8-300e_humanart-c2c7a14a.onnx",
    source="https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
           "yolox_m_8xb8-300e_humanart-c2c7a14a.zip (unzip, rename its end2end.onnx to that file name)",
    licence="Apache-2.0",
    description="YOLOX-m person detector with NMS inside (boxes for the rtmpose backend)",
))
register(WeightsSpec(
    name="yolo11n-pose", task="pose2d", filename="yolo11n-pose.pt",
    source="https://github.com/ultralytics/assets/releases/download/v8.4.0/yolo11n-pose.pt",
    licence="AGPL-3.0 (Ultralytics)",
    description="Ultralytics YOLO11n-pose, COCO-17 keypoints (yolo 2D backend, optional extra)",
))


def weights_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("VID2POSE_WEIGHTS", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "weights", REPO_WEIGHTS]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    dirs.append(cache / "vid2pose" / "weights")
    seen, out = set(), []
    for d in dirs:
        key = d.resolve() if d.exists() else d
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def find(name: str) -> Path | None:
    """The file of registry entry ``name`` in the weights folders, or None."""
    spec = WEIGHTS[name]
    for d in weights_dirs():
        p = d / spec.filename
        if p.is_file():
            return p
    return None


def missing_message(name: str, flag: str | None = None) -> str:
    spec = WEIGHTS[name]
    where = f"put it in weights/ (or {REPO_WEIGHTS}, $VID2POSE_WEIGHTS, ~/.cache/vid2pose/weights)"
    if flag:
        where += f" or pass {flag} PATH"
    return (f"missing weights for {spec.name}: {spec.filename} was not found; "
            f"get it from {spec.source} (licence: {spec.licence}) and {where}")


def resolve(name: str, override: Path | str | None = None, flag: str | None = None) -> Path:
    """Path of the file for registry entry ``name``; an explicit ``override`` path wins."""
    if override is not None:
        p = Path(override).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"weights file {p} does not exist")
        return p
    p = find(name)
    if p is None:
        raise MissingWeightsError(missing_message(name, flag))
    return p


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def identity(name: str, path: Path | str) -> WeightsIdentity:
    return WeightsIdentity(name=name, file=Path(path).name, sha256=sha256_file(path))


def load_torch_checkpoint(path: Path | str, trust: bool = False):
    """Read a PyTorch checkpoint safely (tensors and plain containers only).

    Full unpickling can run arbitrary code, so a file that needs it is refused
    unless the user says they trust it (``--trust-weights``).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as e:
        if trust:
            raise WeightsError(f"{path.name} is not a readable PyTorch checkpoint: {e}") from e
        raise WeightsError(
            f"{path.name} holds Python objects beyond tensors, and loading it could run code from the "
            "file; pass --trust-weights if you trust where it came from") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(f"{path.name} is not a readable PyTorch checkpoint ({type(e).__name__})") from e
