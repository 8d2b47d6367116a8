"""Lift every track of a 2D result to metric 3D (the `lift` stage for one video)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vid2pose.kinematics import median_bone_lengths, with_bone_lengths
from vid2pose.lift.confidence import lifter_confidence
from vid2pose.lift.loading import LoadedLifter
from vid2pose.lift.metric import default_focal, metric_scales, root_trajectory
from vid2pose.lift.sequence import LiftOptions, dense_track, lift_sequence, recentres
from vid2pose.lift.swaps import repair_limb_swaps
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
    scale: float  # metres per pixel at the person's depth (the track's median; it follows the depth)
    swaps_repaired: int = 0  # (frame, left/right pair) labels put back before lifting (vid2pose.lift.swaps)

    @property
    def joints_cam(self) -> np.ndarray:
        return self.joints + self.root[:, None, :]


@dataclass
class LiftSettings:
    height: float = DEFAULT_HEIGHT
    focal: float | None = None  # pixels; None: assumed from a 60 degree field of view
    options: LiftOptions | None = None
    repair_swaps: bool = True  # put back left/right limb labels the 2D stage swapped (vid2pose.lift.swaps)
    constant_bones: bool = False  # one length per bone for the track (``constant_bone_lengths``)


def lift_track(track: Track, meta: VideoMeta, lifter: LoadedLifter, settings: LiftSettings,
               backend: str | None = None) -> Track3D:
    """``backend``: the 2D backend's name, whose keypoint scores are put on the lifter's scale."""
    kp2d = lifter_confidence(backend, track.h36m)
    # on the detected frames only, before gaps are filled: a filled frame cannot show a jump
    kp2d, swaps = repair_limb_swaps(kp2d) if settings.repair_swaps else (kp2d, 0)
    frames, kp, interp = dense_track(track.frame_indices, kp2d)
    focal = settings.focal or default_focal(meta.width, meta.height)
    rel_px = lift_sequence(kp, meta.fps, meta.width, meta.height, lifter, settings.options, focal=focal)
    scales = metric_scales(rel_px, settings.height)  # per frame: the pixel unit follows the person's depth
    rel_m = rel_px * scales[:, None, None]
    if settings.constant_bones:
        rel_m = constant_bone_lengths(rel_m, ~interp)
    root = root_trajectory(rel_m, kp, focal, meta.width / 2, meta.height / 2)
    return Track3D(track_id=track.track_id, frames=frames, times=frames / meta.fps, interpolated=interp,
                   joints=rel_m.astype(np.float32), root=root, scale=float(np.median(scales)), swaps_repaired=swaps)


def constant_bone_lengths(joints: np.ndarray, measured: np.ndarray | None = None) -> np.ndarray:
    """A track's (F, 17, 3) metric joints on one body: each bone keeps its direction in each frame and
    takes the track's median length, left and right averaged, measured on the ``measured`` (F,) frames
    (all when None or none). The network's bones stretch and shrink from frame to frame with the 2D
    noise; one body's do not. Not the default: with the stage-12 weights it lowers MPJPE on held-out
    motion capture with the noise model (45.0 -> 44.6 mm) but raises N-MPJPE from BlazePose's 2D on
    rendered video (57.6 -> 58.2 mm; README, "Metres and the camera")."""
    use = joints if measured is None or not np.any(measured) else joints[np.asarray(measured, bool)]
    return with_bone_lengths(joints, median_bone_lengths(use))


def lift_info(lifter: LoadedLifter, settings: LiftSettings, meta: VideoMeta) -> dict:
    """The top-level "pose3d" description written to the JSON (how the 3D was made)."""
    opts = settings.options or LiftOptions()
    return {"lifter": lifter.spec.name,
            "weights": {"name": lifter.weights.name, "file": lifter.weights.file, "sha256": lifter.weights.sha256},
            "height_m": float(settings.height),
            "focal_px": float(settings.focal or default_focal(meta.width, meta.height)),
            "focal_assumed": settings.focal is None,
            "flip": bool(lifter.spec.flip if opts.flip is None else opts.flip),
            "swap_repair": bool(settings.repair_swaps),
            "constant_bones": bool(settings.constant_bones),
            "windows_per_frame": int(min(opts.hops or lifter.spec.hops, lifter.spec.clip_len)),  # more acts as clip_len
            "recentred": recentres(lifter, opts),
            "lifter_fps": lifter.spec.fps, "clip_len": lifter.spec.clip_len}


def tracks3d_from_document(doc: dict) -> list[Track3D]:
    """The 3D tracks of a validated version-2 document (tracks without "pose3d" are left out)."""
    fps = float(doc["video"]["fps"])
    out = []
    for t in doc["tracks"]:
        p3 = t.get("pose3d")
        if not p3:
            continue
        frames = np.array([f["frame"] for f in p3], np.int64)
        joints = np.array([f["joints"] for f in p3], np.float32).reshape(-1, 17, 3)
        cam = np.array([f["joints_cam"] for f in p3], np.float32).reshape(-1, 17, 3)
        out.append(Track3D(track_id=int(t["id"]), frames=frames,
                           times=np.array([f["time"] for f in p3], np.float64) if p3 else frames / fps,
                           interpolated=np.array([f["interpolated"] for f in p3], bool),
                           joints=joints, root=(cam - joints)[:, 0, :], scale=float("nan"),
                           swaps_repaired=int(t.get("swaps_repaired", 0))))
    return out
