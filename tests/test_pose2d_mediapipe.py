"""BlazePose multi-person backend: pure helpers always, the models when installed.

Model tests need mediapipe (for its bundled .tflite files) and ai-edge-litert, and take
real people only from the repo's own sample clip (samples/dance.mp4, else the first
samples/*.mp4: one synthetic person, with <stem>_truth.npz); each skips with a reason otherwise.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vid2pose.errors import MissingDependencyError
from vid2pose.pose2d import blazepose as bp

REPO = Path(__file__).resolve().parents[1]


def _sample_clip() -> Path | None:
    samples = REPO / "samples"
    preferred = samples / "walk.mp4"
    if preferred.is_file():
        return preferred
    clips = sorted(samples.glob("*.mp4")) if samples.is_dir() else []
    return clips[0] if clips else None


CLIP = _sample_clip()
CLIP_TRUTH = CLIP.with_name(CLIP.stem + "_truth.npz") if CLIP else None

HAVE_MODELS = (importlib.util.find_spec("mediapipe") is not None
               and importlib.util.find_spec("ai_edge_litert") is not None)
needs_models = pytest.mark.skipif(
    not HAVE_MODELS, reason="needs mediapipe (bundled BlazePose models) and ai-edge-litert")


# --------------------------------------------------------------------------- pure helpers

def test_anchors():
    a = bp.ssd_anchors()
    assert a.shape == (bp.NUM_ANCHORS, 2) == (2254, 2)
    # stride 8: 28x28 cells x 2 anchors, first cell centre at half a cell
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28], rtol=1e-6)
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28], rtol=1e-6)
    # stride 16 block starts at 28*28*2; stride 32 (three layers) has 6 anchors per 7x7 cell
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14], rtol=1e-6)
    np.testing.assert_allclose(a[1568 + 392: 1568 + 392 + 6], np.full((6, 2), 0.5 / 7), rtol=1e-6)
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7], rtol=1e-6)


def test_decode_hand_made_output():
    anchors = bp.ssd_anchors()
    raw = np.zeros((bp.NUM_ANCHORS, 12), np.float32)
    logits = np.full((bp.NUM_ANCHORS, 1), -10.0, np.float32)
    i = 1568 + 5 * 28 + 7 * 2  # stride-16 map, row 5, column 7: centre (7.5/14, 5.5/14)
    logits[i] = 3.0
    # (x, y, w, h) in input pixels relative to the anchor, then 4 keypoints (x, y)
    raw[i] = [11.2, -22.4, 56.0, 44.8, 0, 0, 0, -112.0, 0, 0, 0, 0]
    det = bp.decode_detections(raw, logits, anchors)
    assert len(det) == 1
    assert det.scores[0] == pytest.approx(1 / (1 + math.exp(-3.0)), rel=1e-5)
    cx, cy = 7.5 / 14 + 0.05, 5.5 / 14 - 0.1
    np.testing.assert_allclose(det.boxes[0], [cx - 0.125, cy - 0.1, cx + 0.125, cy + 0.1], atol=1e-6)
    np.testing.assert_allclose(det.keypoints[0, 0], [7.5 / 14, 5.5 / 14], atol=1e-6)
    np.testing.assert_allclose(det.keypoints[0, 1], [7.5 / 14, 5.5 / 14 - 0.5], atol=1e-6)
    # below the 0.5 threshold nothing comes out; scores are clipped before the sigmoid
    logits[i] = -0.1
    assert len(bp.decode_detections(raw, logits, anchors)) == 0
    logits[i] = 1e6
    assert bp.decode_detections(raw, logits, anchors).scores[0] == pytest.approx(1.0)


def test_weighted_nms_merges_overlaps_only():
    scores = np.array([0.6, 0.9, 0.8], np.float32)
    boxes = np.array([[0.10, 0.10, 0.30, 0.30], [0.12, 0.10, 0.32, 0.30], [0.6, 0.6, 0.8, 0.8]], np.float32)
    kps = np.zeros((3, 4, 2), np.float32)
    kps[0] += 0.2
    kps[1] += 0.3
    kps[2] += 0.7
    out = bp.weighted_nms(bp.Detections(scores, boxes, kps))
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.8])  # the best score is kept, not averaged
    w = np.array([0.9, 0.6]) / 1.5
    np.testing.assert_allclose(out.boxes[0], w @ boxes[[1, 0]], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0], np.full((4, 2), w @ [0.3, 0.2]), atol=1e-6)
    np.testing.assert_allclose(out.boxes[1], boxes[2])
    # boxes overlapping at IoU <= 0.3 stay apart
    far = np.array([[0, 0, 1, 1], [0.6, 0, 1.6, 1]], np.float32)  # IoU 0.25
    assert len(bp.weighted_nms(bp.Detections(scores[:2], far, kps[:2]))) == 2


def test_roi_from_alignment():
    roi = bp.roi_from_alignment((100, 200), (100, 100))  # full-body point straight above the hips
    assert (roi.cx, roi.cy) == (100, 200)
    assert roi.size == pytest.approx(2 * 100 * 1.25)
    assert roi.rotation == pytest.approx(0.0, abs=1e-9)
    lying = bp.roi_from_alignment((100, 200), (200, 200))  # body pointing right: turn it upright
    assert lying.rotation == pytest.approx(math.pi / 2)
    # the crop of a lying person is upright: its head point lands straight above the centre
    q = bp.image_to_crop(np.array([[200.0, 200.0]]), lying, 256)[0]
    np.testing.assert_allclose(q, [128, 128 - 256 / 2.5], atol=1e-9)


def test_crop_round_trip_and_pixels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        roi = bp.Roi(*rng.uniform(50, 500, 2), rng.uniform(50, 800), rng.uniform(-math.pi, math.pi))
        pts = rng.uniform(0, 600, (10, 2))
        np.testing.assert_allclose(bp.crop_to_image(bp.image_to_crop(pts, roi, 256), roi, 256), pts, atol=1e-9)
    # the crop really samples the image where the matrix says: a bright dot lands where predicted
    img = np.zeros((400, 600, 3), np.uint8)
    cv2.circle(img, (420, 150), 6, (255, 255, 255), -1)
    roi = bp.Roi(380, 180, 200, 0.7)
    patch = bp.crop(img, roi, 256)[..., 0].astype(np.float64)
    ys, xs = np.nonzero(patch > 128)
    found = [xs.mean(), ys.mean()]
    np.testing.assert_allclose(found, bp.image_to_crop(np.array([[420.0, 150.0]]), roi, 256)[0], atol=1.0)
    # and the letterbox ROI of a wide frame is a centred square of the long side
    lb = bp.letterbox_roi(1280, 720)
    np.testing.assert_allclose(bp.crop_to_image(np.array([[0.0, 0.0], [224, 224]]), lb, 224),
                               [[0, -280], [1280, 1000]])


def test_detection_rois_cover_wide_frames():
    rois = bp.detection_rois(1280, 720)
    assert len(rois) == 3 and rois[0] == bp.letterbox_roi(1280, 720)
    assert [(r.cx, r.size) for r in rois[1:]] == [(360, 720), (920, 720)]
    assert len(bp.detection_rois(720, 720)) == 1
    tall = bp.detection_rois(540, 1920)
    assert len(tall) == 5 and tall[-1].cy == pytest.approx(1920 - 270)


def test_refine_from_heatmap():
    hm = np.full((64, 64, 2), -10.0, np.float32)
    hm[20, 30, 0] = hm[20, 32, 0] = 5.0  # two confident cells: the mean lies between them
    hm[40, 10, 1] = -1.0  # peak below 0.5 after the sigmoid: left alone
    xy = np.array([[30.5 / 64, 20.2 / 64], [10.2 / 64, 40.2 / 64]])
    out = bp.refine_from_heatmap(xy, hm)
    np.testing.assert_allclose(out[0], [31 / 64, 20 / 64], atol=2e-3)
    np.testing.assert_allclose(out[1], xy[1])
    outside = np.array([[1.2, 0.5], [-0.3, 0.5]])
    np.testing.assert_allclose(bp.refine_from_heatmap(outside, hm), outside)


def test_one_euro():
    f = bp.OneEuro(*bp.LANDMARK_EURO)
    v = np.array([10.0, 20.0])
    np.testing.assert_allclose(f(1 / 30, v, 0.01), v)  # the first value passes through
    np.testing.assert_allclose(f(2 / 30, v, 0.01), v)  # a constant stays constant
    out = f(3 / 30, v + 1.0, 0.01)  # a small step is damped
    assert np.all(out > v) and np.all(out < v + 1.0)
    np.testing.assert_allclose(f(3 / 30, v + 5, 0.01), v + 5)  # a repeated timestamp passes through


# --------------------------------------------------------------------------- with the models

def test_missing_litert_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    from vid2pose.pose2d import mediapipe_backend as mb

    monkeypatch.setattr(mb, "_model_path", lambda *a, **k: Path("unused.tflite"))
    with pytest.raises(MissingDependencyError) as e:
        mb.create()
    assert "pip install ai-edge-litert" in str(e.value) and "\n" not in str(e.value)


def test_missing_mediapipe_is_one_line(monkeypatch):
    from vid2pose.pose2d import mediapipe_backend as mb

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mediapipe" else real(name, *a))
    monkeypatch.setattr(mb.wreg, "find", lambda name: None)
    with pytest.raises(MissingDependencyError) as e:
        mb.create()
    assert "pip install --no-deps mediapipe==0.10.21" in str(e.value) and "\n" not in str(e.value)


@pytest.fixture(scope="module")
def backend():
    if not HAVE_MODELS:
        pytest.skip("needs mediapipe (bundled BlazePose models) and ai-edge-litert")
    from vid2pose.pose2d import create_backend

    be = create_backend("mediapipe")
    yield be
    be.close()


def _clip_frames(indices):
    if CLIP is None:
        pytest.skip("no sample clip (samples/*.mp4) in this checkout")
    cap = cv2.VideoCapture(str(CLIP))
    frames, i = {}, 0
    while i <= max(indices):
        ok, f = cap.read()
        if not ok:
            break
        if i in indices:
            frames[i] = f
        i += 1
    cap.release()
    if len(frames) < len(indices):
        pytest.skip(f"{CLIP.name} could not be read (is it still being written?)")
    return [frames[i] for i in indices]


@needs_models
def test_backend_identity_and_empty_frame(backend):
    assert backend.name == "mediapipe" and backend.skeleton == "blazepose33"
    ids = backend.weights()
    assert [w.name for w in ids] == ["blazepose-full", "blazepose-detector"]
    assert [w.file for w in ids] == ["pose_landmark_full.tflite", "pose_detection.tflite"]
    assert all(len(w.sha256) == 64 for w in ids)
    backend.reset()
    assert backend.process([np.zeros((360, 640, 3), np.uint8)] * 2) == [[], []]


@needs_models
def test_one_person_in_sample_clip(backend):
    frames = _clip_frames(list(range(0, 12)))
    backend.reset()
    out = backend.process(frames)
    assert all(len(people) == 1 for people in out)
    truth = np.load(CLIP_TRUTH)["joints_2d"] if CLIP_TRUTH.is_file() else None
    for i, (people, frame) in enumerate(zip(out, frames)):
        p = people[0]
        assert p.keypoints.shape == (33, 3) and p.keypoints.dtype == np.float32
        assert 0.5 <= p.score <= 1.0 and np.all((p.keypoints[:, 2] >= 0) & (p.keypoints[:, 2] <= 1))
        x1, y1, x2, y2 = p.bbox
        assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]
        if truth is not None:  # the person's region from the sample's own ground truth
            lo, hi = truth[i].min(0), truth[i].max(0)
            margin = 0.25 * (hi - lo).max()
            body = p.keypoints[[11, 12, 23, 24, 25, 26, 27, 28], :2]
            assert np.all((body >= lo - margin) & (body <= hi + margin)), f"frame {i}"


@needs_models
def test_two_people_side_by_side(backend):
    frames = _clip_frames([10, 11, 60, 61])
    a, b = frames[:2], frames[2:]
    pasted = [np.concatenate([a[k], b[k]], 1) for k in range(2)]
    backend.reset()
    out = backend.process(pasted + pasted[::-1])
    w = a[0].shape[1]
    assert len(out[-1]) == 2, [len(o) for o in out]
    centres = sorted(float(np.median(p.keypoints[:, 0])) for p in out[-1])
    assert centres[0] < w < centres[1]


@needs_models
def test_run_feeds_the_lifter_unfiltered_2d(backend):
    from vid2pose.pose2d import create_backend

    assert backend.smooth is True  # `pose2d` keeps MediaPipe's landmark filter
    lifting = create_backend("mediapipe", for_lifting=True)
    assert lifting.smooth is False
    lifting.close()
