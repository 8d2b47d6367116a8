"""Pure numpy/OpenCV pieces of MediaPipe's BlazePose pipeline (no model runtime here).

The numbers below are the options of the graphs compiled into the mediapipe 0.10.21
wheel (PoseDetectionCpu, PoseDetectionToRoi, PoseLandmarksToRoi,
TensorsToPoseLandmarksAndSegmentation, PoseLandmarkFiltering), read by decoding
the serialized CalculatorGraphConfig protos embedded in its _framework_bindings.so.
Note that the wheel's detector threshold is 0.5 and the ROI scale 1.25 (some
published .pbtxt versions say 0.2 / 1.5).

Coordinates: image pixels, x right, y down. A ROI is a rotated square given by its
centre, side length (pixels) and rotation (radians, MediaPipe's sign convention:
a local point (u, v) sits at centre + R(rotation) @ (u, v), R = [[c, -s], [s, c]]).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# --- person detector (pose_detection.tflite) ---------------------------------------------
DETECTOR_SIZE = 224
DETECTOR_STRIDES = (8, 16, 32, 32, 32)  # SsdAnchorsCalculator: num_layers 5
ANCHOR_OFFSET = 0.5  # anchor_offset_x / _y
NUM_ANCHORS = 2254
NUM_DET_KEYPOINTS = 4  # hip centre, full-body size/rotation point, shoulder centre, upper-body point
DET_COORD_SCALE = 224.0  # x_scale = y_scale = w_scale = h_scale
DET_SCORE_CLIP = 100.0  # score_clipping_thresh, then sigmoid
DET_MIN_SCORE = 0.5  # min_score_thresh (= legacy Pose min_detection_confidence)
NMS_IOU = 0.3  # min_suppression_threshold, IoU, WEIGHTED

# --- ROI (AlignmentPointsRectsCalculator + RectTransformationCalculator) -----------------
ROI_SCALE = 1.25  # scale_x = scale_y, square_long
ROI_TARGET_ANGLE = math.pi / 2  # rotation_vector_target_angle_degrees: 90

# --- landmark model (pose_landmark_full.tflite) ------------------------------------------
LANDMARK_SIZE = 256
NUM_LANDMARKS = 39  # 33 body + 6 auxiliary; 33 and 34 are the ROI alignment points
NUM_BODY = 33
# RefineLandmarksFromHeatmapCalculator. The compiled graph says kernel_size 7, yet the wheel's
# mp.solutions.pose output is matched far better by a 9x9 window (the option's proto default):
# median 0.2 px vs 0.9 px on identical crops (windows 5/7/11 all worse). Why the graph's 7 is
# not what runs was not established; we follow the observed behaviour.
HEATMAP_KERNEL = 9
HEATMAP_MIN_CONF = 0.5
PRESENCE_MIN = 0.5  # ThresholdingCalculator on the pose flag (= min_tracking_confidence)

# --- smoothing (PoseLandmarkFiltering, legacy Pose smooth_landmarks=True) --------------------
LANDMARK_EURO = (0.05, 80.0, 1.0)  # min_cutoff, beta, derivate_cutoff
AUX_EURO = (0.01, 10.0, 1.0)
VISIBILITY_ALPHA = 0.1


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------
# SSD anchors and detection decoding
# ---------------------------------------------------------------------------------------------

def ssd_anchors(input_size: int = DETECTOR_SIZE, strides=DETECTOR_STRIDES,
                offset: float = ANCHOR_OFFSET) -> np.ndarray:
    """(N, 2) anchor centres (x, y) normalised to [0, 1].

    fixed_anchor_size is set, so every anchor is 1x1 and only centres matter. Layers
    that share a stride share one feature map; each layer puts 2 anchors per cell
    (aspect ratio 1.0 plus the interpolated-scale one).
    """
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = 2 * (j - i)
        fm = int(math.ceil(input_size / strides[i]))
        ys, xs = np.meshgrid(np.arange(fm), np.arange(fm), indexing="ij")
        centres = np.stack([(xs + offset) / fm, (ys + offset) / fm], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))  # y, x, anchor order
        i = j
    return np.concatenate(out).astype(np.float32)


@dataclass
class Detections:
    """Decoded detector output, normalised to the detector's input square."""

    scores: np.ndarray  # (M,)
    boxes: np.ndarray  # (M, 4) xmin, ymin, xmax, ymax (the face box)
    keypoints: np.ndarray  # (M, 4, 2)

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float = DET_MIN_SCORE, scale: float = DET_COORD_SCALE) -> Detections:
    """Raw (N, 12) box/keypoint regressions and (N, 1) logits -> detections above ``min_score``.

    reverse_output_order: the regression is (x, y, w, h, kx0, ky0, ...), offsets in input
    pixels relative to the anchor centre; no exponential on the size.
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float32).reshape(-1, 4 + 2 * NUM_DET_KEYPOINTS)
    logits = np.clip(np.asarray(raw_scores, dtype=np.float32).reshape(-1), -DET_SCORE_CLIP, DET_SCORE_CLIP)
    scores = sigmoid(logits)
    keep = np.nonzero(scores >= min_score)[0]
    a = anchors[keep]
    r = raw_boxes[keep] / scale
    centre = r[:, 0:2] + a
    half = r[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], 1)
    kps = r[:, 4:].reshape(-1, NUM_DET_KEYPOINTS, 2) + a[:, None, :]
    return Detections(scores[keep].astype(np.float32), boxes.astype(np.float32), kps.astype(np.float32))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x1y1x2y2 box with (M, 4) boxes; 0 where they do not intersect."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area(np.asarray(box, dtype=np.float64)) + area(boxes) - inter
    return np.where((union > 0) & (inter > 0), inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(det: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """MediaPipe's WEIGHTED non-max suppression.

    Take the best remaining detection, gather every remaining one (itself included)
    whose IoU with it exceeds the threshold, and replace it by the score-weighted mean
    of their boxes and keypoints; the score stays the best one's.
    """
    if len(det) == 0:
        return det
    remaining = np.argsort(-det.scores, kind="stable")
    scores, boxes, kps = [], [], []
    while remaining.size:
        best = remaining[0]
        overlap = box_iou(det.boxes[best], det.boxes[remaining]) > iou_threshold
        group = remaining[overlap]
        w = det.scores[group].astype(np.float64)
        if group.size:
            boxes.append((det.boxes[group] * w[:, None]).sum(0) / w.sum())
            kps.append((det.keypoints[group] * w[:, None, None]).sum(0) / w.sum())
        else:  # degenerate (empty) box: keep it as it is, like MediaPipe
            boxes.append(det.boxes[best])
            kps.append(det.keypoints[best])
        scores.append(det.scores[best])
        if group.size == 0:
            break
        remaining = remaining[~overlap]
    return Detections(np.asarray(scores, np.float32), np.asarray(boxes, np.float32).reshape(-1, 4),
                      np.asarray(kps, np.float32).reshape(-1, NUM_DET_KEYPOINTS, 2))


# ---------------------------------------------------------------------------------------------
# ROIs and the affine crop
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Roi:
    cx: float
    cy: float
    size: float  # side of the square, pixels
    rotation: float = 0.0  # radians

    def corners(self) -> np.ndarray:
        """(4, 2) corners in the image (for axis-aligned overlap tests and drawing)."""
        local = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * self.size
        return local @ _rot(self.rotation).T + (self.cx, self.cy)


def _rot(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_alignment(centre, scale_point, scale: float = ROI_SCALE) -> Roi:
    """ROI from two alignment points in pixels (detector kp 0/1, or landmarks 33/34).

    The centre is the hip-centre point; the side is twice its distance to the second
    point; the rotation turns the centre->point vector to point straight up; then the
    square is enlarged by ``scale``.
    """
    x0, y0 = float(centre[0]), float(centre[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0)
    rotation = normalize_radians(ROI_TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(x0, y0, side * scale, rotation)


def letterbox_roi(width: int, height: int) -> Roi:
    """The whole frame padded to a centred square (ImageToTensor keep_aspect_ratio)."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def detection_rois(width: int, height: int, min_aspect: float = 1.25) -> list[Roi]:
    """Where to run the detector: the whole frame, letterboxed (what MediaPipe does), then,
    for a wide or tall frame, squares of the short side spread along the long side.

    At 224x224 a person under ~15% of the long side is barely seen by the detector;
    the squares see them 1.8x larger in a 16:9 frame (e.g. the small far-away people
    of sports2d_demo.mp4, scored 0.49 on the whole frame and 0.96 in a square).
    """
    rois = [letterbox_roi(width, height)]
    long_side, short = max(width, height), min(width, height)
    if short <= 0 or long_side / short < min_aspect:
        return rois
    n = max(2, int(math.ceil(long_side / short)))
    for i in range(n):
        c = short / 2 + i * (long_side - short) / (n - 1)
        rois.append(Roi(c, height / 2, float(short)) if width >= height else Roi(width / 2, c, float(short)))
    return rois


