"""Lift every track of a 2D result to metric 3D (the `lift` stage for one video)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vid2pose.lift.loading import LoadedLifter
from vid2pose.lift.metric import default_focal, metric_scale, root_trajectory
from vid2pose.lift.sequence import LiftOptions, dense_track, lift_sequence
from vid2pose.types import Track, VideoMeta

DEFAULT_HEIGHT = 1.70


@dataclass
class Track3D:
    track_id: int
    frames: np.ndarray  # (N,) every frame from the track's first to its last
    times: np.ndarray  # (N,) seconds
    interpolated: np.ndarray  # (N,) True where the 2D detection was missing and was interpolated
    joints: np.ndarray  # (N, 17, 3) metres, root-relative, camera axes (x right, y down, z forward)
    root: np.ndarray  # (N, 3) metres, the pelvis in camera space
    scale: float  # metres per 2.5D pixel used for this track

    @property
    def joints_cam(self) -> np.ndarray:
        return self.joints + self.root[:, None, :]


@dataclass
class LiftSettings:
    height: float = DEFAULT_HEIGHT
    focal: float | None = None  # pixels; None: assumed from a 60 degree field of view
    options: LiftOptions | None = None


def lift_track(track: Track, meta: VideoMeta, lifter: LoadedLifter, settings: LiftSettings) -> Track3D:
    frames, kp, interp = dense_track(track.frame_indices, track.h36m)
    rel_px = lift_sequence(kp, meta.fps, meta.width, meta.height, lifter, settings.options)
    scale = metric_scale(rel_px, settings.height)
    rel_m = rel_px * scale
    focal = settings.focal or default_focal(meta.width, meta.height)
    root = root_trajectory(rel_m, kp, focal, meta.width / 2, meta.height / 2)
    return Track3D(track_id=track.track_id, frames=frames, times=frames / meta.fps, interpolated=interp,
                   joints=rel_m.astype(np.float32), root=root, scale=float(scale))
