"""Speed and peak memory of the 2D stage (detector + keypoints + tracking) at 480p, 720p and 1080p.

    python benchmarks/pose2d.py [--video samples/dance.mp4] [--backend mediapipe] [--frames 90]

Frames of the video are scaled to each height (keeping the aspect ratio), so the person and the motion
are the same at every size. Each size runs in its own process, so peak memory (max RSS) is per size.
Prints a table; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(video: str, backend_name: str, height: int, frames: int, batch: int) -> dict:
    import cv2

    from vid2pose.pose2d import create_backend
    from vid2pose.skeletons import to_h36m
    from vid2pose.track import Tracker
    from vid2pose.video import open_source

    src = open_source(video)
    scale = height / src.meta.height
    size = (int(round(src.meta.width * scale / 2)) * 2, height)
    images = []
    for f in src.frames():
        images.append(cv2.resize(f.image, size, interpolation=cv2.INTER_AREA))
        if len(images) >= frames:
            break
    t_load = time.perf_counter()
    backend = create_backend(backend_name)
    t_load = time.perf_counter() - t_load
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracker = Tracker(src.meta.fps)
    backend.process(images[:1])  # warm-up (first call allocates)
    backend.reset()
    found = 0
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        for k, people in enumerate(backend.process(images[i:i + batch])):
            for p in people:
                p.h36m = to_h36m(backend.skeleton, p.keypoints)
            found += bool(people)
            tracker.update(i + k, (i + k) / src.meta.fps, people)
    dt = time.perf_counter() - t0
    return {"size": f"{size[0]}x{size[1]}", "frames": len(images), "fps": len(images) / dt,
            "ms_per_frame": 1000 * dt / len(images), "found": found / len(images), "load_s": t_load,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss_before / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(REPO / "samples" / "dance.mp4"))
    ap.add_argument("--backend", default="mediapipe")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heights", default="480,720,1080")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one height
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.video, a.backend, a.one, a.frames, a.batch)))
        return
    rows = []
    for h in map(int, a.heights.split(",")):
        out = subprocess.run([sys.executable, __file__, "--video", a.video, "--backend", a.backend,
                              "--frames", str(a.frames), "--batch", str(a.batch), "--one", str(h)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"2D stage, backend {a.backend}, {a.frames} frames of {Path(a.video).name}, CPU threads as default")
    print(f"{'size':>10} {'frames/s':>9} {'ms/frame':>9} {'found':>6} {'load s':>7} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['size']:>10} {r['fps']:9.1f} {r['ms_per_frame']:9.1f} {r['found']:6.0%} {r['load_s']:7.2f} "
              f"{r['peak_rss_mb']:12.0f}")


if __name__ == "__main__":
    main()