def crop_matrix(roi: Roi, out_size: int) -> np.ndarray:
    """2x3 affine map from image pixels to crop pixels (the ROI square -> [0, out_size]^2)."""
    k = out_size / roi.size
    a = _rot(-roi.rotation) * k
    t = out_size / 2.0 - a @ np.array([roi.cx, roi.cy])
    return np.concatenate([a, t[:, None]], 1)


def image_to_crop(points: np.ndarray, roi: Roi, out_size: int) -> np.ndarray:
    m = crop_matrix(roi, out_size)
    pts = np.asarray(points, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def crop_to_image(points: np.ndarray, roi: Roi, out_size: int) -> np.ndarray:
    """Crop pixels (..., 2) -> image pixels (the inverse of :func:`crop_matrix`)."""
    pts = np.asarray(points, dtype=np.float64)
    local = (pts / out_size - 0.5) * roi.size
    return local @ _rot(roi.rotation).T + (roi.cx, roi.cy)


def crop(image: np.ndarray, roi: Roi, out_size: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Bilinear crop of the ROI to out_size x out_size (MediaPipe maps the ROI's corners
    onto the tensor's corners, no half-pixel shift; the landmark crop replicates the
    border, the detector's letterbox pads with zeros)."""
    return cv2.warpAffine(image, crop_matrix(roi, out_size), (out_size, out_size),
                          flags=cv2.INTER_LINEAR, borderMode=border, borderValue=(0, 0, 0))


# ---------------------------------------------------------------------------------------------
# Landmark post-processing
# ---------------------------------------------------------------------------------------------

def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_conf: float = HEATMAP_MIN_CONF) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmap on (K, 2) landmarks normalised to the crop.

    Each landmark moves to the sigmoid-weighted mean cell of a kernel x kernel window
    of its own heatmap channel around it, if the window's peak is confident enough.
    Cell c maps back to c / width (MediaPipe adds no half-cell offset; kept for parity).
    """
    h, w, k = heatmap.shape
    xy = np.asarray(xy, dtype=np.float64)
    col = np.trunc(xy[:, 0] * w).astype(np.int64)  # C++ float->int truncates toward zero
    row = np.trunc(xy[:, 1] * h).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    off = (kernel - 1) // 2
    steps = np.arange(-off, off + 1)
    rows = row[:, None] + steps  # (K, kernel)
    cols = col[:, None] + steps
    rvalid = (rows >= 0) & (rows < h)
    cvalid = (cols >= 0) & (cols < w)
    ch = np.arange(k)
    vals = heatmap[np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :], ch[:, None, None]]
    conf = sigmoid(vals) * (rvalid[:, :, None] & cvalid[:, None, :])  # outside the map counts as 0
    total = conf.sum((1, 2))
    peak = conf.max((1, 2))
    ok = inside & (peak >= min_conf) & (total > 0)
    out = xy.copy()
    safe = np.where(total > 0, total, 1.0)
    out[ok, 0] = ((conf * cols[:, None, :]).sum((1, 2)) / safe / w)[ok]
    out[ok, 1] = ((conf * rows[:, :, None]).sum((1, 2)) / safe / h)[ok]
    return out


class LowPass:
    """Exponential smoothing that starts from the first value (MediaPipe LowPassFilter)."""

    def __init__(self) -> None:
        self.raw = None
        self.stored = None

    def __call__(self, value: np.ndarray, alpha) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        out = value if self.stored is None else alpha * value + (1 - alpha) * self.stored
        self.raw, self.stored = value, out
        return out


class OneEuro:
    """MediaPipe's one-euro filter, vectorised over any array shape.

    The speed estimate is multiplied by ``value_scale`` (1 / object size in pixels), so
    the cutoffs do not depend on how large the person is in the frame.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float, frequency: float = 30.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.frequency = frequency
        self.last_t: float | None = None
        self.x = LowPass()
        self.dx = LowPass()

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.frequency)

    def __call__(self, t: float, value: np.ndarray, value_scale: float = 1.0) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self.last_t is not None:
            if t <= self.last_t:
                return value
            self.frequency = 1.0 / (t - self.last_t)
        self.last_t = t
        d = np.zeros_like(value) if self.x.raw is None else (value - self.x.raw) * value_scale * self.frequency
        ed = self.dx(d, self._alpha(self.d_cutoff))
        return self.x(value, self._alpha(self.min_cutoff + self.beta * np.abs(ed)))
