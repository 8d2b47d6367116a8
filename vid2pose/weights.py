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
# GLoT mesh chain (spec glot.md 3-4). None of these files may be redistributed by us: user downloads.
_GLOT_DRIVE = "https://drive.google.com/drive/folders/1PXWeHeo1e5gyXqLpEhIpatlNLd-8lpmc"
_GLOT_LICENCE = ("GLoT README says MIT (the repo has no LICENSE file; many files keep VIBE's MPG "
                 "non-commercial header); the checkpoints embed SMPL model arrays (SMPL licence, non-commercial)")
register(WeightsSpec(
    name="glot-3dpw", task="mesh", filename="table1_3dpw_weights.pth.tar",
    source=f"GLoT authors' Google Drive folder {_GLOT_DRIVE} (github.com/sxl142/GLoT)",
    licence=_GLOT_LICENCE,
    description="GLoT video mesh recovery, Table 1 3DPW model (the official demo's config; default)",
))
register(WeightsSpec(
    name="glot-h36m-mpii3d", task="mesh", filename="table1_h36m_mpii3d_weights.pth.tar",
    source=f"GLoT authors' Google Drive folder {_GLOT_DRIVE} (github.com/sxl142/GLoT)",
    licence=_GLOT_LICENCE,
    description="GLoT, Table 1 Human3.6M / MPI-INF-3DHP model",
))
register(WeightsSpec(
    name="glot-3dpw-no3dpwtrain", task="mesh", filename="table2_3dpw_weights.pth.tar",
    source=f"GLoT authors' Google Drive folder {_GLOT_DRIVE} (github.com/sxl142/GLoT)",
    licence=_GLOT_LICENCE,
    description="GLoT, Table 2 3DPW model (trained without 3DPW)",
))
register(WeightsSpec(
    name="spin-resnet50", task="mesh", filename="spin_model_checkpoint.pth.tar",
    source=f"GLoT base_data folder {_GLOT_DRIVE}; also in VIBE's vibe_data.zip and TCMR's base_data.zip; "
           "it is SPIN's http://visiondata.cis.upenn.edu/spin/model_checkpoint.pt (rename it)",
    licence="SPIN code and release: BSD-3-Clause (github.com/nkolot/SPIN); trained on research-only datasets "
            "(Human3.6M, MPI-INF-3DHP, ...) with SMPL fits; the VIBE bundle's own terms are MPG non-commercial "
            "research only",
    description="SPIN/HMR ResNet-50 trunk: the per-frame 2048-d image features GLoT reads",
))
register(WeightsSpec(
    name="smpl-neutral", task="body", filename="smpl/SMPL_NEUTRAL.pkl",
    source="https://smplify.is.tue.mpg.de (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl, the file GLoT uses) "
           "or https://smpl.is.tue.mpg.de (SMPL for Python v1.1.0, basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl); "
           "free registration, then rename to SMPL_NEUTRAL.pkl",
    licence="SMPL / SMPLify model licence: non-commercial research only, registration required, no redistribution",
    description="SMPL neutral body model (6890 vertices) for GLoT meshes; --smpl-dir or weights/smpl/",
))
register(WeightsSpec(
    name="smpl-j-regressor-extra", task="body", filename="smpl/J_regressor_extra.npy",
    source="SPIN data bundle http://visiondata.cis.upenn.edu/spin/data.tar.gz (data/J_regressor_extra.npy); "
           f"also in GLoT's base_data {_GLOT_DRIVE}",
    licence="shipped with SPIN (BSD-3-Clause); a regressor defined on the SMPL mesh, only usable with SMPL "
            "(non-commercial)",
    description="9 extra joints (LSP/MPII/H36M head, neck, ...) of GLoT's 49-joint set",
))
register(WeightsSpec(
    name="smpl-j-regressor-h36m", task="body", filename="smpl/J_regressor_h36m.npy",
    source="SPIN data bundle http://visiondata.cis.upenn.edu/spin/data.tar.gz (data/J_regressor_h36m.npy); "
           f"also in GLoT's base_data {_GLOT_DRIVE}",
    licence="shipped with SPIN (BSD-3-Clause); a regressor defined on the SMPL mesh, only usable with SMPL "
            "(non-commercial)",
    description="Human3.6M 17 joints from SMPL vertices",
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
    except Exception as e:  # torch raises many types on foreign bytes (KeyError, RuntimeError, EOFError...)
        raise WeightsError(f"{path.name} is not a readable PyTorch checkpoint ({type(e).__name__})") from e
