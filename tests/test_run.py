"""`vid2pose run` (2D + lifting + export) and `vid2pose export`, as a user calls them."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from support_fake import walking_box, write_video
from vid2pose import cli
from vid2pose.export.formats import bvh_paths, resolve_format
from vid2pose.export.json_io import read_json
from vid2pose.skeletons import H36M_PARENTS

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "samples" / "dance.mp4"
BONES = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16)]


def vid2pose(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["vid2pose", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out, err = capsys.readouterr()
    return e.value.code, out, err


def bvh_frames(path: Path) -> tuple[int, float]:
    text = path.read_text()
    n = int(text.split("Frames:")[1].split()[0])
    dt = float(text.split("Frame Time:")[1].split()[0])
    return n, dt


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The README's main job on the sample clip, once for the module (about 15 s on 2 cores)."""
    pytest.importorskip("mediapipe", reason="the default backend needs mediapipe (see README install)")
    pytest.importorskip("ai_edge_litert", reason="the default backend needs ai-edge-litert")
    from vid2pose.commands import run_video

    d = tmp_path_factory.mktemp("run")
    code = run_video(inputs=[str(CLIP)], out=d / "dance.json", fmt=None, backend="mediapipe", backend_weights=None,
                     lifter="ssr-stf", weights=None, trust_weights=False, person="main", start=None, end=None,
                     overlay=None, height=1.70, focal=None, flip=None, units="m", root_motion=True, recursive=False,
                     skip_existing=False, json_summary=False, fps=30.0, batch_size=8, lift_batch_size=64,
                     half=False, device="cpu", debug=False)
    assert code == 0
    return d


def test_run_on_the_sample_writes_metric_3d_for_every_frame_with_a_person(sample_run):
    doc = read_json(sample_run / "dance.json")
    assert doc["version"] == 2 and doc["pose3d"]["lifter"] == "ssr-stf" and doc["pose3d"]["units"] == "m"
    (track,) = doc["tracks"]
    assert doc["pose3d"]["swap_repair"] is True and isinstance(track["swaps_repaired"], int)
    assert doc["pose3d"]["recentred"] is True
    seen = {f["frame"] for f in track["frames"]}
    p3 = track["pose3d"]
    assert [f["frame"] for f in p3] == list(range(track["first_frame"], track["last_frame"] + 1))
    assert seen <= {f["frame"] for f in p3}
    assert all(f["interpolated"] == (f["frame"] not in seen) for f in p3)
    cam = np.array([f["joints_cam"] for f in p3])
    rel = np.array([f["joints"] for f in p3])
    assert np.isfinite(cam).all() and np.allclose(rel[:, 0], 0, atol=1e-4)
    # Human bone lengths (metres) for a 1.70 m person, and a person in front of the camera.
    lengths = {b: np.median(np.linalg.norm(cam[:, b[0]] - cam[:, b[1]], axis=-1)) for b in BONES}
    assert 0.30 < lengths[(1, 2)] < 0.55 and 0.30 < lengths[(2, 3)] < 0.55  # thigh, shin
    assert 0.20 < lengths[(11, 12)] < 0.40 and 0.15 < lengths[(12, 13)] < 0.35  # upper arm, forearm
    assert (cam[:, :, 2] > 0.5).all() and np.median(cam[:, 0, 2]) < 15
    # Upright: the head is above the pelvis (camera y points down) in nearly every frame.
    assert (cam[:, 10, 1] < cam[:, 0, 1]).mean() > 0.95
    # Against the sample's 3D truth (a training-set motion rendered on another body: a sanity bound,
    # not an accuracy figure; benchmarks hold those).
    truth = np.load(REPO / "samples" / "dance_truth.npz")["joints_cam"][[f["frame"] for f in p3]]
    err = np.linalg.norm(rel - (truth - truth[:, :1]), axis=-1).mean()
    assert err < 0.15


