import json
import sys

import pytest

import support_fake
from support_fake import walking_box, write_video
from vid2pose import cli
from vid2pose.export.json_io import read_json


def vid2pose(monkeypatch, capsys, *args):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vid2pose", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_version(monkeypatch, capsys):
    code, out, _ = vid2pose(monkeypatch, capsys, "--version")
    assert code == 0 and out.startswith("vid2pose ")


def test_single_video(monkeypatch, capsys, tmp_path, fake_backend):
    clip = write_video(tmp_path / "clip.mp4", walking_box(20))
    code, out, err = vid2pose(monkeypatch, capsys, "pose2d", clip, "--pose2d", fake_backend, "--out", tmp_path / "kp.json")
    assert code == 0, err
    doc = read_json(tmp_path / "kp.json")
    assert doc["video"]["frame_count"] == 20 and len(doc["tracks"]) == 1
    assert doc["tracks"][0]["num_frames"] == 20


def test_batch_with_a_corrupt_file(monkeypatch, capsys, tmp_path, fake_backend):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    write_video(videos / "a.mp4", walking_box(15))
    write_video(videos / "sub" / "b.avi", walking_box(12), fourcc="MJPG")
    (videos / "broken.mp4").write_bytes(b"\x00\x01garbage" * 500)
    write_video(videos / "empty_scene.mp4", [[] for _ in range(10)])  # nobody in it
    out = tmp_path / "out"
    code, stdout, err = vid2pose(monkeypatch, capsys, "pose2d", videos, "--out", out, "--recursive",
                                 "--pose2d", fake_backend, "--json")
    assert code == 1
    summary = json.loads(stdout)
    status = {f["input"]: f["status"] for f in summary["files"]}
    assert status == {"a.mp4": "ok", "sub/b.avi": "ok", "broken.mp4": "failed", "empty_scene.mp4": "failed"}
    errors = {f["input"]: f["error"] for f in summary["files"]}
    assert "not a video" in errors["broken.mp4"] or "no frame" in errors["broken.mp4"]
    assert "no person" in errors["empty_scene.mp4"]
    assert read_json(out / "a.json")["tracks"] and read_json(out / "sub" / "b.json")["tracks"]
    assert not (out / "broken.json").exists()
    assert "Traceback" not in err

    # Resume: finished outputs are skipped, failures are tried again.
    code, stdout, _ = vid2pose(monkeypatch, capsys, "pose2d", videos, "--out", out, "--recursive",
                               "--pose2d", fake_backend, "--json", "--skip-existing")
    summary = json.loads(stdout)
    assert code == 1 and summary["skipped"] == 2 and summary["failed"] == 2


def test_all_good_batch_exits_zero_and_prints_a_table(monkeypatch, capsys, tmp_path, fake_backend):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", walking_box(10))
    write_video(videos / "b.mp4", walking_box(10))
    code, stdout, _ = vid2pose(monkeypatch, capsys, "pose2d", videos, "-o", tmp_path / "out", "--pose2d", fake_backend)
    assert code == 0
    assert "2 ok, 0 failed" in stdout


@pytest.mark.parametrize("args, message", [
    (["pose2d", "missing.mp4"], "no such file"),
    (["pose2d", "{clip}", "--person", "tallest"], "--person"),
    (["pose2d", "{clip}", "--pose2d", "nonsense"], "unknown 2D backend"),
    (["pose2d", "{clip}", "--start", "50"], "select no frames"),
    (["pose2d", "{clip}", "--device", "tpu"], "unknown device"),
    (["pose2d", "{dir}"], "--out DIR"),
    (["pose2d", "{clip}", "--bogus-flag"], "No such option"),
])
def test_usage_errors_exit_2_in_one_line(monkeypatch, capsys, tmp_path, fake_backend, args, message):
    clip = write_video(tmp_path / "clip.mp4", walking_box(10))
    (tmp_path / "d").mkdir()
    write_video(tmp_path / "d" / "x.mp4", walking_box(10))
    args = [a.format(clip=clip, dir=tmp_path / "d") for a in args]
    if "--pose2d" not in args:
        args += ["--pose2d", fake_backend]
    code, out, err = vid2pose(monkeypatch, capsys, *args)
    assert code == 2, err
    assert message in err
    assert "Traceback" not in err


def test_single_bad_input_exits_1_without_traceback(monkeypatch, capsys, tmp_path, fake_backend):
    bad = tmp_path / "bad.mp4"
    bad.write_text("hello")
    code, _, err = vid2pose(monkeypatch, capsys, "pose2d", bad, "--pose2d", fake_backend, "-o", tmp_path / "o.json")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "o.json").exists()


def test_interrupt_leaves_no_partial_output(monkeypatch, capsys, tmp_path, fake_backend):
    clip = write_video(tmp_path / "clip.mp4", walking_box(30))
    monkeypatch.setattr(support_fake, "create", lambda weights=None, device="cpu":
                        support_fake.BoxBackend(interrupt_on_frame=20))
    code, _, err = vid2pose(monkeypatch, capsys, "pose2d", clip, "--pose2d", fake_backend, "-o",
                            tmp_path / "kp.json", "--overlay", tmp_path / "over.mp4")
    assert code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_interrupt_while_writing_overlay_leaves_json_but_no_video(monkeypatch, capsys, tmp_path, fake_backend):
    clip = write_video(tmp_path / "clip.mp4", walking_box(30))
    import vid2pose.export.overlay as overlay

    calls = {"n": 0}
    real = overlay.draw_person

    def draw_then_stop(*a, **k):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(overlay, "draw_person", draw_then_stop)
    code, _, _ = vid2pose(monkeypatch, capsys, "pose2d", clip, "--pose2d", fake_backend, "-o",
                          tmp_path / "kp.json", "--overlay", tmp_path / "over.mp4")
    assert code == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "kp.json"]


def test_overlay_video_is_written(monkeypatch, capsys, tmp_path, fake_backend):
    import cv2

    clip = write_video(tmp_path / "clip.mp4", walking_box(12))
    code, _, err = vid2pose(monkeypatch, capsys, "pose2d", clip, "--pose2d", fake_backend, "-o", tmp_path / "kp.json",
                            "--overlay", tmp_path / "over.mp4")
    assert code == 0, err
    cap = cv2.VideoCapture(str(tmp_path / "over.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    ok, img = cap.read()
    assert ok and img.shape == (120, 160, 3)
    # the track's colour (not just white and black) appears on the frame
    assert ((img[:, :, 0].astype(int) - img[:, :, 2].astype(int)) ** 2).max() > 2000


def test_info_and_weights_json(monkeypatch, capsys):
    code, out, _ = vid2pose(monkeypatch, capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0 and "cpu" in info["devices"] and "mediapipe" in info["backends"]
    code, out, _ = vid2pose(monkeypatch, capsys, "weights", "--json")
    rows = json.loads(out)
    assert code == 0 and all({"name", "status", "file", "source", "licence"} <= set(r) for r in rows)
