"""--overlay: the video with each person's skeleton, box and track ID drawn on it.

Drawn with plain OpenCV (no plotting library: ultralytics' own plotter fetches
a font from the internet). Written with the mp4v codec, the one encoder every
OpenCV wheel carries.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

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


def write_overlay(out: Path, source: VideoSource, tracks: list[Track], skeleton: str,
                  first: int, last: int, on_frame: Callable[[], None] | None = None) -> None:
    """Decode the video again (memory stays flat) and draw every track on its frames."""
    by_frame: dict[int, list[tuple[Track, int]]] = {}
    for t in tracks:
        for i, f in enumerate(t.frame_indices):
            by_frame.setdefault(int(f), []).append((t, i))
    meta = source.meta
    with atomic_path(out) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), meta.fps, (meta.width, meta.height))
        if not writer.isOpened():
            raise InputError(f"{out}: cannot write a video here (use a .mp4 or .avi name in a writable folder)")
        try:
            for frame in source.frames(first, last):
                img = frame.image
                for t, i in by_frame.get(frame.index, []):
                    draw_person(img, t.track_id, t.bboxes[i], t.h36m[i], t.keypoints[i], skeleton)
                writer.write(img)
                if on_frame:
                    on_frame()
        finally:
            writer.release()
