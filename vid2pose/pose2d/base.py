"""The one interface every 2D backend implements.

A backend finds people in frames and returns their keypoints in its own
keypoint set (``skeleton``, a key of ``vid2pose.skeletons.SKELETONS``). The
pipeline converts to H36M-17 and tracks people across frames; backends may
keep state between consecutive frames of one video (e.g. ROI tracking) and
forget it on ``reset()``.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from vid2pose.types import Person2D, WeightsIdentity


class Pose2DBackend(Protocol):
    name: str  # the --pose2d name
    skeleton: str  # key of vid2pose.skeletons.SKELETONS

    def process(self, images: Sequence[np.ndarray]) -> list[list[Person2D]]:
        """Consecutive upright BGR uint8 frames of one video -> the people found in each."""
        ...

    def reset(self) -> None:
        """Forget per-video state before the next video."""
        ...

    def weights(self) -> list[WeightsIdentity]:
        """Which model files produced the keypoints (recorded in the output)."""
        ...

    def close(self) -> None:
        ...


def box_from_keypoints(kp: np.ndarray, min_conf: float = 0.2, pad: float = 0.1) -> np.ndarray:
    """Tight box around the confident keypoints, padded by a fraction of its size (x1, y1, x2, y2)."""
    ok = kp[:, 2] >= min_conf
    pts = kp[ok, :2] if ok.sum() >= 2 else kp[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    size = hi - lo
    return np.concatenate([lo - pad * size, hi + pad * size]).astype(np.float32)
