"""Speed and peak memory of the lifting stage, per lifter, batch size, flip setting and windows per frame.

    python benchmarks/lift.py [--frames 300] [--lifters ssr-stf,motionagformer-xs] [--batches 1,8,64]
                              [--windows-per-frame 2,3]

Runs the real sequence code (windows, recentring for the default lens as `run` does without
--focal, normalisation, network, blending) on a made-up smooth 2D track of --frames frames at
30 fps, with random weights of each lifter's size (speed does not depend on the values; ssr-stf
uses the shipped file's config when weights/ssr-stf.pt exists). Each configuration runs in its
own process so peak memory (max RSS) is its own. Also times the default 2D stage on the sample
clip and prints lifting time as a share of it (target: at most 15 % for the default lifter), and
the time of the left/right swap repair that runs before lifting.
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


def one(lifter: str, frames: int, batch: int, flip: bool, hops: int | None = None) -> dict:
    import numpy as np
    import torch

    from vid2pose.lift.loading import LoadedLifter, build_model
    from vid2pose.lift.metric import default_focal
    from vid2pose.lift.registry import LIFTERS
    from vid2pose.lift.sequence import LiftOptions, lift_sequence
    from vid2pose.types import WeightsIdentity

    spec = LIFTERS[lifter]
    note = ""
    if not spec.config:  # project-trained: the config lives in the weights file
        from dataclasses import replace

        p = REPO / "weights" / "ssr-stf.pt"
        if p.exists():
            meta = torch.load(p, weights_only=True)
            spec = replace(spec, config=meta["config"], clip_len=meta["clip_len"], fps=meta["fps"])
        else:
            from vid2pose.models.ssrstf import SSRSTF_SIZES

            spec = replace(spec, config=dict(SSRSTF_SIZES["xs"]))
            note = "(no weights/ssr-stf.pt: size xs stands in)"
    model = build_model(spec).eval()
    lifter_obj = LoadedLifter(spec=spec, model=model, weights=WeightsIdentity("x", "x", ""), device="cpu")
    t = np.arange(frames) / 30.0
    kp = np.zeros((frames, 17, 3), np.float32)
    kp[..., 0] = 300 + 100 * np.sin(t)[:, None] + np.arange(17) * 3
    kp[..., 1] = 200 + np.arange(17) * 10
    kp[..., 2] = 0.9
    opts = LiftOptions(flip=flip, batch_size=batch, hops=hops)
    focal = default_focal(640, 480)  # as `run` lifts without --focal: each window recentred for this lens
    lift_sequence(kp[: min(frames, spec.clip_len)], 30.0, 640, 480, lifter_obj, opts, focal=focal)  # warm-up
    t0 = time.perf_counter()
    lift_sequence(kp, 30.0, 640, 480, lifter_obj, opts, focal=focal)
    dt = time.perf_counter() - t0
    return {"lifter": lifter, "T": spec.clip_len, "batch": batch, "flip": flip, "hops": hops or spec.hops,
            "fps": frames / dt,
            "ms_per_frame": 1000 * dt / frames, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "note": note, "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def two_d_ms_per_frame() -> float | None:
    try:
        from vid2pose.pose2d import create_backend
        from vid2pose.video import open_source
    except Exception:
        return None
    src = open_source(REPO / "samples" / "dance.mp4")
    backend = create_backend("mediapipe")
    images = [f.image for _, f in zip(range(60), src.frames())]
    backend.process(images[:1])
    backend.reset()
    t0 = time.perf_counter()
    for i in range(0, len(images), 8):
        backend.process(images[i:i + 8])
    return 1000 * (time.perf_counter() - t0) / len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--lifters", default="ssr-stf,motionagformer-xs,motionagformer-s,motionbert-lite,motionbert")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--windows-per-frame", default="",
                    help="as `run --windows-per-frame`, a list to time, e.g. 2,3,4 (default: each lifter's own)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        lifter, batch, flip, hops = a.one.split(":")
        print(json.dumps(one(lifter, a.frames, int(batch), flip == "1", int(hops) or None)))
        return
    rows = []
    for lifter in a.lifters.split(","):
        for batch in map(int, a.batches.split(",")):
            for flip in (False, True):
                for hops in [int(h) for h in a.windows_per_frame.split(",") if h] or [0]:  # 0: the lifter's own
                    out = subprocess.run([sys.executable, __file__, "--frames", str(a.frames), "--one",
                                          f"{lifter}:{batch}:{int(flip)}:{hops}"], capture_output=True, text=True)
                    if out.returncode:
                        print(f"{lifter} batch {batch}: failed: {out.stderr.strip().splitlines()[-1]}")
                        continue
                    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ms2d = two_d_ms_per_frame()
    print(f"lifting {a.frames} frames (30 fps track), CPU, random weights")
    print(f"{'lifter':>18} {'params M':>8} {'T':>4} {'batch':>5} {'flip':>5} {'frames/s':>9} {'ms/frame':>9} "
          f"{'win/f':>5} {'peak RSS MB':>11} {'of 2D':>6}")
    for r in rows:
        share = f"{r['ms_per_frame'] / ms2d:6.1%}" if ms2d else "     -"
        print(f"{r['lifter']:>18} {r['params_m']:8.2f} {r['T']:4d} {r['batch']:5d} {str(r['flip']):>5} "
              f"{r['fps']:9.1f} {r['ms_per_frame']:9.2f} {r['hops']:5d} {r['peak_rss_mb']:11.0f} {share} {r['note']}")
    if ms2d:
        print(f"2D stage (mediapipe) on samples/dance.mp4: {ms2d:.1f} ms/frame")
    print(f"left/right swap repair before lifting (lift/swaps.py): {swap_repair_ms_per_frame():.3f} ms/frame")


def swap_repair_ms_per_frame(frames: int = 30000) -> float:
    """The swap repair on a made-up jittery track (its Viterbi loop is per frame, in Python)."""
    import numpy as np

    from vid2pose.lift.swaps import repair_limb_swaps

    kp = (np.random.default_rng(0).normal(size=(frames, 17, 3)) * 5 + 300).astype(np.float32)
    t0 = time.perf_counter()
    repair_limb_swaps(kp)
    return 1000 * (time.perf_counter() - t0) / frames


if __name__ == "__main__":
    main()
