import shutil
import subprocess

import cv2
import numpy as np
import pytest

from support_fake import walking_box, write_video
from vid2pose.errors import InputError, UsageError
from vid2pose.video import open_source


def test_video_file_metadata_and_streaming(tmp_path):
    p = write_video(tmp_path / "clip.mp4", walking_box(30), size=(160, 120), fps=25.0)
    src = open_source(p)
    m = src.meta
    assert (m.width, m.height, m.fps, m.frame_count, m.kind) == (160, 120, 25.0, 30, "video")
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(30))
    assert frames[5].time == pytest.approx(0.2)
    assert frames[0].image.shape == (120, 160, 3)


def test_time_range_selects_frames(tmp_path):
    src = open_source(write_video(tmp_path / "clip.avi", walking_box(30), fps=25.0, fourcc="MJPG"))
    first, last = src.frame_range(0.4, 0.8)
    assert (first, last) == (10, 19)
    assert [f.index for f in src.frames(first, last)] == list(range(10, 20))
    with pytest.raises(UsageError):
        src.frame_range(5.0, None)


def test_image_folder_and_glob(tmp_path):
    for i in (1, 2, 10):  # natural order: 1, 2, 10
        img = np.full((40, 50, 3), i * 20, np.uint8)
        cv2.imwrite(str(tmp_path / f"f{i}.png"), img)
    src = open_source(tmp_path, image_fps=10)
    assert src.meta.kind == "images" and src.meta.frame_count == 3 and src.meta.fps == 10
    assert [int(f.image[0, 0, 0]) for f in src.frames()] == [20, 40, 200]
    src = open_source(str(tmp_path / "f*.png"))
    assert src.meta.frame_count == 3


def test_bad_inputs_have_clear_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        open_source(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(InputError, match="not a video|no frame"):
        open_source(text)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        open_source(empty)
    with pytest.raises(UsageError, match="matches no images"):
        open_source(str(tmp_path / "*.jpg"))


def test_truncated_video_is_reported(tmp_path):
    p = write_video(tmp_path / "clip.avi", walking_box(60), fps=25.0, fourcc="MJPG")
    data = p.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = open_source(cut)  # the header is intact: it opens and announces 60 frames
    assert src.meta.frame_count == 60
    with pytest.raises(InputError, match="decoding stopped at frame .* corrupt or truncated"):
        list(src.frames())


def _ffmpeg():
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return shutil.which("ffmpeg")


def test_rotation_metadata_gives_upright_frames(tmp_path):
    ffmpeg = _ffmpeg()
    if not ffmpeg:
        pytest.skip("needs an ffmpeg binary (pip install imageio-ffmpeg) to write rotation metadata")
    # A landscape video whose metadata says: show it rotated by 90 degrees (a portrait phone clip).
    src_path = tmp_path / "land.mp4"
    vw = cv2.VideoWriter(str(src_path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (160, 96))
    for _ in range(10):
        img = np.zeros((96, 160, 3), np.uint8)
        img[:, :20] = 255  # a white band on the left edge
        vw.write(img)
    vw.release()
    rotated = tmp_path / "portrait.mp4"
    r = subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-display_rotation", "90", "-i", str(src_path),
                        "-c", "copy", str(rotated)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"this ffmpeg cannot set display rotation: {r.stderr.decode()[:200]}")
    src = open_source(rotated)
    assert src.meta.rotation in (90, 270)
    frame = next(src.frames())
    assert (src.meta.width, src.meta.height) == (96, 160) == frame.image.shape[1::-1]
    # The band that was on the left edge is now along the top or the bottom edge.
    rows = frame.image[:, :, 0].mean(axis=1)
    assert max(rows[:20].mean(), rows[-20:].mean()) > 200 and rows[70:90].mean() < 50
