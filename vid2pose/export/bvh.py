"""BVH writer for 3D joints (Human3.6M-17), made to open right in Blender's default importer.

Axes. The lifting stage gives joints in CAMERA space: x right, y DOWN, z forward (away from the
camera), metres. BVH is conventionally Y up with the character facing +Z. The writer turns the
camera space into the BVH world by a half turn about the x axis::

    world = CAMERA_TO_BVH @ camera = (x, -y, -z)

so camera "down" becomes world "down" (-Y), and a person facing the camera (facing camera -z)
faces world +Z. It is a rotation, not a mirror: the person's left stays their left (+X when
facing +Z; on the right of the image when they face the camera). The root trajectory is
converted the same way, so the camera sits at the BVH origin looking along -Z.

Blender's BVH importer (defaults: forward -Z, up Y) then maps BVH (x, y, z) to Blender
(x, -z, y): the person stands along Blender's +Z, faces -Y (towards the Front view) and their
left is +X. Its BVH frame k lands on Blender frame 1 + k. Two importer facts worth telling
users: the scene frame rate changes to the file's only with "Update Scene FPS" ticked (off by
default; the keys stay one per frame either way); and Debian's blender 3.4.1 package runs on
Python 3.11, where its importer's ``open(path, 'rU')`` fails for every BVH file
(tests/blender_import_check.py carries a shim for that).

File layout. The 17 joints, in the H36M order (already parents-first), with conventional names
(:data:`vid2pose.kinematics.JOINT_NAMES`); End Sites under the feet (pointing forward, a foot),
the hands (along the forearm) and the top of the head. The root (Hips) has 6 channels
``Xposition Yposition Zposition Zrotation Xrotation Yrotation`` and an OFFSET of zero (so the
position channels are the pelvis position for every reader); every other joint has
``Zrotation Xrotation Yrotation``. ZXY keeps the gimbal lock (middle angle X at +-90 deg) away
from the common poses: the body turning about the vertical is the last angle (Y), arms hanging
down are a Z angle. Feet, hands and the head top have no child joint in H36M-17, so their
channels stay zero (they follow the shin, forearm and head). ``Frame Time`` is 1/fps written with
``repr`` (reads back to the same double). Rest pose: a T-pose with the clip's median bone
lengths (:func:`vid2pose.kinematics.fit_skeleton`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vid2pose import atomic
from vid2pose.lift.metric import ANKLE_HEIGHT
from vid2pose.kinematics import (
    HEAD,
    L_ANKLE,
    L_WRIST,
    R_ANKLE,
    R_WRIST,
    Skeleton,
    euler_from_matrices,
    fit_skeleton,
    forward_kinematics,
    solve_rotations,
)

__all__ = ["CAMERA_TO_BVH", "ROTATION_ORDER", "write_bvh", "bvh_text", "camera_to_bvh", "floor_offset"]

# Half turn about x: camera (x right, y down, z forward) -> BVH world (Y up, person facing the
# camera faces +Z). det = +1: no mirroring.
CAMERA_TO_BVH = np.diag([1.0, -1.0, -1.0])
ROTATION_ORDER = "ZXY"
_UNIT_SCALE = {"m": 1.0, "cm": 100.0}


def camera_to_bvh(joints: np.ndarray) -> np.ndarray:
    """(..., 3) camera-space points -> BVH world points (see module doc)."""
    return np.asarray(joints, dtype=np.float64) @ CAMERA_TO_BVH.T


def floor_offset(positions: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Metres to add to the BVH Y so the feet stand on Y = 0 instead of at the camera's height.

    ``positions``: (F, 17, 3) BVH-world joints as the file will play them (after the skeleton
    fit). In camera coordinates the origin is the camera, so a person filmed from chest height
    stands about 1.3 m below the BVH origin, under Blender's floor grid. The floor is the 5th
    percentile of the lower ankle per frame (robust to a few wrong frames), an ankle height below
    it. A tilted camera tilts the floor too: this moves the clip up or down, it does not rotate it.
    """
    lowest = positions[:, [R_ANKLE, L_ANKLE], 1].min(1)
    if valid is not None and valid.any():
        lowest = lowest[valid]
    return float(ANKLE_HEIGHT - np.percentile(lowest, 5))


def _end_sites(skeleton: Skeleton) -> dict[int, np.ndarray]:
    off = skeleton.offsets
    shin = np.linalg.norm(off[L_ANKLE])
    fore = np.linalg.norm(off[L_WRIST])
    # Only bone tails in Blender (no data behind them): a forward foot, a hand continuing the
    # forearm, a short stub continuing the head.
    return {
        R_ANKLE: np.array([0.0, 0.0, 0.35 * shin]),
        L_ANKLE: np.array([0.0, 0.0, 0.35 * shin]),
        HEAD: 0.3 * off[HEAD],
        L_WRIST: 0.7 * fore * np.array([1.0, 0.0, 0.0]),
        R_WRIST: 0.7 * fore * np.array([-1.0, 0.0, 0.0]),
    }


