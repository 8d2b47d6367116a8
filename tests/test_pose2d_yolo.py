"""yolo backend: a randomly initialised Ultralytics pose model goes through the real decode path.

Needs ultralytics (and a working torchvision); those tests skip without it. The
missing-dependency test runs everywhere.
"""
from __future__ import annotations

import fractions
import importlib.util
import os
import tempfile

import numpy as np
import pytest

from vid2pose import weights as wreg
from vid2pose.errors import MissingDependencyError, MissingWeightsError, WeightsError
from vid2pose.pose2d import yolo_backend as yb

# Ultralytics writes settings.json into its config dir on first import: keep it out of HOME.
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="vid2pose-yolo-cfg-"))


@pytest.fixture(scope="module")
def ultralytics():
    yb._prepare_environment()  # offline, no auto-install, before the first import
    return pytest.importorskip("ultralytics", reason="the yolo backend is an optional extra")


@pytest.fixture(scope="module")
def random_pose_pt(ultralytics, tmp_path_factory):
    """yolo11n-pose architecture with random weights, saved as an Ultralytics .pt checkpoint."""
    path = tmp_path_factory.mktemp("yolo") / "rand-pose.pt"
    ultralytics.YOLO("yolo11n-pose.yaml").save(str(path))
    return path


def _frames():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    b = a[::-1].copy()
    c = rng.integers(0, 255, (480, 360, 3), dtype=np.uint8)  # another size in the same batch
    return [a, b, c]


def test_random_model_decodes_people(random_pose_pt):
    be = yb.create(weights=random_pose_pt, conf=1e-6)  # random weights: scores around 1e-4
    assert be.name == "yolo" and be.skeleton == "coco17"
    frames = _frames()
    out = be.process(frames)
    assert len(out) == len(frames)
    assert sum(len(p) for p in out) > 0
    for people, f in zip(out, frames):
        h, w = f.shape[:2]
        scores = [p.score for p in people]
        assert scores == sorted(scores, reverse=True)
        for p in people:
            assert p.bbox.shape == (4,) and p.bbox.dtype == np.float32
            assert 0 <= p.bbox[0] <= p.bbox[2] <= w and 0 <= p.bbox[1] <= p.bbox[3] <= h
            assert isinstance(p.score, float) and 0 <= p.score <= 1
            assert p.keypoints.shape == (17, 3) and p.keypoints.dtype == np.float32
            assert np.isfinite(p.keypoints).all()
            assert ((p.keypoints[:, 2] >= 0) & (p.keypoints[:, 2] <= 1)).all()
    assert be.process([]) == []
    ids = be.weights()
    assert ids[0].name == "yolo11n-pose" and ids[0].file == "rand-pose.pt" and len(ids[0].sha256) == 64
    be.reset()
    be.close()


def test_offline_environment_is_set(random_pose_pt):
    yb.create(weights=random_pose_pt)
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["YOLO_CONFIG_DIR"]


def test_detect_model_is_refused(ultralytics, tmp_path):
    path = tmp_path / "det.pt"
    ultralytics.YOLO("yolo11n.yaml").save(str(path))
    with pytest.raises(WeightsError, match="not a COCO-17 pose model"):
        yb.create(weights=path)


def test_junk_file_is_refused(ultralytics, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError) as e:
        yb.create(weights=junk)
    assert "junk.pt" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(WeightsError, match=r"\.pt checkpoints"):
        yb.create(weights=junk.rename(tmp_path / "junk.onnx"))


def test_unknown_pickled_objects_need_trust(ultralytics, tmp_path):
    import torch

    path = tmp_path / "odd.pt"
    torch.save({"model": fractions.Fraction(1, 3)}, path)  # a class outside ultralytics' allow-list
    with pytest.raises(WeightsError, match="--trust-weights"):
        yb.create(weights=path)
    with pytest.raises(WeightsError):  # trusted: unpickled, then rejected as not a model
        yb.create(weights=path, trust=True)


def test_missing_weights_message(ultralytics, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(wreg, "REPO_WEIGHTS", tmp_path)
    with pytest.raises(MissingWeightsError) as e:
        yb.create()
    msg = str(e.value)
    assert "\n" not in msg
    assert "yolo11n-pose.pt" in msg and "github.com/ultralytics/assets/releases" in msg
    assert "AGPL-3.0" in msg and "--pose2d-weights" in msg


def test_missing_ultralytics_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ultralytics" else real(name, *a))
    with pytest.raises(MissingDependencyError) as e:
        yb.create()
    assert 'pip install "vid2pose[yolo]"' in str(e.value) and "\n" not in str(e.value)


def test_device_mapping():
    pytest.importorskip("torch")
    import torch

    assert yb.map_device("cpu") == ("cpu", False)
    if not torch.cuda.is_available():
        assert yb.map_device("cuda") == ("cpu", False)
    else:
        assert yb.map_device("cuda") == ("cuda:0", True)
        assert yb.map_device("cuda:1") == ("cuda:1", True)
