"""Person tracking: stable IDs across frames, through short occlusions and crossings.

Each frame's detections are matched to live tracks by the Hungarian method on a
cost that mixes box overlap with the box predicted from the track's velocity
and with keypoint agreement, so two people who cross keep their IDs as long as
they move steadily. A track that is not seen keeps coasting on its velocity for
up to ``max_gap`` seconds; frames where it is not seen are gaps, never invented.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vid2pose.types import Person2D, Track

_NO_MATCH = 1e6


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), x1 y1 x2 y2."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


@dataclass
class _Live:
    track_id: int
    box: np.ndarray  # last seen box
    kp: np.ndarray  # last seen H36M keypoints (17, 3)
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))  # box change per frame
    rows: list = field(default_factory=list)  # (frame, time, Person2D)

    def predict(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.last_frame)


class Tracker:
    def __init__(self, fps: float, max_gap: float = 1.0, min_iou: float = 0.05):
        self.max_gap_frames = max(1, int(round(max_gap * fps)))
        self.min_iou = min_iou
        self.live: list[_Live] = []
        self.done: list[_Live] = []
        self._next_id = 0

    def _cost(self, tracks: list[_Live], people: list[Person2D], frame: int) -> np.ndarray:
        pred = np.stack([t.predict(frame) for t in tracks])
        boxes = np.stack([p.bbox for p in people])
        overlap = iou(pred, boxes)
        # Keypoint agreement: mean distance of confident joints, relative to the predicted box size.
        shift = (pred[:, :2] + pred[:, 2:]) / 2 - np.stack([(t.box[:2] + t.box[2:]) / 2 for t in tracks])
        t_kp = np.stack([t.kp[:, :2] for t in tracks]) + shift[:, None, :]
        d_kp = np.stack([p.h36m[:, :2] for p in people])
        conf = np.minimum(np.stack([t.kp[:, 2] for t in tracks])[:, None], np.stack([p.h36m[:, 2] for p in people])[None])
        dist = np.linalg.norm(t_kp[:, None] - d_kp[None], axis=-1)  # (N, M, 17)
        scale = np.sqrt(np.prod(np.clip(pred[:, 2:] - pred[:, :2], 1, None), axis=-1))[:, None, None]
        kp_err = (np.clip(dist / scale, 0, 1) * conf).sum(-1) / np.maximum(conf.sum(-1), 1e-6)
        cost = (1 - overlap) + kp_err
        cost[overlap < self.min_iou] = _NO_MATCH
        return cost

    def update(self, frame: int, time: float, people: list[Person2D]) -> None:
        # Retire tracks unseen for too long.
        keep = []
        for t in self.live:
            (keep if frame - t.last_frame <= self.max_gap_frames else self.done).append(t)
        self.live = keep
        matched_people: set[int] = set()
        if self.live and people:
            cost = self._cost(self.live, people, frame)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] >= _NO_MATCH:
                    continue
                self._extend(self.live[r], frame, time, people[c])
                matched_people.add(c)
        for c, p in enumerate(people):
            if c not in matched_people:
                t = _Live(track_id=self._next_id, box=p.bbox.astype(np.float32), kp=p.h36m, last_frame=frame)
                t.rows.append((frame, time, p))
                self._next_id += 1
                self.live.append(t)

    @staticmethod
    def _extend(t: _Live, frame: int, time: float, p: Person2D) -> None:
        dt = frame - t.last_frame
        step = (p.bbox - t.box) / max(dt, 1)
        # Smoothed velocity: steady enough to carry a track through a crossing.
        t.velocity = step if len(t.rows) == 1 else 0.6 * t.velocity + 0.4 * step
        t.box, t.kp, t.last_frame = p.bbox.astype(np.float32), p.h36m, frame
        t.rows.append((frame, time, p))

    def _stitch(self, tracks: list[_Live]) -> list[_Live]:
        """Join a track that ended to one that started soon after near where it ended.

        Matching frame to frame fails when someone moves fast while unseen (a jump, a
        fall); joining whole tracks is safe when exactly one track could continue
        exactly one other, and the two never coexist.
        """
        tracks = sorted(tracks, key=lambda t: t.rows[0][0])

        def near(a: _Live, b: _Live) -> bool:
            gap = b.rows[0][0] - a.last_frame
            if not 0 < gap <= self.max_gap_frames:
                return False
            # the person's usual size, not the last box (a crouch or a jump shrinks it)
            size = float(np.median([np.max(r[2].bbox[2:] - r[2].bbox[:2]) for r in a.rows[-30:]]))
            end, start = (a.box[:2] + a.box[2:]) / 2, (b.rows[0][2].bbox[:2] + b.rows[0][2].bbox[2:]) / 2
            return float(np.linalg.norm(start - end)) < 1.5 * size

        merged = True
        while merged:
            merged = False
            for a in tracks:
                nexts = [b for b in tracks if near(a, b)]
                if len(nexts) == 1 and [x for x in tracks if near(x, nexts[0])] == [a]:
                    b = nexts[0]
                    a.rows += b.rows
                    a.box, a.kp, a.last_frame = b.box, b.kp, b.last_frame
                    tracks.remove(b)
                    merged = True
                    break
        return tracks

    def finish(self, min_frames: int = 3) -> list[Track]:
        """All tracks seen in at least ``min_frames`` frames, numbered 1, 2, ... by first appearance."""
        everything = sorted(self._stitch(self.done + self.live), key=lambda t: (t.rows[0][0], t.track_id))
        tracks = []
        for t in everything:
            if len(t.rows) < min_frames:
                continue
            ps = [r[2] for r in t.rows]
            tracks.append(Track(
                track_id=len(tracks) + 1,
                frame_indices=np.array([r[0] for r in t.rows], np.int64),
                times=np.array([r[1] for r in t.rows], np.float64),
                bboxes=np.stack([p.bbox for p in ps]).astype(np.float32),
                scores=np.array([p.score for p in ps], np.float32),
                keypoints=np.stack([p.keypoints for p in ps]).astype(np.float32),
                h36m=np.stack([p.h36m for p in ps]).astype(np.float32),
            ))
        return tracks


def select_tracks(tracks: list[Track], person: str) -> list[Track]:
    """--person main (the most present, largest person), all, or a track ID."""
    if not tracks or person == "all":
        return tracks
    if person == "main":
        return [max(tracks, key=lambda t: t.presence())]
    wanted = int(person)
    chosen = [t for t in tracks if t.track_id == wanted]
    if not chosen:
        from vid2pose.errors import InputError

        raise InputError(f"there is no person {wanted}; this video has "
                         f"{', '.join(str(t.track_id) for t in tracks)}")
    return chosen
