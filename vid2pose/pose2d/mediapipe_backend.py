"""Default 2D backend: BlazePose (the tflite models bundled in the mediapipe 0.10.21 wheel),
run through ai-edge-litert so that it can follow several people per frame.

MediaPipe's own ``mp.solutions.pose.Pose`` follows one person. Here its graph is
reproduced stage by stage (options from the wheel's compiled graphs, see blazepose.py):

1. person detector on the letterboxed frame, SSD anchors, decoding, weighted NMS;
2. per person a rotated square ROI from the detector's hip-centre and full-body
   points (scale 1.25), a 256x256 crop, the landmark model, heatmap refinement,
   sigmoid visibility, the pose-presence flag (< 0.5 = nobody there), and the
   landmarks mapped back through the inverse crop transform;
3. on the next frame each person's ROI comes from their auxiliary landmarks 33/34
   (one-euro smoothed, as MediaPipe does) instead of a new detection. Unlike MediaPipe,
   the detector keeps running to pick up people who walk in: on the whole frame and on
   squares of the short side (small far-away people) while nobody is followed, one of
   these regions per frame while someone is (``tile_detection``, ``detect_interval``).
   Detections that fall on someone already found are skipped, a new person must have
   presence >= ``min_new_presence``, and people whose landmarks duplicate another's are
   dropped. At most ``max_people`` per frame.
4. with ``smooth=True`` (MediaPipe's default ``smooth_landmarks``) the 33 landmarks get
   MediaPipe's one-euro filter and visibility its low-pass filter, per person. The
   filters assume ``fps`` frames per second (30, as the legacy Python API does).

Not reproduced: segmentation masks, world landmarks and z (not needed downstream).
CPU only: ``device`` is accepted and ignored.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from vid2pose import weights as wreg
from vid2pose.errors import MissingDependencyError, MissingWeightsError
from vid2pose.pose2d import blazepose as bp
from vid2pose.types import Person2D, WeightsIdentity

MEDIAPIPE_INSTALL = "pip install --no-deps mediapipe==0.10.21"
LITERT_INSTALL = "pip install ai-edge-litert"

# Major body joints (nose, shoulders..wrists, hips..ankles) and their left/right mirror,
# used to tell whether two poses are the same person (flip-invariant).
_BODY = np.array([0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
_BODY_FLIP = np.array([0, 12, 11, 14, 13, 16, 15, 24, 23, 26, 25, 28, 27])


def _bundled_model(relative: str) -> Path | None:
    """A model file inside the installed mediapipe package, found without importing it
    (``import mediapipe`` pulls in matplotlib and takes seconds)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "modules" / relative
        if p.is_file():
            return p
    return None


def _model_path(name: str, relative: str, override: Path | str | None = None) -> Path:
    if override is not None:
        return wreg.resolve(name, override)
    p = wreg.find(name) or _bundled_model(relative)
    if p is not None:
        return p
    if importlib.util.find_spec("mediapipe") is None:
        raise MissingDependencyError(
            f"the mediapipe 2D backend needs the BlazePose models shipped with mediapipe: {MEDIAPIPE_INSTALL}")
    raise MissingWeightsError(wreg.missing_message(name, "--pose2d-weights" if name == "blazepose-full" else None))


