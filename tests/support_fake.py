"""Test doubles: a 2D backend that finds bright boxes, and synthetic videos to feed it.

The backend treats every bright blob in a frame as a person and places a
canonical COCO-17 pose inside its box, so the video, tracking, JSON and batch
code can be tested end to end without a neural network.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vid2pose.types import Person2D, WeightsIdentity

# A standing person in a unit box (x right, y down), COCO-17 order.
CANONICAL_COCO = np.array([
    [0.50, 0.08], [0.53, 0.06], [0.47, 0.06], [0.56, 0.07], [0.44, 0.07],  # nose, eyes, ears
    [0.65, 0.22], [0.35, 0.22], [0.72, 0.38], [0.28, 0.38], [0.75, 0.52], [0.25, 0.52],  # arms (left is image-right)
    [0.60, 0.52], [0.40, 0.52], [0.60, 0.75], [0.40, 0.75], [0.60, 0.97], [0.40, 0.97],  # legs
], np.float32)


class BoxBackend:
    name = "fake"
    skeleton = "coco17"

    def __init__(self, fail_on_frame: int | None = None, interrupt_on_frame: int | None = None):
        self.frames_seen = 0
        self.fail_on_frame = fail_on_frame
        self.interrupt_on_frame = interrupt_on_frame

    def process(self, images):
        out = []
        for img in images:
            if self.interrupt_on_frame is not None and self.frames_seen == self.interrupt_on_frame:
                raise KeyboardInterrupt
            self.frames_seen += 1
            mask = (img.max(axis=2) > 128).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            people = []
            for i in range(1, n):
                x, y, w, h, area = stats[i]
                if area < 50:
                    continue
                kp = np.ones((17, 3), np.float32)
                kp[:, :2] = CANONICAL_COCO * [w, h] + [x, y]
                people.append(Person2D(bbox=np.array([x, y, x + w, y + h], np.float32), score=0.9, keypoints=kp))
            out.append(people)
        return out

    def reset(self):
        pass

    def weights(self):
        return [WeightsIdentity(name="fake", file="none", sha256="0" * 64)]

    def close(self):
        pass


CREATED: list[dict] = []  # the options each create() call got, for tests of the wiring


def create(weights=None, device="cpu", **options):
    CREATED.append(options)
    return BoxBackend()


def write_video(path: Path, boxes_per_frame, size=(160, 120), fps=25.0, fourcc="mp4v") -> Path:
    """A video where each frame shows white boxes at the given (x, y, w, h) positions."""
    w, h = size
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert vw.isOpened()
    for boxes in boxes_per_frame:
        img = np.zeros((h, w, 3), np.uint8)
        for x, y, bw, bh in boxes:
            cv2.rectangle(img, (int(x), int(y)), (int(x + bw), int(y + bh)), (255, 255, 255), -1)
        vw.write(img)
    vw.release()
    return path


def walking_box(n=20, size=(160, 120)):
    """One box moving right across the frame."""
    return [[(10 + 4 * i, 30, 20, 60)] for i in range(n)]
