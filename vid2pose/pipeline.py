"""Runs the stages for one video: frames -> 2D people -> tracks -> outputs."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from vid2pose.errors import NoPersonError
from vid2pose.export.json_io import pose2d_document, write_json
from vid2pose.pose2d.base import Pose2DBackend
from vid2pose.progress import Reporter
from vid2pose.skeletons import to_h36m
from vid2pose.track import Tracker, select_tracks
from vid2pose.types import Frame, Pose2DResult
from vid2pose.video import VideoSource, open_source


@dataclass
class Pose2DOptions:
    person: str = "main"  # main | all | track ID
    start: float | None = None  # seconds
    end: float | None = None
    batch_size: int = 8  # frames handed to the backend at once (GPU backends batch them)
    image_fps: float = 30.0  # frame rate given to image sequences
    max_gap: float = 1.0  # seconds a track may go unseen and keep its ID


@dataclass
class VideoReport:
    frames: int  # frames analysed
    frames_with_person: int
    people: int  # tracks written
    seconds: float


def analyse_2d(source: VideoSource, backend: Pose2DBackend, opts: Pose2DOptions,
               advance: Callable[[int], None] = lambda n: None) -> Pose2DResult:
    """Stream the selected frames through the backend and the tracker (all tracks kept)."""
    first, last = source.frame_range(opts.start, opts.end)
    tracker = Tracker(source.meta.fps, max_gap=opts.max_gap)
    if hasattr(backend, "fps"):  # backends that smooth over time need the true frame rate
        backend.fps = source.meta.fps
    backend.reset()
    batch: list[Frame] = []
    n_frames = 0
    last_seen = first - 1

    def flush() -> None:
        for frame, people in zip(batch, backend.process([f.image for f in batch])):
            for p in people:
                p.h36m = to_h36m(backend.skeleton, p.keypoints)
            tracker.update(frame.index, frame.time, people)
        advance(len(batch))
        batch.clear()

    for frame in source.frames(first, last):
        batch.append(frame)
        n_frames += 1
        last_seen = frame.index
        if len(batch) >= opts.batch_size:
            flush()
    if batch:
        flush()
    result = Pose2DResult(video=source.meta, backend=backend.name, skeleton=backend.skeleton,
                          weights=backend.weights(), first_frame=first, last_frame=max(last_seen, first))
    result.tracks = tracker.finish(min_frames=min(3, n_frames))
    return result


def pose2d_one(spec: str | Sequence[Path], out: Path, overlay: Path | None, backend: Pose2DBackend,
               opts: Pose2DOptions, reporter: Reporter, label: str) -> VideoReport:
    """The `pose2d` command for one input: writes the JSON (and the overlay video) atomically."""
    t0 = time.perf_counter()
    source = open_source(spec, image_fps=opts.image_fps)
    first, last = source.frame_range(opts.start, opts.end)
    total = last - first + 1 if source.meta.frame_count > 0 else None
    with reporter.task(f"2D {label}", total) as advance:
        result = analyse_2d(source, backend, opts, advance)
    n = result.last_frame - result.first_frame + 1
    if not result.tracks:
        raise NoPersonError(f"{label}: no person found in any of the {n} frames analysed")
    tracks = select_tracks(result.tracks, opts.person)
    write_json(out, pose2d_document(result, tracks))
    if overlay is not None:
        from vid2pose.export.overlay import write_overlay

        with reporter.task(f"overlay {label}", total) as advance:
            write_overlay(overlay, source, tracks, result.skeleton, result.first_frame, result.last_frame,
                          on_frame=lambda: advance(1))
    seen = set()
    for t in tracks:
        seen.update(int(f) for f in t.frame_indices)
    return VideoReport(frames=n, frames_with_person=len(seen), people=len(tracks),
                       seconds=time.perf_counter() - t0)


def run_one(spec: str | Sequence[Path], out: Path, overlay: Path | None, backend: Pose2DBackend, lifter,
            opts: Pose2DOptions, settings, fmt: str, export_opts, reporter: Reporter, label: str) -> VideoReport:
    """The `run` command for one input: 2D, tracking, lifting to metric 3D, then the chosen exporter."""
    from vid2pose.export.formats import FORMATS
    from vid2pose.export.json_io import add_pose3d
    from vid2pose.lift.lifting import lift_info, lift_track

    t0 = time.perf_counter()
    source = open_source(spec, image_fps=opts.image_fps)
    first, last = source.frame_range(opts.start, opts.end)
    total = last - first + 1 if source.meta.frame_count > 0 else None
    with reporter.task(f"2D {label}", total) as advance:
        result = analyse_2d(source, backend, opts, advance)
    n = result.last_frame - result.first_frame + 1
    if not result.tracks:
        raise NoPersonError(f"{label}: no person found in any of the {n} frames analysed")
    tracks = select_tracks(result.tracks, opts.person)
    with reporter.task(f"3D {label}", len(tracks)) as advance:
        lifted = []
        for t in tracks:
            lifted.append(lift_track(t, source.meta, lifter, settings, backend=result.backend))
            advance(1)
    doc = add_pose3d(pose2d_document(result, tracks), lifted, lift_info(lifter, settings, source.meta))
    if overlay is not None:
        from vid2pose.export.overlay import write_overlay

        with reporter.task(f"overlay {label}", total) as advance:
            write_overlay(overlay, source, tracks, result.skeleton, result.first_frame, result.last_frame,
                          on_frame=lambda: advance(1), tracks3d=lifted)
    FORMATS[fmt][1](doc, lifted, out, export_opts)  # last: an existing output is a finished job
    seen = set()
    for t in tracks:
        seen.update(int(f) for f in t.frame_indices)
    return VideoReport(frames=n, frames_with_person=len(seen), people=len(tracks),
                       seconds=time.perf_counter() - t0)
