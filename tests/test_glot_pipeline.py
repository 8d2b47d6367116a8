"""The GLoT chain on one track, end to end with random weights, a small GLoT and a tiny SMPL."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vid2pose import weights as wreg
from vid2pose.errors import MissingWeightsError
from vid2pose.mesh import glot_chain
from vid2pose.mesh.glot_pipeline import (GlotModels, cam_to_translation, load_glot_models, run_glot_on_track,
                                         square_boxes)
from vid2pose.mesh.smpl import SMPLBody, random_smpl_arrays
from vid2pose.models.glot import RELEASED_CONFIG, GLoT
from vid2pose.models.resnet50 import SpinResNet50
from vid2pose.types import Frame

SMALL = dict(seqlen=8, n_layers=2, d_model=64, num_head=4, short_n_layers=1, short_d_model=256,
             short_num_head=4, stride_short=2)
W, H = 64, 48


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def body():
    rng = np.random.default_rng(4)
    return SMPLBody(random_smpl_arrays(num_verts=200, num_faces=100, seed=2), rng.random((9, 200)) / 200,
                    rng.random((17, 200)) / 200)


@pytest.fixture(scope="module")
def glot():
    torch.manual_seed(0)
    return GLoT(**SMALL).eval()


class Recorder:
    """Wraps a feature extractor and keeps every feature row it produced (for the reference)."""

    def __init__(self, inner):
        self.inner, self.rows = inner, []

    def features(self, crops, batch_size=64):
        out = self.inner.features(crops, batch_size)
        self.rows.append(out)
        return out


class CheapFeatures(torch.nn.Module):
    """A stand-in for ResNet-50 (same input/output), cheap enough for long synthetic tracks."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3 * 8 * 8, 2048)

    def features(self, crops, batch_size=64):
        with torch.no_grad():
            return torch.relu(self.proj(torch.nn.functional.adaptive_avg_pool2d(crops, 8).flatten(1)))


def synthetic_track(n, seed=0):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]
    x1 = rng.uniform(-10, 30, n)
    y1 = rng.uniform(-5, 10, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(15, 40, n), y1 + rng.uniform(30, 50, n)], 1)  # some leave the image
    return images, boxes


def reference(images, boxes, models, features):
    """The same chain computed all at once (no streaming), from the features the run produced."""
    sq = square_boxes(boxes)
    x = glot_chain.gather_windows(features, models.glot.seqlen)
    with torch.no_grad():
        out = models.glot(x)
    verts = models.body(out["rotmat"], out["pred_betas"]).vertices.numpy()
    cam = glot_chain.demo_cam(out["pred_cam"].numpy(), sq, W, H, 1.2)
    return verts, cam


def test_square_boxes():
    sq = square_boxes(np.array([[10, 20, 30, 80], [0, 0, 50, 10]]))
    np.testing.assert_allclose(sq, [[20, 50, 60, 60], [25, 5, 50, 50]])


def test_translation_reproduces_weak_perspective():
    cam = glot_chain.demo_cam(np.array([[0.9, 0.05, 0.2]]), np.array([[700.0, 300.0, 400.0, 400.0]]), 1280, 720)
    f = 1500.0
    t = cam_to_translation(cam, 1280, 720, f)[0]
    s, tx, ty, h = 0.9, 0.05, 0.2, 1.2 * 400
    for X, Y in ((0.0, 0.0), (0.3, -0.7)):  # points on the body's depth plane (Z = 0)
        u_weak, v_weak = 700 + h / 2 * s * (X + tx), 300 + h / 2 * s * (Y + ty)
        u = 640 + f * (X + t[0]) / t[2]
        v = 360 + f * (Y + t[1]) / t[2]
        np.testing.assert_allclose([u, v], [u_weak, v_weak], rtol=1e-9)
    assert t[2] == pytest.approx(2 * f / (s * h))


