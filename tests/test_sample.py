"""The default backend on the project's own sample clip, through the real pipeline."""
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLIP, TRUTH = REPO / "samples" / "dance.mp4", REPO / "samples" / "dance_truth.npz"


def test_default_backend_finds_the_dancer():
    pytest.importorskip("mediapipe", reason="the default backend needs mediapipe (see README install)")
    pytest.importorskip("ai_edge_litert", reason="the default backend needs ai-edge-litert")
    from vid2pose.pipeline import Pose2DOptions, analyse_2d
    from vid2pose.pose2d import create_backend
    from vid2pose.video import open_source

    backend = create_backend("mediapipe")
    result = analyse_2d(open_source(CLIP), backend, Pose2DOptions())
    backend.close()
    truth = np.load(TRUTH)["joints_2d"]  # (F, 17, 2) projected 3D truth
    n = truth.shape[0]
    assert len(result.tracks) == 1, "one dancer, one track"
    t = result.tracks[0]
    assert len(t) >= 0.95 * n
    # Every confident keypoint lies inside the dancer's true box (joints' extent plus 15 %).
    lo, hi = truth.min(1), truth.max(1)
    pad = 0.15 * (hi - lo).max(1, keepdims=True)
    lo, hi = lo - pad, hi + pad
    kp = t.h36m  # (N, 17, 3)
    f = t.frame_indices
    ok = kp[..., 2] > 0.5
    inside = (kp[..., :2] >= lo[f, None]) & (kp[..., :2] <= hi[f, None])
    assert inside.all(-1)[ok].mean() > 0.99
    # and they are near the truth: median error under 5 % of the body's height in pixels
    err = np.linalg.norm(kp[..., :2] - truth[f], axis=-1)
    limbs = [2, 3, 5, 6, 12, 13, 15, 16]  # knees, ankles, elbows, wrists: defined alike in both
    assert np.median(err[:, limbs]) < 0.05 * np.median(hi[:, 1] - lo[:, 1])
