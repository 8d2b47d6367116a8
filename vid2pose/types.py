"""Small dataclasses passed between stages: video -> frames -> people -> tracks.

Arrays are numpy, pixel coordinates are in the upright frame (after rotation
metadata is applied), x to the right and y down.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class VideoMeta:
    source: str
    fps: float
    width: int  # of the upright frames we hand out
    height: int
    frame_count: int  # frames in the whole file as the container reports them (0 if unknown)
    rotation: int = 0  # degrees clockwise applied to make frames upright
    kind: str = "video"  # "video" or "images"
    codec: str = ""


@dataclass
class Frame:
    index: int  # index in the source, counting from 0
    time: float  # seconds, index / fps
    image: np.ndarray  # (H, W, 3) uint8 BGR, upright


@dataclass
class Person2D:
    """One person found in one frame by a 2D backend."""

    bbox: np.ndarray  # (4,) float32 x1, y1, x2, y2 in pixels
    score: float  # detection confidence in [0, 1]
    keypoints: np.ndarray  # (K, 3) float32: x, y in pixels, confidence in [0, 1]; backend's own order
    h36m: np.ndarray | None = None  # (17, 3) the same person in the Human3.6M-17 order


@dataclass
class FramePeople:
    frame_index: int
    time: float
    people: list[Person2D]


@dataclass
class Track:
    """One person followed through the video. Only frames where the person was seen are stored."""

    track_id: int
    frame_indices: np.ndarray  # (N,) int64, increasing
    times: np.ndarray  # (N,) float64 seconds
    bboxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    keypoints: np.ndarray  # (N, K, 3) float32, backend order
    h36m: np.ndarray  # (N, 17, 3) float32

    def __len__(self) -> int:
        return int(self.frame_indices.shape[0])

    def gaps(self) -> list[tuple[int, int]]:
        """Runs of frames inside the track's span where the person was not seen, as (first, last)."""
        idx = self.frame_indices
        out = []
        for a, b in zip(idx[:-1], idx[1:]):
            if b - a > 1:
                out.append((int(a) + 1, int(b) - 1))
        return out

    def presence(self) -> float:
        """How much of the video this person fills: frames seen x mean box area (for --person main)."""
        wh = np.clip(self.bboxes[:, 2:4] - self.bboxes[:, 0:2], 0, None)
        return float((wh[:, 0] * wh[:, 1]).sum())


@dataclass(frozen=True)
class WeightsIdentity:
    """What produced the numbers: reported in every output file."""

    name: str
    file: str
    sha256: str


@dataclass
class Pose2DResult:
    """Everything the 2D stage knows about one video."""

    video: VideoMeta
    backend: str
    skeleton: str  # name of the backend's keypoint set in vid2pose.skeletons
    weights: list[WeightsIdentity]
    first_frame: int  # first and last frame index analysed (the --start/--end range)
    last_frame: int
    tracks: list[Track] = field(default_factory=list)
