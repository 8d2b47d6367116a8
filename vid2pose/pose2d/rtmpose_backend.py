"""``--pose2d rtmpose``: a person detector and RTMPose (SimCC), both ONNX models run by onnxruntime.

Top-down: the detector finds people, each box is cut out of the frame, and RTMPose gives the
17 COCO keypoints of each cut-out. All pre- and post-processing is ours; no mmpose/rtmlib needed,
only ``onnxruntime`` (``pip install "vid2pose[rtm]"``; onnxruntime-gpu for ``--device cuda``).

Model files (nothing is downloaded; a missing file stops with a one-line message):

* pose model, registry ``rtmpose-m-body7``:
  ``rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.onnx``. OpenMMLab publishes it as
  ``end2end.onnx`` inside the zip of the same name under
  https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/ (Apache-2.0): unzip it and
  rename ``end2end.onnx`` to the name above. ``--pose2d-weights PATH`` (``weights``) replaces it
  with any RTMPose SimCC body model giving 17 COCO keypoints (e.g. rtmpose-x 384x288); the input
  size is read from the model.
* detector, registry ``yolox-m-humanart``: ``yolox_m_8xb8-300e_humanart-c2c7a14a.onnx``, from the
  zip of that name in the same folder (rename its ``end2end.onnx`` the same way). The
  ``detector_weights`` argument of ``create`` replaces it (other mmdeploy YOLOX exports, e.g.
  yolox_tiny/yolox_x humanart, work too). The file must be an mmdeploy "end2end" export with NMS
  inside: input ``input`` (B, 3, H, W) float32 BGR 0-255, outputs ``dets`` (B, N, 5: x1, y1, x2, y2,
  score in input pixels) and ``labels`` (B, N).

Both files are looked up like every other model (weights/ folders, see vid2pose.weights) and,
as a last resort, in rtmlib's download cache ($TORCH_HOME/hub/checkpoints or
~/.cache/rtmlib/hub/checkpoints), where rtmlib keeps them under exactly these names.

Processing, matching how the models were trained and exported:

* detector: the frame is scaled to fit the model input keeping its aspect, placed top-left on a
  canvas filled with 114, fed as BGR 0-255 without normalisation (YOLOX has no mean/std);
  boxes come back in canvas pixels and are divided by the scale.
* pose: each box is enlarged 1.25x and widened or heightened to the model's aspect (192:256),
  warped into the input by a similarity transform, converted to RGB and normalised with the
  ImageNet mean/std (the model was trained on RGB). All crops of all frames of one ``process``
  call go through the model together when its batch dimension is dynamic.
* SimCC: per keypoint, the argmax of ``simcc_x``/``simcc_y`` divided by the split ratio (2.0 for
  every released model: the output is twice the input size) is the position in the input; the
  confidence is the smaller of the two maxima (as mmpose does), clipped to [0, 1].
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from vid2pose.errors import MissingWeightsError, WeightsError
from vid2pose.pose2d.onnx_common import dim_or, import_onnxruntime, open_session, outputs_by_name, run_chunked
from vid2pose.types import Person2D, WeightsIdentity
from vid2pose.weights import WEIGHTS, identity, resolve

POSE_WEIGHTS = "rtmpose-m-body7"
DETECTOR_WEIGHTS = "yolox-m-humanart"
FLAG = "--pose2d-weights"

BOX_PADDING = 1.25
PAD_VALUE = 114  # letterbox fill the YOLOX detectors were trained with
MEAN_RGB = np.array([123.675, 116.28, 103.53], np.float32)
STD_RGB = np.array([58.395, 57.12, 57.375], np.float32)
DEFAULT_DET_HW = (640, 640)  # used only if the detector's input size is symbolic
DEFAULT_POSE_HW = (256, 192)
DET_MAX_BATCH = 8  # frames per detector call (8 x 640 x 640 x 3 float32 = 39 MB)
POSE_MAX_BATCH = 64  # crops per pose call
NUM_KEYPOINTS = 17


def rtmlib_cache_dir() -> Path:
    base = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "rtmlib")
    return Path(base).expanduser() / "hub" / "checkpoints"


def find_weights(name: str, override: Path | str | None, flag: str | None) -> Path:
    """resolve() plus rtmlib's cache as a last resort; the MissingWeightsError is resolve()'s."""
    try:
        return resolve(name, override, flag)
    except MissingWeightsError:
        if override is None:
            p = rtmlib_cache_dir() / WEIGHTS[name].filename
            if p.is_file():
                return p
        raise


def letterbox(image: np.ndarray, size_hw: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Scale ``image`` to fit (h, w) keeping its aspect, top-left on a PAD_VALUE canvas -> (canvas, scale)."""
    h, w = image.shape[:2]
    th, tw = size_hw
    scale = min(th / h, tw / w)
    nh, nw = min(th, int(round(h * scale))), min(tw, int(round(w * scale)))
    canvas = np.full((th, tw, 3), PAD_VALUE, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, scale


def crop_params(box: np.ndarray, size_hw: tuple[int, int], padding: float = BOX_PADDING
                ) -> tuple[np.ndarray, np.ndarray]:
    """Box (x1, y1, x2, y2) -> centre (2,) and size (w, h) of the region the model sees.

    The box is enlarged by ``padding`` and then grown along one side to the input's aspect,
    so the crop is never squashed.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2], np.float64)
    w, h = (x2 - x1) * padding, (y2 - y1) * padding
    aspect = size_hw[1] / size_hw[0]
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    return centre, np.array([max(w, 1e-3), max(h, 1e-3)], np.float64)


def crop_matrix(centre: np.ndarray, size: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """2x3 affine taking frame pixels to model-input pixels: the region's centre goes to the input's centre."""
    th, tw = size_hw
    k = tw / size[0]  # == th / size[1] since size has the input's aspect
    return np.array([[k, 0.0, tw / 2 - k * centre[0]], [0.0, k, th / 2 - k * centre[1]]], np.float64)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, Lx), (N, K, Ly) -> positions (N, K, 2) in model-input pixels and confidences (N, K)."""
    ix, iy = simcc_x.argmax(-1), simcc_y.argmax(-1)
    locs = np.stack([ix, iy], -1).astype(np.float32) / split_ratio
    conf = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    return locs, np.clip(conf, 0.0, 1.0).astype(np.float32)


def to_frame(locs: np.ndarray, centre: np.ndarray, size: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Model-input pixels (K, 2) of one crop -> frame pixels (inverse of crop_matrix)."""
    th, tw = size_hw
    k = tw / size[0]
    return ((locs - np.array([tw / 2, th / 2])) / k + centre).astype(np.float32)


class RTMPoseBackend:
    name = "rtmpose"
    skeleton = "coco17"

    def __init__(self, pose_path: Path, det_path: Path, device: str = "cpu",
                 det_score: float = 0.3, min_box: float = 8.0):
        self.pose_path, self.det_path = Path(pose_path), Path(det_path)
        self.det_score, self.min_box = det_score, min_box
        self._ids: list[WeightsIdentity] | None = None
        self.det = open_session(self.det_path, device, self.name)
        self.pose = open_session(self.pose_path, device, self.name)
        self._check_detector()
        self._check_pose()

    # -- model introspection: refuse the wrong kind of file with a clear one-liner
    def _check_detector(self) -> None:
        inputs, outs = self.det.get_inputs(), outputs_by_name(self.det)
        shape = inputs[0].shape if len(inputs) == 1 else []
        dets = outs.get("dets")
        if len(shape) != 4 or dets is None or len(dets.shape) != 3 or dim_or(dets.shape[2], 5) != 5:
            raise WeightsError(
                f"{self.det_path.name} is not an end2end person detector (expected one input (B,3,H,W) "
                "and outputs dets (B,N,5) + labels (B,N), as in OpenMMLab's YOLOX onnx_sdk zips)")
        self.det_hw = (dim_or(shape[2], DEFAULT_DET_HW[0]), dim_or(shape[3], DEFAULT_DET_HW[1]))
        self.det_names = ["dets"] + (["labels"] if "labels" in outs else [])

    def _check_pose(self) -> None:
        inputs, outs = self.pose.get_inputs(), outputs_by_name(self.pose)
        shape = inputs[0].shape if len(inputs) == 1 else []
        sx, sy = outs.get("simcc_x"), outs.get("simcc_y")
        if len(shape) != 4 or sx is None or sy is None or len(sx.shape) != 3 or len(sy.shape) != 3:
            raise WeightsError(
                f"{self.pose_path.name} is not an RTMPose SimCC model (expected one input (B,3,H,W) "
                "and outputs simcc_x, simcc_y (B,K,L))")
        self.pose_hw = (dim_or(shape[2], DEFAULT_POSE_HW[0]), dim_or(shape[3], DEFAULT_POSE_HW[1]))
        k = dim_or(sx.shape[1], NUM_KEYPOINTS)
        if k != NUM_KEYPOINTS:
            raise WeightsError(f"{self.pose_path.name} gives {k} keypoints; the rtmpose backend needs a "
                               "COCO-17 body model (e.g. rtmpose-*_simcc-body7)")

    # -- stages
    def detect(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Frames -> per frame (boxes (n, 4) float32 in frame pixels, scores (n,) float32)."""
        canvases, scales = zip(*(letterbox(im, self.det_hw) for im in images))
        x = np.ascontiguousarray(np.stack(canvases).transpose(0, 3, 1, 2), dtype=np.float32)
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for rows, res in run_chunked(self.det, x, DET_MAX_BATCH, self.det_names):
            dets = res[0]
            labels = res[1] if len(res) > 1 else np.zeros(dets.shape[:2], np.int64)
            for j, i in enumerate(range(rows.start, rows.stop)):
                h, w = images[i].shape[:2]
                d, lab = dets[j], labels[j].reshape(-1)
                keep = (d[:, 4] >= self.det_score) & (lab == 0)  # class 0 is "person"
                boxes = d[keep, :4] / scales[i]
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                big = ((boxes[:, 2] - boxes[:, 0]) >= self.min_box) & ((boxes[:, 3] - boxes[:, 1]) >= self.min_box)
                order = np.argsort(-d[keep, 4][big], kind="stable")
                out.append((boxes[big][order].astype(np.float32), d[keep, 4][big][order].astype(np.float32)))
        return out

    def estimate(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Frames + their boxes -> per frame keypoints (n, 17, 3) in frame pixels."""
        th, tw = self.pose_hw
        jobs = [(i, b) for i, fb in enumerate(boxes) for b in fb]
        result = [np.zeros((len(fb), NUM_KEYPOINTS, 3), np.float32) for fb in boxes]
        if not jobs:
            return result
        crops, params = [], []
        for i, b in jobs:
            centre, size = crop_params(b, self.pose_hw)
            m = crop_matrix(centre, size, self.pose_hw)
            crops.append(cv2.warpAffine(images[i], m, (tw, th), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)))
            params.append((centre, size))
        # BGR -> RGB, normalise, NCHW in one pass over the whole batch.
        x = (np.stack(crops)[..., ::-1].astype(np.float32) - MEAN_RGB) / STD_RGB
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        slot = {}
        for rows, (sx, sy) in run_chunked(self.pose, x, POSE_MAX_BATCH, ["simcc_x", "simcc_y"]):
            if sx.shape[1] != NUM_KEYPOINTS:
                raise WeightsError(f"{self.pose_path.name} gives {sx.shape[1]} keypoints; the rtmpose "
                                   "backend needs a COCO-17 body model")
            locs, conf = decode_simcc(sx, sy, sx.shape[-1] / tw)
            for j, n in enumerate(range(rows.start, rows.stop)):
                i = jobs[n][0]
                r = slot.get(i, 0)
                slot[i] = r + 1
                centre, size = params[n]
                result[i][r, :, :2] = to_frame(locs[j], centre, size, self.pose_hw)
                result[i][r, :, 2] = conf[j]
        return result

    # -- Pose2DBackend
    def process(self, images: Sequence[np.ndarray]) -> list[list[Person2D]]:
        if len(images) == 0:
            return []
        found = self.detect(images)
        kps = self.estimate(images, [b for b, _ in found])
        return [
            [Person2D(bbox=b.copy(), score=float(s), keypoints=k) for b, s, k in zip(boxes, scores, kp)]
            for (boxes, scores), kp in zip(found, kps)
        ]

    def reset(self) -> None:
        pass  # every frame is processed on its own

    def weights(self) -> list[WeightsIdentity]:
        if self._ids is None:  # hashing ~100 MB once, only when the output asks for it
            self._ids = [identity(DETECTOR_WEIGHTS, self.det_path), identity(POSE_WEIGHTS, self.pose_path)]
        return list(self._ids)

    def close(self) -> None:
        self.det = self.pose = None


def create(weights: Path | str | None = None, device: str = "cpu",
           detector_weights: Path | str | None = None, det_score: float = 0.3) -> RTMPoseBackend:
    """``weights`` replaces the pose model (--pose2d-weights), ``detector_weights`` the detector."""
    import_onnxruntime(RTMPoseBackend.name)  # say what to install before asking for model files
    pose_path = find_weights(POSE_WEIGHTS, weights, FLAG)
    det_path = find_weights(DETECTOR_WEIGHTS, detector_weights, None)
    return RTMPoseBackend(pose_path, det_path, device=device, det_score=det_score)