def test_export_to_bvh_from_the_run_json(sample_run, monkeypatch, capsys):
    code, _, err = vid2pose(monkeypatch, capsys, "export", sample_run / "dance.json", "--format", "bvh",
                            "--out", sample_run / "dance.bvh", "--units", "cm")
    assert code == 0, err
    n, dt = bvh_frames(sample_run / "dance.bvh")
    doc = read_json(sample_run / "dance.json")
    assert n == len(doc["tracks"][0]["pose3d"]) and dt == 1.0 / doc["video"]["fps"]
    note = json.loads((sample_run / "dance.bvh.json").read_text())
    assert note["units"] == "cm" and note["files"][0]["file"] == "dance.bvh" and note["files"][0]["frames"] == n
    # Read back with our mocap reader: upright, and the feet stand on the floor (Y = 0), not at the
    # camera's height.
    from vid2pose.mocap.bvh import read_bvh

    motion = read_bvh(sample_run / "dance.bvh")
    pos = motion.world_positions() / 100.0  # cm -> m
    names = motion.names
    head, hips = names.index("Head"), names.index("Hips")
    feet = [names.index("RightFoot"), names.index("LeftFoot")]
    assert (pos[:, head, 1] > pos[:, hips, 1] + 0.3).all()
    lowest = pos[:, feet, 1].min(1)
    assert abs(np.percentile(lowest, 5) - 0.08) < 0.01 and np.median(lowest) < 0.25


