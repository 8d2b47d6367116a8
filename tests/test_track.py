import numpy as np
import pytest

from support_fake import CANONICAL_COCO
from vid2pose.errors import InputError
from vid2pose.skeletons import to_h36m
from vid2pose.track import Tracker, iou, select_tracks
from vid2pose.types import Person2D


def person(x, y, w=40, h=100):
    kp = np.ones((17, 3), np.float32)
    kp[:, :2] = CANONICAL_COCO * [w, h] + [x, y]
    p = Person2D(bbox=np.array([x, y, x + w, y + h], np.float32), score=0.9, keypoints=kp)
    p.h36m = to_h36m("coco17", kp)
    return p


def run(frames, fps=30.0, **kw):
    tr = Tracker(fps, **kw)
    for i, people in enumerate(frames):
        tr.update(i, i / fps, people)
    return tr.finish()


def test_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou(a, b)[0], [1.0, 50 / 150, 0.0])


def test_two_people_crossing_keep_their_ids():
    # A walks right, B walks left; they overlap completely in the middle frames,
    # and the detector returns them in a random order.
    rng = np.random.default_rng(0)
    frames = []
    for i in range(60):
        a, b = person(20 + 5 * i, 50), person(320 - 5 * i, 52)
        people = [a, b]
        rng.shuffle(people)
        frames.append(people)
    tracks = run(frames)
    assert len(tracks) == 2
    for t in tracks:
        assert len(t) == 60
        x = t.bboxes[:, 0]
        steps = np.diff(x)
        assert np.all(steps > 0) or np.all(steps < 0), "a track switched people at the crossing"


def test_occlusion_keeps_the_id_and_marks_the_gap():
    frames = []
    for i in range(50):
        a, b = person(20 + 5 * i, 50), person(300, 40)
        # A is hidden for frames 20..29 (a third of a second at 30 fps)
        frames.append([b] if 20 <= i < 30 else [a, b])
    tracks = run(frames)
    assert len(tracks) == 2
    walker = next(t for t in tracks if t.bboxes[0, 0] < 100)
    assert len(walker) == 40
    assert walker.gaps() == [(20, 29)]


def test_a_fast_move_while_unseen_is_stitched():
    # Someone jumps down: unseen for 8 frames, reappears lower and larger, too far for box overlap.
    frames = []
    for i in range(60):
        walker = person(400 - 4 * i, 200)
        if i < 30:
            frames.append([person(100 + i, 20, 30, 80), walker])
        elif i < 38:
            frames.append([walker])
        else:
            frames.append([person(200 + 3 * (i - 38), 60, 40, 110), walker])
    tracks = run(frames)
    assert len(tracks) == 2
    jumper = next(t for t in tracks if t.bboxes[0, 1] < 100)
    assert len(jumper) == 52 and jumper.gaps() == [(30, 37)]


def test_long_absence_starts_a_new_track():
    frames = [[person(100, 50)] if i < 10 or i >= 70 else [] for i in range(80)]
    assert len(run(frames, max_gap=1.0)) == 2


def test_short_false_detections_are_dropped():
    frames = [[person(100, 50)] + ([person(400, 10, 10, 20)] if i == 5 else []) for i in range(20)]
    tracks = run(frames)
    assert [len(t) for t in tracks] == [20]


def test_person_selection():
    frames = [[person(20, 50, 40, 100), person(300, 50, 20, 50)] for _ in range(10)]
    frames += [[person(20, 50, 40, 100)] for _ in range(10)]
    tracks = run(frames)
    assert [t.track_id for t in tracks] == [1, 2]
    assert select_tracks(tracks, "main")[0].track_id == 1
    assert len(select_tracks(tracks, "all")) == 2
    assert select_tracks(tracks, "2")[0].track_id == 2
    with pytest.raises(InputError, match="no person 7"):
        select_tracks(tracks, "7")
