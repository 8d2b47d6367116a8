"""Left/right limb swaps of the 2D stage put back before lifting (vid2pose/lift/swaps.py)."""
import numpy as np
import pytest

from test_lift import ours, track_of, walking_2d  # noqa: F401  (fixture)
from vid2pose.lift.lifting import LiftSettings, lift_info, lift_track
from vid2pose.lift.sequence import LiftOptions
from vid2pose.lift.swaps import PAIRS, repair_limb_swaps
from vid2pose.skeletons import H36M_FLIP
from vid2pose.types import VideoMeta

META = VideoMeta(source="x.mp4", fps=30.0, width=640, height=480, frame_count=60)


def swap(kp, frames, pairs):
    out = kp.copy()
    for a, b in pairs:
        out[frames, a], out[frames, b] = kp[frames, b], kp[frames, a]
    return out


def crossing_arms(n=60):
    """A clean track whose wrists and elbows really cross each other (arms swinging across the body)."""
    kp = walking_2d(n)
    t = np.linspace(-1, 1, n)[:, None]
    for a, b in ((12, 15), (13, 16)):  # left and right elbow, wrist: x passes through the other's
        mid = (kp[:, a, 0] + kp[:, b, 0]) / 2
        kp[:, a, 0] = mid + 40 * t[:, 0]
        kp[:, b, 0] = mid - 40 * t[:, 0]
    return kp


def test_a_wrist_swap_and_a_front_to_back_episode_are_put_back():
    clean = walking_2d(60)
    clean[:, [13, 16], 1] -= 20  # hands held apart at chest height: the pair is well separated
    bad = swap(clean, np.r_[10:22], [(13, 16)])  # one wrist pair, 12 frames
    bad = swap(bad, np.r_[35:39], PAIRS)  # the whole body read front-to-back for 4 frames
    fixed, n = repair_limb_swaps(bad)
    np.testing.assert_array_equal(fixed, clean)
    assert n == 12 + 4 * len(PAIRS)


def test_clean_tracks_are_left_alone_even_where_limbs_cross():
    for kp in (walking_2d(60), crossing_arms()):
        fixed, n = repair_limb_swaps(kp)
        assert n == 0
        np.testing.assert_array_equal(fixed, kp)


def test_a_track_swapped_from_first_to_last_frame_cannot_be_told_apart():
    kp = walking_2d(40)[:, H36M_FLIP]
    fixed, n = repair_limb_swaps(kp)
    assert n == 0 and np.array_equal(fixed, kp)


def test_short_tracks_pass_through():
    kp = walking_2d(2)
    fixed, n = repair_limb_swaps(kp)
    assert n == 0 and np.array_equal(fixed, kp)


def test_lifting_uses_the_repaired_labels_unless_told_not_to(ours):  # noqa: F811
    clean = walking_2d(60)
    bad = swap(clean, np.r_[20:30], [(12, 15), (13, 16)])
    ref = lift_track(track_of(clean), META, ours, LiftSettings(focal=700.0))
    rep = lift_track(track_of(bad), META, ours, LiftSettings(focal=700.0))
    raw = lift_track(track_of(bad), META, ours, LiftSettings(focal=700.0, repair_swaps=False))
    assert rep.swaps_repaired == 20 and raw.swaps_repaired == 0
    np.testing.assert_allclose(rep.joints_cam, ref.joints_cam, atol=1e-6)
    assert np.abs(raw.joints_cam - ref.joints_cam).max() > 1e-3
    assert lift_info(ours, LiftSettings(), META)["swap_repair"] is True
    assert lift_info(ours, LiftSettings(repair_swaps=False), META)["swap_repair"] is False
    # windows per frame as lifted: the lifter's own, the option's, and never more than the window has frames
    assert lift_info(ours, LiftSettings(), META)["windows_per_frame"] == ours.spec.hops
    assert lift_info(ours, LiftSettings(options=LiftOptions(hops=5)), META)["windows_per_frame"] == 5
    assert lift_info(ours, LiftSettings(options=LiftOptions(hops=500)), META)["windows_per_frame"] == 27


@pytest.mark.parametrize("frames", [np.r_[5:8], np.r_[0:6], np.r_[50:60]])
def test_episodes_at_the_track_ends_are_put_back(frames):
    clean = walking_2d(60)
    clean[:, [13, 16], 1] -= 20
    fixed, n = repair_limb_swaps(swap(clean, frames, [(13, 16)]))
    np.testing.assert_array_equal(fixed, clean)
    assert n == len(frames)