def test_run_bvh_and_batch_with_bad_files(monkeypatch, capsys, tmp_path, fake_backend):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", walking_box(40))
    (videos / "broken.mp4").write_bytes(b"\x00garbage" * 300)
    write_video(videos / "nobody.mp4", [[] for _ in range(10)])
    out = tmp_path / "out"
    code, stdout, err = vid2pose(monkeypatch, capsys, "run", videos, "--out", out, "--format", "bvh",
                                 "--pose2d", fake_backend, "--json", "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    status = {f["input"]: f["status"] for f in json.loads(stdout)["files"]}
    assert status == {"a.mp4": "ok", "broken.mp4": "failed", "nobody.mp4": "failed"}
    n, dt = bvh_frames(out / "a.bvh")
    note = json.loads((out / "a.bvh.json").read_text())["files"][0]
    assert n == note["frames"] == note["last_frame"] - note["first_frame"] + 1 >= 35 and dt == 1 / 25.0
    assert not (out / "broken.bvh").exists()
    # Resume: the finished file is skipped, the failures are tried again.
    code, stdout, _ = vid2pose(monkeypatch, capsys, "run", videos, "--out", out, "--format", "bvh",
                               "--pose2d", fake_backend, "--json", "--skip-existing")
    s = json.loads(stdout)
    assert code == 1 and s["skipped"] == 1 and s["failed"] == 2


def test_run_json_gap_frames_are_interpolated_and_flagged(monkeypatch, capsys, tmp_path, fake_backend):
    boxes = walking_box(30)  # the box stays inside the 160 px frame
    for i in (15, 16, 17):
        boxes[i] = []  # the person is missed for three frames
    clip = write_video(tmp_path / "gap.mp4", boxes)
    code, _, err = vid2pose(monkeypatch, capsys, "run", clip, "--out", tmp_path / "gap.json", "--pose2d", fake_backend)
    assert code == 0, err
    p3 = read_json(tmp_path / "gap.json")["tracks"][0]["pose3d"]
    assert len(p3) == 30 and [f["frame"] for f in p3 if f["interpolated"]] == [15, 16, 17]
    code, _, err = vid2pose(monkeypatch, capsys, "export", tmp_path / "gap.json", "--out", tmp_path / "gap.bvh")
    assert code == 0, err
    assert bvh_frames(tmp_path / "gap.bvh")[0] == 30  # never dropped: timing stays true
    assert json.loads((tmp_path / "gap.bvh.json").read_text())["files"][0]["interpolated_frames"] == [15, 16, 17]


def test_windows_per_frame_reaches_the_lifter_and_the_json(monkeypatch, capsys, tmp_path, fake_backend):
    clip = write_video(tmp_path / "w.mp4", walking_box(60))
    joints = {}
    for n in (None, 1):
        extra = [] if n is None else ["--windows-per-frame", n]
        out = tmp_path / f"w{n}.json"
        code, _, err = vid2pose(monkeypatch, capsys, "run", clip, "--out", out, "--pose2d", fake_backend, *extra)
        assert code == 0, err
        doc = read_json(out)
        assert doc["pose3d"]["windows_per_frame"] == (n or 3)  # ssr-stf's own: 3
        joints[n] = np.array([f["joints"] for f in doc["tracks"][0]["pose3d"]])
    assert joints[None].shape == joints[1].shape and not np.allclose(joints[None], joints[1], atol=1e-4)
    code, _, err = vid2pose(monkeypatch, capsys, "run", clip, "--pose2d", fake_backend, "--windows-per-frame", 0)
    assert code == 2 and "--windows-per-frame" in err and "Traceback" not in err



def test_free_bones_by_default_and_constant_bones_on_request(monkeypatch, capsys, tmp_path, fake_backend):
    clip = write_video(tmp_path / "b.mp4", walking_box(40))
    code, _, err = vid2pose(monkeypatch, capsys, "pose2d", clip, "--out", tmp_path / "b2d.json", "--pose2d", fake_backend)
    assert code == 0, err
    parents = list(H36M_PARENTS[1:])
    bones = {}
    for flag in ("--constant-bones", "--free-bones", None):  # None: the default
        out = tmp_path / f"b{flag}.json"
        code, _, err = vid2pose(monkeypatch, capsys, "lift", tmp_path / "b2d.json", "--out", out, *([flag] if flag else []))
        assert code == 0, err
        doc = read_json(out)
        assert doc["pose3d"]["constant_bones"] is (flag == "--constant-bones")
        j = np.array([f["joints"] for f in doc["tracks"][0]["pose3d"]])
        bones[flag] = np.linalg.norm(j[:, 1:] - j[:, parents], axis=-1)  # (F, 16)
    fixed, free = bones["--constant-bones"], bones["--free-bones"]
    np.testing.assert_array_equal(bones[None], free)
    assert np.ptp(fixed, axis=0).max() < 3e-4  # one length per bone over the whole track (the JSON keeps 0.1 mm) ...
    np.testing.assert_allclose(fixed[:, [1, 2, 11, 12]], fixed[:, [4, 5, 14, 15]], atol=3e-4)  # ... left = right
    assert np.ptp(free, axis=0).max() > 1e-3  # the network's own lengths vary
    np.testing.assert_allclose(np.median(fixed, 0), np.median(free, 0), rtol=0.2)  # the same body


def test_user_errors_are_one_line(monkeypatch, capsys, tmp_path, fake_backend):
    clip = write_video(tmp_path / "c.mp4", walking_box(10))
    code, _, err = vid2pose(monkeypatch, capsys, "run", clip, "--out", tmp_path / "c.bvh", "--format", "json")
    assert code == 2 and "--format json" in err and "Traceback" not in err
    code, _, err = vid2pose(monkeypatch, capsys, "run", clip, "--format", "fbx", "--pose2d", fake_backend)
    assert code == 2 and "--format" in err
    code, _, err = vid2pose(monkeypatch, capsys, "run", clip, "--out", tmp_path / "c.json", "--pose2d", fake_backend,
                            "--weights", tmp_path / "missing.pt")
    assert code != 0 and "missing.pt" in err and "Traceback" not in err
    # export of a 2D-only file says how to get 3D
    code, _, err = vid2pose(monkeypatch, capsys, "pose2d", clip, "--out", tmp_path / "kp.json", "--pose2d", fake_backend)
    assert code == 0
    code, _, err = vid2pose(monkeypatch, capsys, "export", tmp_path / "kp.json", "--out", tmp_path / "kp.bvh")
    assert code == 1 and "no 3D" in err and not (tmp_path / "kp.bvh").exists()


def test_format_switch_and_per_person_file_names():
    assert resolve_format(None, Path("x.bvh")) == "bvh" and resolve_format(None, Path("x.json")) == "json"
    assert resolve_format(None, None) == "json" and resolve_format("BVH", None) == "bvh"
    assert bvh_paths(Path("o/clip.bvh"), [3]) == {3: Path("o/clip.bvh")}
    assert bvh_paths(Path("o/clip.bvh"), [1, 4]) == {1: Path("o/clip_person1.bvh"), 4: Path("o/clip_person4.bvh")}


def _accuracy_benchmark():
    """benchmarks/accuracy.py as a module (benchmarks/ is not a package)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import accuracy
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return accuracy


def test_accuracy_benchmark_scores_a_rendered_clip(sample_run):
    """benchmarks/accuracy.py's scoring, on the pipeline's output for the rendered sample and its truth."""
    accuracy = _accuracy_benchmark()
    truth_npz = REPO / "samples" / "dance_truth.npz"
    gt = np.load(truth_npz)["joints_cam"].astype(np.float64)
    assert accuracy.view_band(gt) in ("front", "side", "back")
    # a stand-in for MediaPipe's world landmarks: the truth itself, so "mp" must score (near) zero
    from vid2pose.skeletons import BLAZEPOSE33_TO_COCO17, _COCO_DIRECT
    world = np.zeros((len(gt), 33, 3))
    for h, c in _COCO_DIRECT.items():
        world[:, BLAZEPOSE33_TO_COCO17[c]] = gt[:, h]
    r = accuracy.score(sample_run / "dance.json", truth_npz, {k: world[k] for k in range(len(gt))})
    assert r["det"] > 0.95 and r["same"] == round(r["det"] * r["frames"])
    assert r["mp"]["P12"] < 1e-6  # limb joints exact; the derived ones differ by definition
    for k in ("root", "N", "P", "P12", "accel"):
        assert 0 < r["ours"][k] < 200, k
    assert r["ours"]["P"] <= r["ours"]["N"] + 1e-6 <= r["ours"]["root"] + 2e-6
    assert 0.002 < np.median(r["err2d"]) < 0.05 and r["err2d_model"].shape[1] == 12
    assert abs(accuracy.camera_error(sample_run / "dance.json", truth_npz) - r["cam_all"]) < 1e-6
    # the definition calibration (leave one clip out) runs on two clips and gives every metric
    r2 = dict(r, pairs={k: (v[0][::-1], v[1][::-1]) for k, v in r["pairs"].items()})
    cal = accuracy.calibrated([r, r2], "ours")
    assert set(cal) == {"root", "N", "P", "P12", "accel"}


def test_run_asks_the_backend_for_its_lifting_options_and_pose2d_does_not(monkeypatch, capsys, tmp_path,
                                                                          fake_backend):
    import support_fake
    from vid2pose import pose2d

    monkeypatch.setitem(pose2d.FOR_LIFTING, fake_backend, {"smooth": False})
    write_video(tmp_path / "a.mp4", walking_box(30))
    support_fake.CREATED.clear()
    code, _, _ = vid2pose(monkeypatch, capsys, "run", tmp_path / "a.mp4", "--out", tmp_path / "a.json",
                          "--pose2d", fake_backend, "--device", "cpu")
    assert code == 0 and support_fake.CREATED == [{"smooth": False}]
    code, _, _ = vid2pose(monkeypatch, capsys, "pose2d", tmp_path / "a.mp4", "--out", tmp_path / "a2d.json",
                          "--pose2d", fake_backend, "--device", "cpu")
    assert code == 0 and support_fake.CREATED == [{"smooth": False}, {}]


def test_accuracy_benchmark_clip_sets_are_held_out_and_apart():
    """The bench's clips are validation takes (never trained on), and --unseen shares no take with the table's."""
    accuracy = _accuracy_benchmark()
    from vid2pose.train.split import is_validation

    for clip in accuracy.STANDARD + accuracy.UNSEEN:
        assert is_validation(clip.mocap), clip.mocap
    assert not {c.mocap for c in accuracy.UNSEEN} & {c.mocap for c in accuracy.STANDARD}
    assert len(accuracy.UNSEEN) == 6
