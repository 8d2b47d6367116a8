"""--overlay: the video with each person's skeleton, box and track ID drawn on it, and, for `run`,
a 3D view of the lifted skeletons beside it.

Drawn with plain OpenCV (no plotting library: ultralytics' own plotter fetches
a font from the internet). Written with the mp4v codec, the one encoder every
OpenCV wheel carries.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from vid2pose.atomic import atomic_path
from vid2pose.errors import InputError
from vid2pose.skeletons import H36M_BONES, SKELETONS
from vid2pose.types import Track
from vid2pose.video import VideoSource

# Distinct BGR colours for track IDs.
_PALETTE = [(60, 180, 255), (80, 220, 80), (255, 140, 60), (200, 80, 255), (60, 230, 230),
            (255, 90, 160), (140, 140, 255), (30, 120, 200)]
_LEFT = {4, 5, 6, 11, 12, 13}


def colour(track_id: int) -> tuple[int, int, int]:
    return _PALETTE[(track_id - 1) % len(_PALETTE)]


def draw_person(img: np.ndarray, track_id: int, bbox: np.ndarray, h36m: np.ndarray, native: np.ndarray,
                skeleton: str, min_conf: float = 0.3) -> None:
    scale = max(1, round(max(img.shape[:2]) / 720))
    col = colour(track_id)
    x1, y1, x2, y2 = (int(round(v)) for v in bbox)
    cv2.rectangle(img, (x1, y1), (x2, y2), col, scale, cv2.LINE_AA)
    cv2.putText(img, f"#{track_id}", (x1, max(0, y1 - 6 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                0.6 * scale, col, 2 * scale, cv2.LINE_AA)
    for a, b in H36M_BONES:
        if h36m[a, 2] < min_conf or h36m[b, 2] < min_conf:
            continue
        # Left limbs lighter, so mirrored (left/right swapped) keypoints are visible at a glance.
        c = tuple(min(255, v + 90) for v in col) if b in _LEFT else col
        pa, pb = (tuple(int(round(v)) for v in h36m[j, :2]) for j in (a, b))
        cv2.line(img, pa, pb, c, 2 * scale, cv2.LINE_AA)
    names = SKELETONS[skeleton][0]
    for k in range(min(len(names), native.shape[0])):
        if native[k, 2] >= min_conf:
            cv2.circle(img, (int(round(native[k, 0])), int(round(native[k, 1]))), 2 * scale,
                       (255, 255, 255), -1, cv2.LINE_AA)


@dataclass
class View3D:
    """A fixed orthographic view of camera-space points (x right, y down, z forward), chosen once per clip
    so the panel does not jump: seen from a little above and to the side, so depth shows."""

    width: int
    height: int
    rotation: np.ndarray  # (3, 3) camera space -> view (x right, y down on the panel)
    centre: np.ndarray  # (3,) camera-space point drawn at the panel's centre
    scale: float  # pixels per metre
    floor_y: float  # camera-space y of the floor (y points down)

    def project(self, pts: np.ndarray) -> np.ndarray:
        v = (np.asarray(pts, np.float64) - self.centre) @ self.rotation.T
        return np.stack([self.width / 2 + self.scale * v[..., 0], self.height / 2 + self.scale * v[..., 1]], -1)


def view_for(tracks3d: Sequence, width: int, height: int, azimuth: float = 35.0, elevation: float = 15.0) -> View3D:
    """The view that keeps every track of the clip in the panel (robust percentiles, so one wild frame
    does not shrink everybody)."""
    a, e = np.radians(azimuth), np.radians(elevation)
    turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])  # about the vertical
    tilt = np.array([[1, 0, 0], [0, np.cos(e), np.sin(e)], [0, -np.sin(e), np.cos(e)]])  # look down a little
    rot = tilt @ turn
    pts = np.concatenate([t.joints_cam[:: max(1, len(t.frames) // 200)].reshape(-1, 3) for t in tracks3d]) \
        if tracks3d else np.zeros((1, 3))
    ankles = np.concatenate([t.joints_cam[:, [3, 6], 1].ravel() for t in tracks3d]) if tracks3d else np.zeros(1)
    floor_y = float(np.percentile(ankles, 95)) + 0.08
    lo, hi = np.percentile(pts, 2, axis=0), np.percentile(pts, 98, axis=0)
    centre = (lo + hi) / 2
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], floor_y) for z in (lo[2], hi[2])])
    span = np.ptp((corners - centre) @ rot.T, axis=0)[:2]
    span = np.maximum(span, 1.0)  # at least a metre across: a still person is not blown up
    scale = 0.85 * min(width / span[0], height / span[1])
    return View3D(width, height, rot, centre, float(scale), floor_y)


def _draw_floor(img: np.ndarray, view: View3D, step: float = 0.5, half: float = 3.0) -> None:
    cx, cz = view.centre[0], view.centre[2]
    for k in np.arange(-half, half + 1e-6, step):
        for a, b in (((cx + k, cz - half), (cx + k, cz + half)), ((cx - half, cz + k), (cx + half, cz + k))):
            p = view.project(np.array([[a[0], view.floor_y, a[1]], [b[0], view.floor_y, b[1]]]))
            cv2.line(img, tuple(int(round(v)) for v in p[0]), tuple(int(round(v)) for v in p[1]), (70, 70, 70), 1,
                     cv2.LINE_AA)


def draw_pose3d_panel(img: np.ndarray, poses: Sequence[tuple[int, np.ndarray, bool]], view: View3D) -> None:
    """Draw ``(track_id, joints_cam (17, 3), interpolated)`` skeletons on ``img`` (the panel) in place."""
    img[:] = (32, 32, 32)
    _draw_floor(img, view)
    thick = max(1, round(min(view.width, view.height) / 240))
    for track_id, joints, interpolated in poses:
        px = view.project(joints)
        col = (150, 150, 150) if interpolated else colour(track_id)
        for a, b in H36M_BONES:
            c = tuple(min(255, v + 90) for v in col) if b in _LEFT else col
            pa, pb = (tuple(int(round(v)) for v in px[j]) for j in (a, b))
            cv2.line(img, pa, pb, c, 2 * thick, cv2.LINE_AA)
        head = px[10]
        label = f"#{track_id}" + (" interpolated" if interpolated else "")
        cv2.putText(img, label, (int(head[0]) + 6, int(head[1]) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, col,
                    thick, cv2.LINE_AA)
    cv2.putText(img, "3D (camera space, m)", (8, 18 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick,
                (200, 200, 200), thick, cv2.LINE_AA)


def write_overlay(out: Path, source: VideoSource, tracks: list[Track], skeleton: str,
                  first: int, last: int, on_frame: Callable[[], None] | None = None,
                  tracks3d: Sequence | None = None) -> None:
    """Decode the video again (memory stays flat) and draw every track on its frames; with ``tracks3d``
    (from `run`) a 3D panel as wide as the video is high (at most the video's width) goes on the right."""
    by_frame: dict[int, list[tuple[Track, int]]] = {}
    for t in tracks:
        for i, f in enumerate(t.frame_indices):
            by_frame.setdefault(int(f), []).append((t, i))
    meta = source.meta
    panel_w = min(meta.height, meta.width) if tracks3d else 0
    view = view_for(tracks3d, panel_w, meta.height) if tracks3d else None
    with atomic_path(out) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), meta.fps,
                                 (meta.width + panel_w, meta.height))
        if not writer.isOpened():
            raise InputError(f"{out}: cannot write a video here (use a .mp4 or .avi name in a writable folder)")
        canvas = np.zeros((meta.height, meta.width + panel_w, 3), np.uint8) if tracks3d else None
        cams = [(t, t.joints_cam) for t in tracks3d or []]  # once: joints_cam is computed on each access
        try:
            for frame in source.frames(first, last):
                img = frame.image
                for t, i in by_frame.get(frame.index, []):
                    draw_person(img, t.track_id, t.bboxes[i], t.h36m[i], t.keypoints[i], skeleton)
                if tracks3d:
                    canvas[:, :meta.width] = img
                    poses = [(t.track_id, cam[frame.index - t.frames[0]], bool(t.interpolated[frame.index - t.frames[0]]))
                             for t, cam in cams if t.frames[0] <= frame.index <= t.frames[-1]]
                    draw_pose3d_panel(canvas[:, meta.width:], poses, view)
                    img = canvas
                writer.write(img)
                if on_frame:
                    on_frame()
        finally:
            writer.release()
