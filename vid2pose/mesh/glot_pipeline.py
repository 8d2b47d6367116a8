"""The official GLoT chain on one tracked person, streamed (spec glot.md section 1).

    tracker boxes -> square boxes -> crops (scale 1.2, 224x224) -> SPIN ResNet-50 features
    -> 16-frame windows (middle frame predicted, the demo's static edge windows)
    -> GLoT -> camera in the original frame -> SMPL (rotation matrices) -> vertices

:func:`run_glot_on_track` reads the track's frames one at a time and yields one
:class:`GlotFrame` per frame as soon as the features its window needs exist, so memory holds
about ``crop_batch + window_batch + 16`` feature rows whatever the track length. The pure
helpers it uses (windows, crops, camera) live in :mod:`vid2pose.mesh.glot_chain` and match the
official code on golden data.

Frames of the track are fed in track order; gaps inside a track are ignored, as the official
demo does (spec 1.2): window positions are positions in the track, not video frame numbers.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vid2pose.mesh import glot_chain

__all__ = ["GlotFrame", "GlotModels", "square_boxes", "cam_to_translation", "run_glot_on_track",
           "load_glot_models", "BBOX_SCALE", "CROP_SIZE"]

BBOX_SCALE = 1.2  # the demo's bbox_scale: crop side = 1.2 x the square box side
CROP_SIZE = 224


@dataclass
class GlotFrame:
    """GLoT's result for one frame of a track.

    ``vertices`` are what SMPL gives for the predicted pose and shape: metres, camera-aligned
    (x right, y down, z forward) but untranslated (SMPL's origin), as in the official demo.
    ``vertices + translation`` places the body in camera space (see :func:`cam_to_translation`).
    """

    frame_index: int
    vertices: np.ndarray  # (V, 3) float32
    cam: np.ndarray  # (4,) original-image weak-perspective camera (sx, sy, tx, ty), spec 1.7
    translation: np.ndarray  # (3,) camera-space root translation in metres for the focal length used
    pred_cam: np.ndarray  # (3,) crop camera (s, tx, ty)
    pose: np.ndarray  # (72,) axis-angle, 24 joints (root first)
    betas: np.ndarray  # (10,)
    joints_h36m: np.ndarray | None  # (17, 3) untranslated, rows as vid2pose.mesh.smpl.H36M17_NAMES
    bbox: np.ndarray  # (4,) the square box (cx, cy, side, side) before the 1.2 crop scale

    def camera_vertices(self) -> np.ndarray:
        """Vertices in camera space (metres), translation applied."""
        return self.vertices + self.translation.astype(np.float32)


@dataclass
class GlotModels:
    resnet: Any  # vid2pose.models.resnet50.SpinResNet50 (eval)
    glot: Any  # vid2pose.models.glot.GLoT (eval)
    body: Any  # vid2pose.mesh.smpl.SMPLBody


def square_boxes(bboxes_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) tracker boxes (x1, y1, x2, y2) -> (N, 4) (cx, cy, s, s), s = the longer side (spec 1.2)."""
    b = np.asarray(bboxes_xyxy, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, side, side], axis=1)


def default_focal(width: int, height: int) -> float:
    """Assumed focal length in pixels when the camera is unknown: the image diagonal (~53 deg)."""
    return float(math.hypot(width, height))


def cam_to_translation(orig_cam: np.ndarray, width: int, height: int, focal: float | None = None
                       ) -> np.ndarray:
    """Original-image weak-perspective camera (N, 4) -> camera-space translation (N, 3) in metres.

    The weak-perspective projection u = W/2 (1 + sx (X + tx)) equals a pinhole camera of focal
    length ``focal`` (pixels, principal point at the image centre) looking at the body from depth
    Tz = 2 f / (W sx), with T = (tx, ty, Tz). Only the depth depends on the assumed focal length
    (default: the image diagonal). Degenerate scales (<= 0, untrained weights) are clamped.
    """
    c = np.asarray(orig_cam, dtype=np.float64).reshape(-1, 4)
    f = default_focal(width, height) if focal is None else float(focal)
    s_pix = np.maximum(c[:, 0] * width, 1e-3)  # = s * crop side in pixels
    return np.stack([c[:, 2], c[:, 3], 2.0 * f / s_pix], axis=1)


