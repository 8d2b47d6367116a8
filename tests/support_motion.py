"""Made-up walking motion for the H36M-17 skeleton, with constant bones (tests only).

Written independently of vid2pose.kinematics (scipy rotations, its own chain), so that tests
compare our inverse + forward kinematics against positions we did not produce ourselves.

World frame of the generator: Y up, the person facing +Z at yaw 0, their left on +X.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# Parent of each H36M joint and its offset from the parent in the parent's frame, metres.
# Hips, spine, shoulders and neck are rigid around pelvis and thorax, as in any BVH skeleton.
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)


def body(thigh=(0.44, 0.44), shin=(0.43, 0.43), upper=(0.28, 0.28), fore=(0.25, 0.25)):
    """Offsets (17, 3); pairs are (right, left) lengths, to allow asymmetric bodies."""
    off = np.zeros((17, 3))
    off[1], off[4] = [-0.12, -0.05, 0.01], [0.12, -0.05, 0.01]
    off[2], off[5] = [0, -thigh[0], 0], [0, -thigh[1], 0]
    off[3], off[6] = [0, -shin[0], 0], [0, -shin[1], 0]
    off[7] = [0.0, 0.22, -0.02]
    off[8] = [0.0, 0.25, 0.01]
    off[9] = [0.0, 0.12, 0.07]  # nose: up and forward of the thorax
    off[10] = [0.0, 0.11, -0.03]  # top of the head
    off[11], off[14] = [0.15, -0.01, -0.02], [-0.15, -0.01, -0.02]
    off[12], off[15] = [upper[1], 0, 0], [-upper[0], 0, 0]
    off[13], off[16] = [fore[1], 0, 0], [-fore[0], 0, 0]
    return off


def _rot(axis: str, deg) -> np.ndarray:
    return Rotation.from_euler(axis, np.asarray(deg, dtype=float)[..., None], degrees=True).as_matrix()


def walk(
    n_frames: int = 90,
    fps: float = 30.0,
    *,
    turn_deg: float = 0.0,
    speed: float = 1.2,
    elbow_min_deg: float = 15.0,
    knee_min_deg: float = 0.0,
    offsets: np.ndarray | None = None,
    extra_root: np.ndarray | None = None,
) -> np.ndarray:
    """(F, 17, 3) world joints of a walk, turning by turn_deg about +Y over the clip.

    Knees straighten fully once per step (knee_min_deg=0) unless told otherwise; elbows stay
    bent at least elbow_min_deg (0: arms reach straight).
    """
    off = body() if offsets is None else offsets
    t = np.arange(n_frames) / fps
    w = 2 * np.pi * 0.9 * t  # gait phase, 0.9 cycles per second
    one = np.ones_like(t)
    local = np.broadcast_to(np.eye(3), (n_frames, 17, 3, 3)).copy()

    yaw = turn_deg * t / max(t[-1], 1e-9)
    local[:, 0] = _rot("y", yaw) @ _rot("x", 4 + 2 * np.sin(2 * w)) @ _rot("z", 3 * np.sin(w))
    if extra_root is not None:
        local[:, 0] = extra_root @ local[:, 0]
    local[:, 7] = _rot("y", -8 * np.sin(w)) @ _rot("x", 3 * np.sin(2 * w))
    local[:, 8] = _rot("y", -5 * np.sin(w)) @ _rot("z", 2 * np.sin(w + 1))
    local[:, 9] = _rot("x", 10 * np.sin(0.5 * w)) @ _rot("y", 15 * np.sin(0.3 * w))
    for hip, knee, phase in ((1, 2, 0.0), (4, 5, np.pi)):
        # Hip flexion brings the knee forward (+Z): a negative turn about X. A little twist.
        local[:, hip] = _rot("x", -25 * np.sin(w + phase)) @ _rot("y", 6 * np.sin(w + phase)) @ _rot(
            "z", 2 * one
        )
        bend = knee_min_deg + (35 - knee_min_deg) * 0.5 * (1 - np.cos(w + phase))
        local[:, knee] = _rot("x", bend)  # the shin swings back
    for sh, el, side, phase in ((11, 12, 1.0, np.pi), (14, 15, -1.0, 0.0)):
        # From the T-pose the arm hangs down (about Z), then swings forward and back (about X).
        local[:, sh] = _rot("x", -20 * np.sin(w + phase)) @ _rot("z", -side * 75 * one) @ _rot(
            "x", 10 * np.sin(w)
        )
        bend = elbow_min_deg + 25 * 0.5 * (1 + np.sin(w + phase))
        local[:, el] = _rot("y", -side * bend)  # the forearm comes forward

    g = np.empty_like(local)
    pos = np.zeros((n_frames, 17, 3))
    # Pelvis path: forward along the heading, a little bounce.
    heading = np.deg2rad(yaw)
    step = speed / fps
    pos[:, 0, 0] = np.cumsum(step * np.sin(heading)) - step * np.sin(heading[0])
    pos[:, 0, 2] = np.cumsum(step * np.cos(heading)) - step * np.cos(heading[0])
    pos[:, 0, 1] = 0.93 + 0.02 * np.cos(2 * w)
    for j, p in enumerate(PARENTS):
        if p < 0:
            g[:, j] = local[:, j]
        else:
            g[:, j] = g[:, p] @ local[:, j]
            pos[:, j] = pos[:, p] + np.einsum("fab,b->fa", g[:, p], off[j])
    return pos


# Camera looking at the person from 4 m in front of them, camera at chest height.
CAMERA_DEPTH = 4.0
CAMERA_HEIGHT = 1.3


def world_to_camera(world: np.ndarray) -> np.ndarray:
    """Generator world (Y up, facing +Z) -> camera (x right, y down, z away from the camera).

    The camera stands CAMERA_DEPTH in front of the person (at world z = +CAMERA_DEPTH) looking
    back at them: camera forward = world -Z, camera down = world -Y, and so camera right = world
    +X (right-handed). A person facing +Z then faces the camera.
    """
    cam = np.empty_like(world)
    cam[..., 0] = world[..., 0]
    cam[..., 1] = CAMERA_HEIGHT - world[..., 1]
    cam[..., 2] = CAMERA_DEPTH - world[..., 2]
    return cam


def camera_to_bvh_expected(cam: np.ndarray) -> np.ndarray:
    """What the BVH world must be for camera points: (x, -y, -z), written out by hand."""
    return np.stack([cam[..., 0], -cam[..., 1], -cam[..., 2]], axis=-1)