def _clean(values: np.ndarray) -> np.ndarray:
    # Round to the 6 written decimals and turn -0.0 into 0.0, so no "-0.000000" appears.
    return np.round(np.asarray(values, dtype=np.float64), 6) + 0.0


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in _clean(values))


def bvh_text(
    skeleton: Skeleton, rotations: np.ndarray, root: np.ndarray, fps: float, *, scale: float = 1.0
) -> str:
    """BVH text for local rotations (F, J, 3, 3) and root positions (F, 3) in the BVH world.

    ``scale`` multiplies every length (offsets and root positions), e.g. 100 for cm from m.
    """
    n_frames = rotations.shape[0]
    rot_channels = " ".join(f"{axis}rotation" for axis in ROTATION_ORDER)
    ends = _end_sites(skeleton)
    children = {j: skeleton.children(j) for j in range(skeleton.num_joints)}
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        kind = "ROOT" if skeleton.parents[j] < 0 else "JOINT"
        lines.append(f"{pad}{kind} {skeleton.names[j]}")
        lines.append(f"{pad}{{")
        offset = np.zeros(3) if skeleton.parents[j] < 0 else skeleton.offsets[j] * scale
        lines.append(f"{pad}\tOFFSET {_fmt(offset)}")
        if skeleton.parents[j] < 0:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {rot_channels}")
        else:
            lines.append(f"{pad}\tCHANNELS 3 {rot_channels}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            end = ends.get(j, 0.1 * skeleton.offsets[j])
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(end * scale)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    order = _file_order(skeleton)
    angles = euler_from_matrices(rotations[:, order], ROTATION_ORDER)  # (F, J, 3) degrees
    motion = np.concatenate([root * scale, angles.reshape(n_frames, -1)], axis=1)
    lines += ["MOTION", f"Frames: {n_frames}", f"Frame Time: {repr(1.0 / float(fps))}"]
    fmt = " ".join(["%.6f"] * motion.shape[1])
    lines += [fmt % tuple(row) for row in _clean(motion)]
    return "\n".join(lines) + "\n"  # final newline: some readers drop an unterminated last frame


def _file_order(skeleton: Skeleton) -> list[int]:
    """Joints in the depth-first order the hierarchy is written in."""
    out: list[int] = []

    def visit(j: int) -> None:
        out.append(j)
        for c in skeleton.children(j):
            visit(c)

    visit(0)
    return out


def write_bvh(
    path: str | Path,
    joints: np.ndarray,
    fps: float,
    *,
    units: str = "m",
    root_motion: bool = True,
    missing: np.ndarray | None = None,
    floor: bool = False,
) -> Skeleton:
    """Write camera-space H36M-17 joints as a BVH file (atomically).

    Args:
        path: output file.
        joints: (F, 17, 3) float, metres, camera space (x right, y down, z forward), every frame
            present (interpolate gaps first: frames are never dropped, so timing stays true).
        fps: the video's frame rate; ``Frame Time`` is ``1 / fps``.
        units: ``"m"`` or ``"cm"`` for offsets and root positions.
        root_motion: True: the pelvis follows the camera-space trajectory. False: in place, the
            pelvis stays over the origin (world x = z = 0) but keeps its height.
        missing: optional (F,) bool, True for frames that were interpolated. They are written
            like the others; they are left out when measuring the bone lengths. (BVH has no
            place to flag them: the caller records them elsewhere.)
        floor: True: move the clip up or down so the feet stand on Y = 0 (:func:`floor_offset`);
            False: keep the camera at the origin.

    Returns:
        The fitted skeleton (in metres, BVH world axes).
    """
    if units not in _UNIT_SCALE:
        raise ValueError(f"units must be 'm' or 'cm', got {units!r}")
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps}")
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (17, 3) or joints.shape[0] == 0:
        raise ValueError(f"joints must have shape (frames >= 1, 17, 3), got {joints.shape}")
    valid = None
    if missing is not None:
        missing = np.asarray(missing, dtype=bool)
        if missing.shape != (joints.shape[0],):
            raise ValueError(f"missing must have shape ({joints.shape[0]},), got {missing.shape}")
        valid = ~missing

    world = camera_to_bvh(joints)
    skeleton = fit_skeleton(world, valid)
    rotations, root = solve_rotations(world, skeleton)
    root = root.copy()
    if floor:
        root[:, 1] += floor_offset(forward_kinematics(skeleton, rotations, root), valid)
    if not root_motion:
        root[:, [0, 2]] = 0.0
    text = bvh_text(skeleton, rotations, root, fps, scale=_UNIT_SCALE[units])
    atomic.write_text(path, text)
    return skeleton