def _crop_one(image: np.ndarray, box: np.ndarray, bgr: bool, backend: str) -> np.ndarray:
    aff = glot_chain.crop_affine(box[None], BBOX_SCALE, CROP_SIZE)[0]
    img = np.ascontiguousarray(image)
    if backend == "opencv4":
        crop = glot_chain.warp_affine_opencv4(img, aff, (CROP_SIZE, CROP_SIZE))
    elif backend == "cv2":
        import cv2

        crop = cv2.warpAffine(img, aff, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    else:
        raise ValueError(f"unknown crop backend {backend!r} (use 'opencv4' or 'cv2')")
    # the warp treats channels independently: flipping the 224x224 crop is exact and much
    # cheaper than converting the whole frame to RGB
    return np.ascontiguousarray(crop[..., ::-1]) if bgr else crop


def run_glot_on_track(frames: Iterable[Any], bboxes: np.ndarray, models: GlotModels,
                      frame_indices: np.ndarray | None = None, color: str = "bgr",
                      focal_length: float | None = None, crop_batch: int = 64, window_batch: int = 64,
                      crop_backend: str = "opencv4") -> Iterator[GlotFrame]:
    """Run the official chain on one track; yields a :class:`GlotFrame` per track frame, in order.

    ``frames``: the track's frames in order, one per row of ``bboxes``: ``vid2pose.types.Frame``
    objects (BGR, their ``index`` is used) or (H, W, 3) uint8 arrays in ``color`` order.
    ``bboxes``: (N, 4) tracker boxes x1, y1, x2, y2. ``frame_indices``: (N,) numbers to report
    (default: each Frame's index, or 0..N-1 for arrays). ``crop_backend="opencv4"`` reproduces the
    official OpenCV 4 pixels exactly; ``"cv2"`` uses the installed OpenCV (faster, OpenCV 5 differs
    slightly).
    """
    import torch

    if color not in ("bgr", "rgb"):
        raise ValueError("color must be 'bgr' or 'rgb'")
    boxes = square_boxes(bboxes)
    n = len(boxes)
    if n == 0:
        return
    glot = models.glot
    seqlen = int(getattr(glot, "seqlen", 16))
    windows = glot_chain.demo_windows(n, seqlen)  # (N, seqlen) track positions
    ready_after = np.maximum.accumulate(windows.max(1))  # row r can run once features 0..this exist
    keep_from = np.minimum.accumulate(windows.min(1)[::-1])[::-1]  # oldest feature rows >= r need
    dev_glot = next(glot.parameters()).device

    feats = torch.zeros(0, 2048)  # feature rows [buf_start, buf_start + len(feats)) of the track
    buf_start = 0
    pending: list[np.ndarray] = []
    next_row = 0
    size: tuple[int, int] | None = None
    indices = None if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    if indices is not None and len(indices) != n:
        raise ValueError(f"{len(indices)} frame indices for {n} boxes")
    seen_idx: list[int] = []

    def emit(upto: int) -> Iterator[GlotFrame]:
        """GLoT + SMPL for rows next_row .. upto-1, window_batch at a time."""
        nonlocal next_row
        while next_row < upto:
            rows = np.arange(next_row, min(upto, next_row + window_batch))
            x = feats[torch.from_numpy(windows[rows] - buf_start)].to(dev_glot)
            with torch.no_grad():
                out = glot(x)
            pred_cam = out["pred_cam"].float().cpu().numpy()
            body = models.body(out["rotmat"], out["pred_betas"])
            verts = body.vertices.cpu().numpy().astype(np.float32)
            h36m = None if body.h36m is None else body.h36m.cpu().numpy().astype(np.float32)
            orig = glot_chain.demo_cam(pred_cam, boxes[rows], size[0], size[1], BBOX_SCALE)
            trans = cam_to_translation(orig, size[0], size[1], focal_length)
            pose = out["pred_pose_aa"].cpu().numpy()
            betas = out["pred_betas"].cpu().numpy()
            for k, r in enumerate(rows):
                yield GlotFrame(frame_index=int(seen_idx[r]), vertices=verts[k], cam=orig[k],
                                translation=trans[k], pred_cam=pred_cam[k], pose=pose[k], betas=betas[k],
                                joints_h36m=None if h36m is None else h36m[k], bbox=boxes[r])
            next_row = int(rows[-1]) + 1

    count = 0
    for item in frames:
        if count == n:
            break
        if hasattr(item, "image"):  # vid2pose.types.Frame: BGR
            image, bgr, idx = item.image, True, getattr(item, "index", count)
        else:
            image, bgr, idx = item, color == "bgr", count
        seen_idx.append(int(indices[count]) if indices is not None else int(idx))
        h, w = image.shape[:2]
        if size is None:
            size = (w, h)
        elif size != (w, h):
            raise ValueError(f"frame {count} of the track is {w}x{h}, earlier frames {size[0]}x{size[1]}")
        pending.append(_crop_one(image, boxes[count], bgr, crop_backend))
        count += 1
        if len(pending) == crop_batch or count == n:
            new = models.resnet.features(glot_chain.normalize_crops(np.stack(pending)), batch_size=crop_batch)
            pending = []
            feats = torch.cat([feats, new.float().cpu()])
            have = buf_start + len(feats)
            ready = int(np.searchsorted(ready_after, have, side="left"))  # rows whose window is complete
            if ready - next_row >= window_batch or count == n:
                yield from emit(ready)
                if next_row < n:  # drop feature rows no later window reads
                    drop = int(keep_from[next_row]) - buf_start
                    if drop > 0:
                        feats, buf_start = feats[drop:], buf_start + drop
    if count < n:
        raise ValueError(f"the track has {n} boxes but only {count} frames were given")


# --------------------------------------------------------------------------- loading


def load_glot_models(glot_weights: Path | str | None = None, spin_weights: Path | str | None = None,
                     smpl_dir: Path | str | None = None, glot_name: str = "glot-3dpw", gender: str = "neutral",
                     trust: bool = False, device: str = "cpu") -> GlotModels:
    """Find and load the three parts; if files are missing, ONE error lists all of them.

    ``glot_weights`` / ``spin_weights`` are explicit paths (else the registry entries
    ``glot_name`` and ``spin-resnet50`` are looked up); ``smpl_dir`` as for
    :func:`vid2pose.mesh.smpl.find_smpl_files`. ``trust`` allows full unpickling of the torch
    checkpoints (the released files are old pickles that may need it, spec 3.2).
    """
    from vid2pose import weights as wreg
    from vid2pose.errors import MissingWeightsError, WeightsError
    from vid2pose.mesh import smpl as smpl_mod
    from vid2pose.models.glot import GLoT
    from vid2pose.models.resnet50 import SpinResNet50

    problems: list[str] = []
    paths: dict[str, Path] = {}
    for key, override, name in (("glot", glot_weights, glot_name), ("spin", spin_weights, "spin-resnet50")):
        if override is not None:
            p = Path(override).expanduser()
            if p.is_file():
                paths[key] = p
            else:
                problems.append(f"{p} does not exist")
            continue
        p = wreg.find(name)
        if p is None:
            spec = wreg.WEIGHTS[name]
            problems.append(f"{spec.filename} (get it from {spec.source}; licence: {spec.licence})")
        else:
            paths[key] = p
    smpl_files = None
    try:
        smpl_files = smpl_mod.find_smpl_files(smpl_dir, gender)
    except MissingWeightsError as e:
        problems.append(str(e))
    if problems:
        raise MissingWeightsError("GLoT needs files that are missing: " + "; ".join(problems)
                                  + " (model files go in weights/ or ~/.cache/vid2pose/weights)")

    ckpt = wreg.load_torch_checkpoint(paths["glot"], trust)
    try:
        glot = GLoT.from_checkpoint(ckpt).to(device)
    except (RuntimeError, KeyError, AttributeError) as e:  # not a GLoT checkpoint of the released config
        raise WeightsError(f"{paths['glot'].name} is not a GLoT checkpoint of the released config "
                           f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e
    del ckpt
    resnet = SpinResNet50.from_checkpoint(paths["spin"], trust).to(device)
    body = smpl_mod.smpl_body_from_files(smpl_files, gender).to(device)
    return GlotModels(resnet=resnet, glot=glot, body=body)
