"""`vid2pose mesh --body glot`: the user's GLoT, SPIN and SMPL files, or one message listing what is missing."""
import json
import pickle
import sys

import numpy as np
import pytest
import torch

from support_fake import walking_box, write_video
from vid2pose import cli
from vid2pose import weights as wreg
from vid2pose.mesh.smpl import random_smpl_arrays
from vid2pose.models.glot import RELEASED_CONFIG, GLoT
from vid2pose.models.resnet50 import SpinResNet50


def vid2pose(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["vid2pose", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    w = tmp_path / "w"
    w.mkdir()
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(w))
    monkeypatch.setenv("XDG_CACHE_HOME", str(w))
    monkeypatch.setattr(wreg, "REPO_WEIGHTS", w)
    return w


def test_missing_glot_files_are_listed_in_one_line(monkeypatch, capsys, tmp_path, weights_dir, fake_backend):
    clip = write_video(tmp_path / "c.mp4", walking_box(8))
    monkeypatch.chdir(weights_dir)
    code, _, err = vid2pose(monkeypatch, capsys, "mesh", clip, "--body", "glot", "--out", tmp_path / "m",
                            "--pose2d", fake_backend)
    assert code == 1 and "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(line) == 1
    for name in ("table1_3dpw_weights.pth.tar", "spin_model_checkpoint.pth.tar", "SMPL_NEUTRAL.pkl"):
        assert name in line[0]
    assert not (tmp_path / "m").exists()


def test_glot_meshes_from_made_up_files(monkeypatch, capsys, tmp_path, weights_dir, fake_backend):
    trimesh = pytest.importorskip("trimesh")
    (weights_dir / "smpl").mkdir()
    torch.manual_seed(0)
    torch.save({"epoch": 1, "gen_state_dict": GLoT(**RELEASED_CONFIG).state_dict()},
               weights_dir / "table1_3dpw_weights.pth.tar")
    torch.save({"model": SpinResNet50().state_dict()}, weights_dir / "spin_model_checkpoint.pth.tar")
    a = random_smpl_arrays(num_verts=100, num_faces=50)
    with open(weights_dir / "smpl" / "SMPL_NEUTRAL.pkl", "wb") as f:
        pickle.dump(dict(a), f, protocol=2)
    np.save(weights_dir / "smpl" / "J_regressor_extra.npy", np.full((9, 100), 0.01))
    np.save(weights_dir / "smpl" / "J_regressor_h36m.npy", np.full((17, 100), 0.01))
    boxes = walking_box(10)
    boxes[4] = []  # a missed frame: GLoT, like the official demo, gives no mesh there
    clip = write_video(tmp_path / "c.mp4", boxes)
    out = tmp_path / "m"
    code, _, err = vid2pose(monkeypatch, capsys, "mesh", clip, "--body", "glot", "--out", out,
                            "--pose2d", fake_backend, "--format", "ply")
    assert code == 0, err
    note = json.loads((out / "meshes.json").read_text())
    (p,) = note["people"]
    files = sorted((out / "person_1").glob("frame_*.ply"))
    assert [int(f.stem.split("_")[1]) for f in files] == p["frames"] and 4 not in p["frames"]
    m = trimesh.load(files[0], process=False)
    assert m.vertices.shape == (100, 3)
    assert np.load(out / "person_1.npz")["vertices"].shape == (len(files), 100, 3)
