"""Video input: a video file, a folder of images, or a glob of images, streamed frame by frame.

Frames are never collected: memory stays flat however long the video is.
Rotation metadata (portrait phone videos) is applied by OpenCV's FFmpeg
backend, and EXIF orientation by cv2.imread, so every frame handed out is upright.
"""
from __future__ import annotations

import glob as globmod
import re
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from vid2pose.errors import InputError, UsageError
from vid2pose.types import Frame, VideoMeta

VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".3gp", ".ts", ".mts", ".m2ts", ".ogv"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
DEFAULT_IMAGE_FPS = 30.0


def is_video_file(p: Path) -> bool:
    return p.suffix.lower() in VIDEO_EXTS


def is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS


def _natural_key(p: Path):
    # frame_2.png before frame_10.png
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def list_images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)), key=_natural_key)


def has_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")


class VideoSource:
    """Streams upright BGR frames of one video (a file or an ordered list of images)."""

    def __init__(self, meta: VideoMeta, images: Sequence[Path] | None = None):
        self.meta = meta
        self._images = list(images) if images is not None else None

    def frame_range(self, start: float | None = None, end: float | None = None) -> tuple[int, int]:
        """First and last frame index (inclusive) for times in seconds; end=None means the last frame."""
        fps = self.meta.fps
        first = max(0, int(round(start * fps))) if start else 0
        n = self.meta.frame_count
        last = int(round(end * fps)) - 1 if end is not None else (n - 1 if n > 0 else 1 << 62)
        if n > 0:
            last = min(last, n - 1)
        if start is not None and start < 0 or end is not None and end <= 0:
            raise UsageError("--start must be >= 0 and --end > 0 (seconds)")
        if last < first:
            raise UsageError(f"--start/--end select no frames of {Path(self.meta.source).name} "
                             f"({n} frames at {fps:g} fps)")
        return first, last

    def frames(self, first: int = 0, last: int | None = None) -> Iterator[Frame]:
        if self._images is not None:
            yield from self._image_frames(first, last)
        else:
            yield from self._video_frames(first, last)

    def _image_frames(self, first: int, last: int | None) -> Iterator[Frame]:
        stop = len(self._images) - 1 if last is None else min(last, len(self._images) - 1)
        size = (self.meta.height, self.meta.width)
        for i in range(first, stop + 1):
            img = cv2.imread(str(self._images[i]), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f"{self._images[i].name}: cannot read this image (corrupt or not an image)")
            if img.shape[:2] != size:
                raise InputError(f"{self._images[i].name}: size {img.shape[1]}x{img.shape[0]} differs from "
                                 f"the first image ({size[1]}x{size[0]}); an image sequence needs one size")
            yield Frame(index=i, time=i / self.meta.fps, image=img)

    def _video_frames(self, first: int, last: int | None) -> Iterator[Frame]:
        cap = _open_capture(self.meta.source)
        try:
            i = 0
            # grab() without decoding to the start: seeking by frame is inexact for many codecs.
            while i < first:
                if not cap.grab():
                    raise InputError(f"{Path(self.meta.source).name}: the video ends before frame {first}")
                i += 1
            while last is None or i <= last:
                ok, img = cap.read()
                if not ok or img is None:
                    break
                yield Frame(index=i, time=i / self.meta.fps, image=img)
                i += 1
        finally:
            cap.release()
        expected = self.meta.frame_count if last is None else min(last + 1, self.meta.frame_count)
        # Containers may overstate the count by a frame or two; much fewer decoded frames means damage.
        if self.meta.frame_count > 0 and i < expected - max(2, 0.01 * expected):
            raise InputError(f"{Path(self.meta.source).name}: decoding stopped at frame {i} of "
                             f"{self.meta.frame_count}; the file is corrupt or truncated")


def _open_capture(path: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if cap.isOpened():
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def open_video_file(path: Path) -> VideoSource:
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    cap = _open_capture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(f"{path.name}: not a video that can be read (OpenCV/FFmpeg could not open it)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        ok, img = cap.read()
        if not ok or img is None:
            raise InputError(f"{path.name}: no frame could be decoded (empty, corrupt, or not a video)")
    finally:
        cap.release()
    if not (0 < fps < 1000):
        raise InputError(f"{path.name}: the video reports no usable frame rate ({fps})")
    codec = fourcc.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ") if fourcc else ""
    h, w = img.shape[:2]  # the decoded, already rotated frame is the truth about size
    meta = VideoMeta(source=str(path), fps=fps, width=w, height=h, frame_count=max(count, 0),
                     rotation=rotation, kind="video", codec=codec)
    return VideoSource(meta)


def open_image_sequence(images: Sequence[Path], source: str, fps: float = DEFAULT_IMAGE_FPS) -> VideoSource:
    if not images:
        raise UsageError(f"{source}: no images found")
    first = cv2.imread(str(images[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise InputError(f"{images[0].name}: cannot read this image (corrupt or not an image)")
    h, w = first.shape[:2]
    meta = VideoMeta(source=source, fps=float(fps), width=w, height=h, frame_count=len(images),
                     rotation=0, kind="images", codec="")
    return VideoSource(meta, images)


def open_source(spec: str | Path | Sequence[Path], image_fps: float = DEFAULT_IMAGE_FPS) -> VideoSource:
    """Open a video file, a folder of images, a glob of images, or an explicit list of images."""
    if isinstance(spec, (list, tuple)):
        return open_image_sequence(sorted(map(Path, spec), key=_natural_key), str(Path(spec[0]).parent), image_fps)
    s = str(spec)
    if has_glob(s) and not Path(s).exists():
        files = [Path(p) for p in globmod.glob(s)]
        images = sorted((p for p in files if is_image_file(p)), key=_natural_key)
        if not images:
            raise UsageError(f"{s}: the pattern matches no images")
        return open_image_sequence(images, s, image_fps)
    p = Path(s).expanduser()
    if p.is_dir():
        return open_image_sequence(list_images(p), str(p), image_fps)
    if p.exists() and is_image_file(p):
        return open_image_sequence([p], str(p), image_fps)
    return open_video_file(p)


def blank_frame(meta: VideoMeta) -> np.ndarray:
    return np.zeros((meta.height, meta.width, 3), np.uint8)
