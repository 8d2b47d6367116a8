"""Repair left/right label swaps of limb keypoints in a 2D track, before lifting.

2D networks sometimes report a person's left wrist where the right one is (and the reverse) for a
few to a few dozen frames; measured on the rendered bench clips (benchmarks/accuracy.py), the default
backend did so on 3 of 12 clips, and the lifter turned those frames into mirrored arms or legs.
Such an episode starts or ends with both keypoints of the pair jumping across the body within one
frame (0.4-0.55 of the person's height, where the true per-frame motion stayed under 0.03).

Per left/right pair (shoulders, elbows, wrists, hips, knees, ankles), each frame's labelling is either
kept or swapped. The choice minimises, over the whole track, the distance both keypoints travel from frame
to frame plus a small price per swapped frame (Viterbi, two states). Labels change only where that
removes jumps worth more than the price: where the two keypoints are close together (limbs crossing)
both labellings travel alike and the 2D stage's labels stay; a track that is wrong from its first to
its last frame cannot be told apart and is left alone.
"""
from __future__ import annotations

import numpy as np

# H36M-17 (left, right) pairs, repaired independently (a wrist can swap without its elbow). Shoulders
# and hips too: when the 2D stage reads a body front-to-back for a few frames, every pair swaps.
PAIRS = ((11, 14), (12, 15), (13, 16), (4, 1), (5, 2), (6, 3))  # shoulders, elbows, wrists, hips, knees, ankles
SWAP_PRICE = 0.02  # per swapped frame, in person heights of travel. An episode bounded by one jump of
#                    0.4 heights saves 0.8 of travel: up to 40 frames per such boundary are swapped back.
#                    Measured on the bench's 2D: 0.01 and 0.02 fix the same swaps, 0.02 makes fewer
#                    wrong ones; 0.05 misses some.


def person_size(kp: np.ndarray) -> float:
    """A robust person height in pixels for the track: median over frames of the keypoints' extent."""
    xy = kp[..., :2]
    ext = np.linalg.norm(xy.max(1) - xy.min(1), axis=-1)
    return float(max(np.median(ext), 1.0))


def swap_states(left: np.ndarray, right: np.ndarray, price: float) -> np.ndarray:
    """(N, 2) positions of a pair's two keypoints (in person heights) -> (N,) bool: swap this frame.

    Cost of moving from frame t-1 in state a to frame t in state b: how far the left and the right
    keypoint travel under those labellings; plus ``price`` for every frame in the swapped state.
    """
    n = len(left)
    if n < 2:
        return np.zeros(n, bool)
    obs = np.stack([np.stack([left, right], 1), np.stack([right, left], 1)], 1)  # (N, state, side, 2)
    # travel[t, a, b]: from state a at t-1 to state b at t
    diff = obs[1:, None, :, :, :] - obs[:-1, :, None, :, :]  # (N-1, a, b, side, 2)
    travel = np.linalg.norm(diff, axis=-1).sum(-1)  # (N-1, a, b)
    state_cost = np.array([0.0, price])
    cost = state_cost.copy()
    back = np.zeros((n - 1, 2), np.int8)
    for t in range(n - 1):
        total = cost[:, None] + travel[t]  # (a, b)
        back[t] = np.argmin(total, 0)
        cost = total[back[t], [0, 1]] + state_cost
    states = np.zeros(n, np.int8)
    states[-1] = int(np.argmin(cost))
    for t in range(n - 2, -1, -1):
        states[t] = back[t, states[t + 1]]
    return states.astype(bool)


def repair_limb_swaps(kp: np.ndarray, price: float = SWAP_PRICE) -> tuple[np.ndarray, int]:
    """(N, 17, 3) H36M pixel keypoints + confidence of one track, frames in order ->
    (repaired copy, number of (frame, pair) labels swapped back)."""
    out = np.array(kp, copy=True)
    if len(out) < 3:
        return out, 0
    h = person_size(out)
    xy = out[..., :2].astype(np.float64) / h
    changed = 0
    for a, b in PAIRS:
        sw = swap_states(xy[:, a], xy[:, b], price)
        if sw.any():
            out[sw, a], out[sw, b] = kp[sw, b], kp[sw, a]
            changed += int(sw.sum())
    return out, changed