def _interpreter(path: Path, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise MissingDependencyError(
            f"the mediapipe 2D backend runs BlazePose with ai-edge-litert, which is not installed: {LITERT_INSTALL}"
        ) from e
    with _quiet_stderr():  # TFLite prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    return it


class _quiet_stderr:
    """Silence the C-level stderr (file descriptor 2) for a moment; Python errors still propagate."""

    def __enter__(self):
        import os
        import sys

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:  # no real fd 2 (some embedding hosts): leave it
            self._saved = None
        return self

    def __exit__(self, *exc):
        import os

        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        return False


@dataclass
class _Pose:
    """One landmark-model result in image pixels (before smoothing)."""

    xy: np.ndarray  # (39, 2)
    visibility: np.ndarray  # (39,)
    presence: float
    track: "_Track | None" = None  # set when the pose continues a followed person

    def scale(self) -> float:
        """Distance hip centre -> full-body point (about half the body height)."""
        return float(np.linalg.norm(self.xy[34] - self.xy[33]))

    def box(self) -> np.ndarray:
        pts = self.xy[: bp.NUM_BODY]
        return np.concatenate([pts.min(0), pts.max(0)])


@dataclass
class _Track:
    """A person followed from frame to frame: where to look next, and their filters."""

    fps: float
    roi: bp.Roi | None = None
    aux: bp.OneEuro = field(init=False)
    landmarks: bp.OneEuro = field(init=False)
    visibility: bp.LowPass = field(default_factory=bp.LowPass)

    def __post_init__(self) -> None:
        self.aux = bp.OneEuro(*bp.AUX_EURO, frequency=self.fps)
        self.landmarks = bp.OneEuro(*bp.LANDMARK_EURO, frequency=self.fps)


class MediaPipeBackend:
    """BlazePose detector + full landmark model, several people per frame."""

    name = "mediapipe"
    skeleton = "blazepose33"

    def __init__(self, landmark_model: Path | str | None = None, detector_model: Path | str | None = None, *,
                 max_people: int = 8, smooth: bool = True, fps: float = 30.0, refine_heatmap: bool = True,
                 detect_interval: int = 1, tile_detection: bool = True, min_detection: float = bp.DET_MIN_SCORE,
                 min_presence: float = bp.PRESENCE_MIN, min_new_presence: float = 0.9,
                 threads: int | None = None):
        self.max_people = max(1, int(max_people))
        self.smooth = smooth
        self.fps = float(fps)
        self.refine_heatmap = refine_heatmap
        self.detect_interval = max(1, int(detect_interval))
        self.tile_detection = tile_detection
        self.min_detection = min_detection
        self.min_presence = min_presence
        # A person picked up from a detection must look surer than one being followed:
        # on sports2d_demo.mp4 every spurious pick-up (a pose fitted to a building, a
        # second skeleton on part of a body) had presence 0.54-0.88, real people 0.99+.
        self.min_new_presence = max(min_new_presence, min_presence)
        threads = threads or min(4, os.cpu_count() or 1)

        self._lm_path = _model_path("blazepose-full", "pose_landmark/pose_landmark_full.tflite", landmark_model)
        self._det_path = _model_path("blazepose-detector", "pose_detection/pose_detection.tflite", detector_model)
        self._det = _interpreter(self._det_path, threads)
        self._lm = _interpreter(self._lm_path, threads)
        self._det_in = self._det.get_input_details()[0]["index"]
        self._lm_in = self._lm.get_input_details()[0]["index"]
        # Output order in the file is not the graph's order: pick tensors by name.
        dout = {d["name"]: d["index"] for d in self._det.get_output_details()}
        self._det_boxes, self._det_scores = dout["Identity"], dout["Identity_1"]
        lout = {d["name"]: d["index"] for d in self._lm.get_output_details()}
        self._lm_landmarks, self._lm_flag, self._lm_heatmap = lout["Identity"], lout["Identity_1"], lout["Identity_3"]
        self._anchors = bp.ssd_anchors()
        self._identities: list[WeightsIdentity] | None = None
        self.reset()

    # --- protocol ---------------------------------------------------------------------------

    def reset(self) -> None:
        self._tracks: list[_Track] = []
        self._frame = 0
        self._det_turn = -1

    def weights(self) -> list[WeightsIdentity]:
        if self._identities is None:
            self._identities = [wreg.identity("blazepose-full", self._lm_path),
                                wreg.identity("blazepose-detector", self._det_path)]
        return list(self._identities)

    def close(self) -> None:
        self._det = self._lm = None
        self._tracks = []

    def process(self, images: Sequence[np.ndarray]) -> list[list[Person2D]]:
        return [self._process_frame(_as_bgr(img)) for img in images]

    # --- model stages -------------------------------------------------------------------------

    def detect(self, image: np.ndarray, everywhere: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Person detections on a BGR frame: scores (M,) and keypoints (M, 4, 2) in pixels.

        The detector sees the whole frame letterboxed (as in MediaPipe) and, with
        ``tile_detection``, squares of the short side along the long side, where small
        people look 1.8x larger (16:9). ``everywhere=False`` runs one region per call
        instead, cycling whole frame, tile 1, whole frame, tile 2, ...: the cheap mode
        used while people are being followed. Whole-frame detections come first.
        """
        h, w = image.shape[:2]
        rois = bp.detection_rois(w, h) if self.tile_detection else [bp.letterbox_roi(w, h)]
        if not everywhere and len(rois) > 1:
            self._det_turn += 1
            k = self._det_turn % (2 * (len(rois) - 1))
            rois = [rois[0] if k % 2 == 0 else rois[1 + k // 2]]
        scores, kps = [], []
        for roi in rois:
            patch = bp.crop(image, roi, bp.DETECTOR_SIZE, cv2.BORDER_CONSTANT)  # zero padding, as MediaPipe
            x = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB).astype(np.float32) * (2.0 / 255.0) - 1.0
            self._det.set_tensor(self._det_in, x[None])
            self._det.invoke()
            raw = bp.decode_detections(self._det.get_tensor(self._det_boxes)[0],
                                       self._det.get_tensor(self._det_scores)[0],
                                       self._anchors, min_score=self.min_detection)
            det = bp.weighted_nms(raw)
            scores.append(det.scores)
            kps.append(bp.crop_to_image(det.keypoints * bp.DETECTOR_SIZE, roi, bp.DETECTOR_SIZE))
        return (np.concatenate(scores).astype(np.float32),
                np.concatenate(kps).reshape(-1, bp.NUM_DET_KEYPOINTS, 2).astype(np.float32))

    def landmarks(self, image: np.ndarray, roi: bp.Roi) -> _Pose | None:
        """Landmark model on one ROI; None when the pose-presence flag says nobody is there."""
        if not (roi.size > 4 and np.isfinite([roi.cx, roi.cy, roi.size, roi.rotation]).all()):
            return None  # degenerate alignment points: nothing sensible to crop
        patch = bp.crop(image, roi, bp.LANDMARK_SIZE)
        x = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0)
        self._lm.set_tensor(self._lm_in, x[None])
        self._lm.invoke()
        presence = float(self._lm.get_tensor(self._lm_flag).reshape(-1)[0])
        if not presence >= self.min_presence:
            return None
        raw = self._lm.get_tensor(self._lm_landmarks).reshape(bp.NUM_LANDMARKS, 5)
        xy = raw[:, :2].astype(np.float64) / bp.LANDMARK_SIZE
        if self.refine_heatmap:
            xy = bp.refine_from_heatmap(xy, self._lm.get_tensor(self._lm_heatmap)[0])
        img_xy = bp.crop_to_image(xy * bp.LANDMARK_SIZE, roi, bp.LANDMARK_SIZE)
        return _Pose(img_xy, bp.sigmoid(raw[:, 3]), presence)

    # --- per frame ----------------------------------------------------------------------------

    def _process_frame(self, image: np.ndarray) -> list[Person2D]:
        h, w = image.shape[:2]
        self._frame += 1
        t = self._frame / self.fps
        found: list[_Pose] = []

        # 1. Follow the people of the previous frame from their landmark-derived ROIs.
        for tr in self._tracks:
            pose = self.landmarks(image, tr.roi)
            if pose is not None and not self._duplicate(pose, found):
                pose.track = tr
                found.append(pose)

        # 2. Detect, to pick up people who were not followed: everywhere while nobody is
        #    followed, else one detector region per frame (the landmark runs cost enough).
        if len(found) < self.max_people and (not found or (self._frame - 1) % self.detect_interval == 0):
            _, kps = self.detect(image, everywhere=not found)  # best first
            for kp in kps:
                if len(found) >= self.max_people:
                    break
                if any(_detection_on(kp, p) for p in found):
                    continue
                pose = self.landmarks(image, bp.roi_from_alignment(kp[0], kp[1]))
                if pose is not None and pose.presence >= self.min_new_presence and not self._duplicate(pose, found):
                    found.append(pose)

        # 3. Smooth, set up the next frame's ROIs, and report.
        tracks, people = [], []
        for pose in found:
            tr = pose.track or _Track(self.fps)
            obj_scale = 2.0 * pose.scale()  # MediaPipe's OBJECT_SCALE_ROI side (no 1.25 margin)
            value_scale = 1.0 / obj_scale if obj_scale > 1e-6 else 1.0
            aux = tr.aux(t, pose.xy[33:35], value_scale)
            tr.roi = bp.roi_from_alignment(aux[0], aux[1])
            xy, vis = pose.xy[: bp.NUM_BODY], pose.visibility[: bp.NUM_BODY]
            if self.smooth:
                vis = tr.visibility(vis, bp.VISIBILITY_ALPHA)
                xy = tr.landmarks(t, xy, value_scale)
            kp = np.concatenate([xy, np.clip(vis, 0, 1)[:, None]], 1).astype(np.float32)
            people.append(Person2D(bbox=_box(xy, w, h), score=float(pose.presence), keypoints=kp))
            tracks.append(tr)
        self._tracks = tracks
        return people

    def _duplicate(self, pose: _Pose, found: list[_Pose]) -> bool:
        return any(_same_person(pose, other) for other in found)


def _detection_on(kp: np.ndarray, pose: _Pose, tol: float = 0.3) -> bool:
    """Does a detection fall on an already found pose? Its hip centre (kp 0) is compared
    with the pose's landmark 33, the same point predicted by the landmark model, within
    ``tol`` x the pose's hip->full-body distance (about half the body height). The
    detector's second point is not used: a detection with a wrong rotation (seen on real
    video) would otherwise pass as a new person and yield a distorted duplicate."""
    return bool(np.linalg.norm(kp[0] - pose.xy[33]) < tol * max(pose.scale(), 1e-6))


def _same_person(a: _Pose, b: _Pose, tol: float = 0.2, hip_tol: float = 0.3, part_tol: float = 0.15,
                 max_iou: float = 0.8) -> bool:
    """Is pose ``a`` (being added) a second reading of the already kept pose ``b``?

    Yes if they share the hip centre; or their joints nearly coincide (also when one is
    the left/right mirror of the other); or ``a``'s joints mostly sit on joints of ``b``
    (a skeleton fitted to part of a body, seen on real video); or their landmark boxes
    overlap heavily.
    """
    s = max(a.scale(), b.scale(), 1e-6)
    if np.linalg.norm(a.xy[33] - b.xy[33]) < hip_tol * s:
        return True
    d = np.linalg.norm(a.xy[_BODY] - b.xy[_BODY], axis=1).mean()
    d_flip = np.linalg.norm(a.xy[_BODY] - b.xy[_BODY_FLIP], axis=1).mean()
    if min(d, d_flip) < tol * s:
        return True
    to_b = np.linalg.norm(a.xy[_BODY][:, None] - b.xy[None, : bp.NUM_BODY], axis=2).min(1)
    if np.median(to_b) < part_tol * max(b.scale(), 1e-6):
        return True
    return float(bp.box_iou(a.box(), b.box()[None])[0]) > max_iou


def _box(xy: np.ndarray, w: int, h: int, pad: float = 0.05) -> np.ndarray:
    """Box around all 33 landmarks (occluded ones too: MediaPipe places them plausibly),
    padded a little and clipped to the frame."""
    lo, hi = xy.min(0), xy.max(0)
    size = hi - lo
    lo, hi = lo - pad * size, hi + pad * size
    return np.array([max(lo[0], 0), max(lo[1], 0), min(hi[0], w - 1), min(hi[1], h - 1)], dtype=np.float32)


def _as_bgr(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img)


def create(weights: Path | str | None = None, device: str = "cpu", **options) -> MediaPipeBackend:
    """Factory used by ``vid2pose.pose2d.create_backend``. ``weights`` replaces the landmark
    model file (--pose2d-weights); ``device`` is ignored: this backend runs on the CPU."""
    return MediaPipeBackend(landmark_model=weights, **options)
