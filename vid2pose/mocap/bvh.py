"""BVH motion-capture reader and forward kinematics (numpy).

Handles the BVH dialects found in ``shared/data/mocap``:

* plain ``.bvh`` and gzip-compressed ``.bvh.gz``; LF, CRLF or mixed line endings;
  irregular indentation (the hierarchy is read as a token stream);
* any rotation channel order, read per joint from ``CHANNELS``;
* joints with position channels (the root everywhere, every joint in the Bandai Namco
  files). Position channels *replace* the OFFSET on the axes they cover: the Bandai
  files repeat the bone offsets there, so adding both would double every bone. For the
  CMU roots the OFFSET is zero, so the two conventions agree;
* ``End Site`` blocks, kept as extra channel-less joints named ``<parent>_End`` and
  flagged in ``BvhMotion.is_end_site``.

Conventions: BVH rotation channels are Euler angles in degrees applied in the listed
order as intrinsic rotations, so ``CHANNELS 3 Zrotation Xrotation Yrotation`` gives the
local rotation ``Rz @ Rx @ Ry`` (column vectors). A joint's world transform is its
parent's world transform times ``[R_local | t_local]`` where ``t_local`` is the OFFSET
(or the position channels). Units are those of the file (cm for most, CMU ASF units
for the cgspeed files).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["BvhMotion", "read_bvh", "parse_bvh", "euler_to_matrix"]

_AXES = {"x": 0, "y": 1, "z": 2}


@dataclass
class BvhMotion:
    """A parsed BVH file.

    Attributes:
        names: joint names, in file order (parents come before children). End Sites are
            included as ``<parent>_End``.
        parents: (J,) parent index per joint, -1 for the root(s).
        offsets: (J, 3) OFFSET of each joint in its parent's frame.
        channels: per joint, the tuple of channel names (e.g. ``("Xposition", ...)``);
            empty for End Sites.
        channel_start: (J,) column of the joint's first channel in ``motion``.
        frame_time: seconds per frame, as written in the header.
        motion: (F, C) float64 channel values, one row per frame.
        is_end_site: (J,) True for End Site pseudo-joints.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    channel_start: np.ndarray
    frame_time: float
    motion: np.ndarray
    is_end_site: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.is_end_site is None:
            self.is_end_site = np.zeros(len(self.names), dtype=bool)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else float("nan")

    def index(self, name: str) -> int:
        """Index of a joint by name (exact match)."""
        return self.names.index(name)

    def local_transforms(
        self, frames: slice | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame local rotations (F, J, 3, 3) and translations (F, J, 3)."""
        motion = self.motion if frames is None else self.motion[frames]
        motion = np.atleast_2d(motion)
        n = motion.shape[0]
        J = self.num_joints
        rot = np.broadcast_to(np.eye(3), (n, J, 3, 3)).copy()
        trans = np.broadcast_to(self.offsets, (n, J, 3)).copy()
        for j, chans in enumerate(self.channels):
            if not chans:
                continue
            start = int(self.channel_start[j])
            rot_axes: list[str] = []
            rot_cols: list[int] = []
            for k, name in enumerate(chans):
                low = name.lower()
                axis = low[0]
                if low.endswith("position"):
                    # Position channels replace the offset on that axis (see module doc).
                    trans[:, j, _AXES[axis]] = motion[:, start + k]
                elif low.endswith("rotation"):
                    rot_axes.append(axis)
                    rot_cols.append(start + k)
            if rot_axes:
                rot[:, j] = euler_to_matrix(motion[:, rot_cols], "".join(rot_axes))
        return rot, trans

    def forward_kinematics(
        self, frames: slice | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (F, J, 3, 3) and world positions (F, J, 3) of every joint.

        The world rotation of a joint is the orientation of its own frame (the one its
        children's offsets are expressed in); in the BVH rest pose every one is identity.
        """
        rot, trans = self.local_transforms(frames)
        world_rot = np.empty_like(rot)
        world_pos = np.empty_like(trans)
        # Parents precede children in file order, so one pass suffices; the work per
        # joint is vectorised over frames.
        for j, p in enumerate(self.parents):
            if p < 0:
                world_rot[:, j] = rot[:, j]
                world_pos[:, j] = trans[:, j]
            else:
                world_rot[:, j] = world_rot[:, p] @ rot[:, j]
                world_pos[:, j] = world_pos[:, p] + np.einsum(
                    "fab,fb->fa", world_rot[:, p], trans[:, j]
                )
        return world_rot, world_pos

    def world_positions(self, frames: slice | np.ndarray | None = None) -> np.ndarray:
        """World joint positions (F, J, 3) in file units."""
        return self.forward_kinematics(frames)[1]

    def rest_positions(self) -> np.ndarray:
        """World joint positions (J, 3) of the rest pose (all channels zero, offsets only)."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices (..., 3, 3) for intrinsic Euler angles in degrees.

    ``order`` names the axes in the order the BVH lists them, e.g. ``"zxy"``; the result
    is ``R_order[0] @ R_order[1] @ ...``.
    """
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for k, axis in enumerate(order.lower()):
        out = out @ _axis_rotation(angles[..., k], axis)
    return out


def _axis_rotation(theta: np.ndarray, axis: str) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    m = np.zeros(theta.shape + (3, 3))
    i = _AXES[axis]
    j, k = (i + 1) % 3, (i + 2) % 3
    m[..., i, i] = 1.0
    m[..., j, j] = c
    m[..., k, k] = c
    m[..., k, j] = s
    m[..., j, k] = -s
    return m


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a ``.bvh`` or ``.bvh.gz`` file."""
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file name says
        raw = gzip.decompress(raw)
    return parse_bvh(raw.decode("utf-8", errors="replace"))


def parse_bvh(text: str) -> BvhMotion:
    """Parse BVH text (any line endings)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    split = _find_motion(text)
    header, body = text[:split], text[split:]
    tokens = header.split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise ValueError("not a BVH file: missing HIERARCHY")

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_flags: list[bool] = []
    stack: list[int] = []
    pending: int | None = None  # joint declared, waiting for its "{"
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            parent = stack[-1] if stack else -1
            names.append(tokens[i + 1])
            parents.append(parent)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            end_flags.append(False)
            pending = len(names) - 1
            i += 2
        elif up == "END":  # "End Site"
            parent = stack[-1]
            names.append(f"{names[parent]}_End")
            parents.append(parent)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            end_flags.append(True)
            pending = len(names) - 1
            i += 2
        elif tok == "{":
            if pending is None:
                raise ValueError("unexpected '{' in BVH hierarchy")
            stack.append(pending)
            pending = None
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif up == "OFFSET":
            offsets[stack[-1]] = [float(t) for t in tokens[i + 1 : i + 4]]
            i += 4
        elif up == "CHANNELS":
            n = int(tokens[i + 1])
            channels[stack[-1]] = tuple(tokens[i + 2 : i + 2 + n])
            i += 2 + n
        else:
            raise ValueError(f"unexpected token {tok!r} in BVH hierarchy")

    counts = np.array([len(c) for c in channels], dtype=np.int64)
    channel_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    n_channels = int(counts.sum())

    frame_time, motion = _parse_motion(body, n_channels)
    return BvhMotion(
        names=names,
        parents=np.array(parents, dtype=np.int64),
        offsets=np.array(offsets, dtype=np.float64).reshape(-1, 3),
        channels=channels,
        channel_start=channel_start,
        frame_time=frame_time,
        motion=motion,
        is_end_site=np.array(end_flags, dtype=bool),
    )


def _find_motion(text: str) -> int:
    # "MOTION" on its own line; search case-insensitively but only at a line start so a
    # joint named e.g. "MotionRoot" cannot confuse it.
    pos = 0
    upper = text.upper()
    while True:
        k = upper.find("MOTION", pos)
        if k < 0:
            raise ValueError("not a BVH file: missing MOTION section")
        if (k == 0 or text[k - 1] == "\n") and upper[k : k + 7].strip() == "MOTION":
            return k
        pos = k + 6


def _parse_motion(body: str, n_channels: int) -> tuple[float, np.ndarray]:
    lines = body.split("\n")
    frame_time = float("nan")
    n_frames = None
    start = None
    for k, line in enumerate(lines[1:], start=1):
        low = line.strip().lower()
        if low.startswith("frames:"):
            n_frames = int(low.split(":", 1)[1])
        elif low.startswith("frame time:"):
            frame_time = float(low.split(":", 1)[1])
            start = k + 1
            break
    if start is None:
        raise ValueError("BVH MOTION section lacks 'Frame Time:'")
    rows = [ln for ln in lines[start:] if ln.strip()]
    if n_frames is not None:
        rows = rows[:n_frames]  # tolerate trailing junk after the declared frames
    if not rows:
        return frame_time, np.zeros((0, n_channels))
    motion = np.array(" ".join(rows).split(), dtype=np.float64)
    if motion.size != len(rows) * n_channels:
        raise ValueError(
            f"BVH motion has {motion.size} values for {len(rows)} frames x "
            f"{n_channels} channels"
        )
    return frame_time, motion.reshape(len(rows), n_channels)
