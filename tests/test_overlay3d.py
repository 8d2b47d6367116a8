"""The 3D panel of `run --overlay`: upright, left on the correct side, beside the video, flat in memory."""
import cv2
import numpy as np

from support_fake import walking_box, write_video
from vid2pose.export.overlay import draw_pose3d_panel, view_for, write_overlay
from vid2pose.lift.lifting import Track3D
from vid2pose.types import Track
from vid2pose.video import open_source

# A person standing 3 m in front of the camera, facing it, in camera space (x right, y down, z forward).
# Facing the camera, the person's left is on the image's right (+x).
STAND = np.array([
    [0, 0, 0], [-0.1, 0, 0], [-0.1, 0.45, 0], [-0.1, 0.9, 0], [0.1, 0, 0], [0.1, 0.45, 0], [0.1, 0.9, 0],
    [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, -0.05], [0, -0.72, 0], [0.18, -0.5, 0], [0.45, -0.5, 0], [0.7, -0.5, 0],
    [-0.18, -0.5, 0], [-0.45, -0.5, 0], [-0.7, -0.5, 0]], np.float32)


def track3d(n, first=0, tid=1, interpolated=None):
    root = np.tile(np.array([0.0, 0.0, 3.0], np.float32), (n, 1))
    return Track3D(track_id=tid, frames=np.arange(first, first + n), times=np.arange(first, first + n) / 25.0,
                   interpolated=np.zeros(n, bool) if interpolated is None else interpolated,
                   joints=np.tile(STAND, (n, 1, 1)), root=root, scale=1.0)


def test_panel_is_upright_and_left_is_left():
    t = track3d(5)
    view = view_for([t], 240, 240)
    px = view.project(t.joints_cam[0])
    assert px[10, 1] < px[8, 1] < px[0, 1] < px[3, 1]  # head above thorax above pelvis above ankle
    assert px[13, 0] > px[16, 0]  # seen from the camera's side (a 35 degree turn), left wrist right
    assert (px >= 0).all() and (px[:, 0] < 240).all() and (px[:, 1] < 240).all()  # all in view
    img = np.zeros((240, 240, 3), np.uint8)
    draw_pose3d_panel(img, [(1, t.joints_cam[0], False)], view)
    empty = np.zeros_like(img)
    draw_pose3d_panel(empty, [], view)
    changed = np.abs(img.astype(int) - empty.astype(int)).sum(-1) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 200 and px[:, 0].min() - 5 <= xs.min() and xs.max() <= px[:, 0].max() + 60


def test_overlay_video_has_the_panel_beside_it(tmp_path):
    n = 12
    clip = write_video(tmp_path / "c.mp4", walking_box(n), size=(96, 64))
    boxes = np.array([[10 + 4 * i, 30, 30 + 4 * i, 90] for i in range(n)], np.float32)
    kp = np.zeros((n, 17, 3), np.float32)
    t2d = Track(track_id=1, frame_indices=np.arange(n), times=np.arange(n) / 25.0, bboxes=boxes,
                scores=np.ones(n, np.float32), keypoints=kp, h36m=kp)
    t3 = track3d(8, first=2)  # 3D only on frames 2..9
    out = tmp_path / "o.mp4"
    write_overlay(out, open_source(clip), [t2d], "coco17", 0, n - 1, tracks3d=[t3])
    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96 + 64, 64)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[:, 96:].astype(int))
    assert len(frames) == n
    # frames with a 3D pose differ from frames without (which show only the floor and the title)
    assert np.abs(frames[5] - frames[0]).sum(-1).max() > 100
    assert np.abs(frames[11] - frames[0]).mean() < 2
