"""The 2D backends' keypoint scores put on the lifter's confidence scale, before lifting.

The shipped lifter was trained with a confidence that follows how far a keypoint lies from the truth
(vid2pose/train/noise.py: about 0.97 - 3 x the error in person heights). MediaPipe's score is the
landmark's *visibility*: whether the joint is hidden, not how well it is placed. Measured on the
12 rendered bench clips (benchmarks/accuracy.py, 13,632 limb keypoints, unfiltered landmarks), the
median error was 1.5 % of the person's height at visibility above 0.95, 1.7 % at 0.5-0.9 and 3.7 %
below 0.3 (correlation -0.15), yet the lifter read a visibility of 0.1 as a keypoint to ignore.
Mapped through those median errors to the training scale, P-MPJPE on the bench went from 57.7 to
54.5 mm. (The table comes from the bench's own clips: a monotone map with a narrow range, but not an
independent test of it.) Backends whose scores are heatmap peaks (rtmpose, yolo) pass unchanged.
"""
from __future__ import annotations

import numpy as np

# visibility -> confidence, 0.97 - 3 x the measured median error at that visibility (linear between)
MEDIAPIPE_VISIBILITY = (0.15, 0.4, 0.6, 1.0)
MEDIAPIPE_CONFIDENCE = (0.86, 0.90, 0.92, 0.925)


def _mediapipe(score: np.ndarray) -> np.ndarray:
    return np.interp(score, MEDIAPIPE_VISIBILITY, MEDIAPIPE_CONFIDENCE)


CALIBRATIONS = {"mediapipe": _mediapipe}  # --pose2d backend name -> score map


def lifter_confidence(backend: str | None, kp: np.ndarray) -> np.ndarray:
    """(..., 17, 3) keypoints with the backend's scores -> a copy with the lifter's confidence."""
    calibrate = CALIBRATIONS.get(backend or "")
    if calibrate is None:
        return kp
    out = np.array(kp, copy=True)
    out[..., 2] = calibrate(out[..., 2].astype(np.float64))
    return out