def test_end_to_end_with_resnet50(glot, body):
    torch.manual_seed(1)
    resnet = Recorder(SpinResNet50().eval())
    models = GlotModels(resnet=resnet, glot=glot, body=body)
    images, boxes = synthetic_track(10)
    frames = [Frame(index=100 + i, time=0.0, image=img) for i, img in enumerate(images)]
    out = list(run_glot_on_track(iter(frames), boxes, models, crop_batch=4, window_batch=3))
    assert [o.frame_index for o in out] == list(range(100, 110))
    for o in out:
        assert o.vertices.shape == (200, 3) and o.vertices.dtype == np.float32
        assert o.cam.shape == (4,) and o.translation.shape == (3,) and o.pose.shape == (72,)
        assert o.joints_h36m.shape == (17, 3)
        for a in (o.vertices, o.cam, o.translation, o.pose, o.betas, o.camera_vertices()):
            assert np.isfinite(a).all()
    feats = torch.cat(resnet.rows)
    assert feats.shape == (10, 2048) and bool((feats >= 0).all())
    verts, cam = reference(images, boxes, models, feats)
    # batch sizes differ from the reference's: float rounding only
    np.testing.assert_allclose(np.stack([o.vertices for o in out]), verts, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(np.stack([o.cam for o in out]), cam, rtol=1e-4, atol=2e-5)

    # the crops are the official ones (BGR frames cropped, then flipped to RGB)
    aff, crops, norm = glot_chain.demo_crop(images[3][..., ::-1], square_boxes(boxes[3:4]))
    with torch.no_grad():
        torch.testing.assert_close(resnet.inner(norm), feats[3:4], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [5, 8, 23])
def test_streaming_matches_batch_and_stays_bounded(glot, body, n):
    torch.manual_seed(2)
    feats = Recorder(CheapFeatures())
    models = GlotModels(resnet=feats, glot=glot, body=body)
    images, boxes = synthetic_track(n, seed=n)
    consumed = []

    def rgb_frames():
        for i, img in enumerate(images):
            consumed.append(i)
            yield img

    got, lag = [], []
    for o in run_glot_on_track(rgb_frames(), boxes, models, frame_indices=np.arange(n) * 2, color="rgb",
                               crop_batch=3, window_batch=4, crop_backend="cv2"):
        got.append(o)
        lag.append(len(consumed) - (o.frame_index // 2))
    assert [o.frame_index for o in got] == list(range(0, 2 * n, 2))
    verts, cam = reference(images, boxes, models, torch.cat(feats.rows))
    np.testing.assert_allclose(np.stack([o.vertices for o in got]), verts, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(np.stack([o.cam for o in got]), cam, rtol=1e-4, atol=2e-5)
    # results come out while frames are still being read: a frame's mesh never waits for more than
    # its window's future frames plus one crop batch plus one window batch
    assert max(lag) <= glot.seqlen + 3 + 4


def test_frame_count_mismatch(glot, body):
    models = GlotModels(resnet=CheapFeatures(), glot=glot, body=body)
    images, boxes = synthetic_track(6)
    with pytest.raises(ValueError, match="only 4 frames"):
        list(run_glot_on_track(images[:4], boxes, models))


def test_missing_files_listed_together(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    monkeypatch.setattr(wreg, "REPO_WEIGHTS", empty)
    monkeypatch.chdir(empty)
    with pytest.raises(MissingWeightsError) as ei:
        load_glot_models()
    msg = str(ei.value)
    assert "\n" not in msg
    for name in ("table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar", "SMPL_NEUTRAL.pkl",
                 "J_regressor_extra.npy", "J_regressor_h36m.npy"):
        assert name in msg, name
    assert "MIT" in msg and "BSD-3-Clause" in msg and "non-commercial" in msg


def test_load_glot_models_from_files(tmp_path, monkeypatch):
    """Released-config GLoT checkpoint (with its embedded SMPL entries) + SPIN + SMPL files."""
    wdir = tmp_path / "w"
    (wdir / "smpl").mkdir(parents=True)
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(wdir))
    torch.manual_seed(0)
    sd = GLoT(**RELEASED_CONFIG).state_dict()
    sd["regressor.smpl.v_template"] = torch.zeros(6890, 3)  # skipped when loading
    torch.save({"epoch": 30, "gen_state_dict": sd}, wdir / "table1_3dpw_weights.pth.tar")
    torch.save({"model": SpinResNet50().state_dict(), "epoch": 1}, wdir / "spin_model_checkpoint.pth.tar")
    a = random_smpl_arrays(num_verts=100, num_faces=50)
    np.savez(wdir / "smpl" / "arrays.npz", **a)
    # the model file itself is a pickle; write one without chumpy objects here (test_smpl covers those)
    import pickle

    with open(wdir / "smpl" / "SMPL_NEUTRAL.pkl", "wb") as f:
        pickle.dump(dict(a), f, protocol=2)
    np.save(wdir / "smpl" / "J_regressor_extra.npy", np.full((9, 100), 0.01))
    np.save(wdir / "smpl" / "J_regressor_h36m.npy", np.full((17, 100), 0.01))
    models = load_glot_models()
    assert isinstance(models.glot, GLoT) and not models.glot.training
    assert models.body.num_vertices == 100 and models.body.j_h36m.shape == (17, 100)
    torch.testing.assert_close(models.glot.state_dict()["proj_short.weight"], sd["proj_short.weight"])
