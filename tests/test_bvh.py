"""BVH reader and forward kinematics on small hand-written files."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from vid2pose.mocap import parse_bvh, read_bvh
from vid2pose.mocap.bvh import euler_to_matrix

# Root with 6 channels (ZXY rotation order), a 3-channel child, an End Site, and a
# second branch whose channel order differs (XYZ). Tabs, odd spacing and a bare ".5"
# frame time on purpose.
BVH_TEXT = """HIERARCHY
ROOT Hips
{
\tOFFSET 0 0 0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Knee
\t{
\t\tOFFSET 0 -10 0
\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\tEnd Site
\t\t{
\t\t\tOFFSET 0 -5   0
\t\t}
\t}
  JOINT Arm
  {
    OFFSET 2 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 4 0 0
    }
  }
}
MOTION
Frames: 3
Frame Time: .5
0 0 0 0 0 0 0 0 0 0 0 0
1 2 3 90 0 0 0 0 0 0 0 0
0 0 0 0 0 0 0 90 0 90 0 90
"""

NAMES = ["Hips", "Knee", "Knee_End", "Arm", "Arm_End"]


def rx(d):
    return euler_to_matrix(np.array([d, 0, 0], float), "xyz")


def rz(d):
    return euler_to_matrix(np.array([0, 0, d], float), "xyz")


def test_structure():
    m = parse_bvh(BVH_TEXT)
    assert m.names == NAMES
    assert m.parents.tolist() == [-1, 0, 1, 0, 3]
    assert m.is_end_site.tolist() == [False, False, True, False, True]
    assert m.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert m.channel_start.tolist() == [0, 6, 9, 9, 12]
    assert m.num_frames == 3 and m.motion.shape == (3, 12)
    assert m.frame_time == pytest.approx(0.5) and m.fps == pytest.approx(2.0)
    np.testing.assert_allclose(m.offsets[2], [0, -5, 0])


def test_rest_and_translation():
    m = parse_bvh(BVH_TEXT)
    pos = m.world_positions()
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [0, -10, 0], [0, -15, 0], [2, 0, 0], [6, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(m.rest_positions(), pos[0], atol=1e-12)
    # Frame 1: root moved to (1, 2, 3) and turned +90 deg about Z: (0, -1, 0) -> (1, 0, 0).
    np.testing.assert_allclose(
        pos[1], [[1, 2, 3], [11, 2, 3], [16, 2, 3], [1, 4, 3], [1, 8, 3]], atol=1e-9
    )


def test_rotation_order_matters():
    m = parse_bvh(BVH_TEXT)
    rot, pos = m.forward_kinematics()
    # Frame 2: Knee has Z=0, X=90, Y=0 (order ZXY): a +90 deg turn about X takes the
    # shin (0, -5, 0) to (0, 0, -5).
    np.testing.assert_allclose(pos[2, 2], [0, -10, -5], atol=1e-9)
    # Arm has X=90, Y=0, Z=90 listed as X Y Z -> R = Rx(90) @ Rz(90):
    # (4,0,0) -Rz-> (0,4,0) -Rx-> (0,0,4). The other order, Rz(90) @ Rx(90), would give
    # (0,4,0), so this pins the composition order.
    np.testing.assert_allclose(pos[2, 4], [2, 0, 4], atol=1e-9)
    np.testing.assert_allclose(rot[2, 3], rx(90) @ rz(90), atol=1e-12)
    # Same angles but in a different order give a different rotation: an explicit check
    # of the intrinsic composition R = R_a(first) @ R_b(second) @ R_c(third).
    a = np.array([30.0, 45.0, 60.0])
    zxy = euler_to_matrix(a, "zxy")
    np.testing.assert_allclose(
        zxy, rz(30) @ rx(45) @ euler_to_matrix(np.array([0, 60, 0.0]), "xyz"), atol=1e-12
    )
    assert not np.allclose(zxy, euler_to_matrix(a, "xyz"))
    np.testing.assert_allclose(rot[2, 1], rx(90), atol=1e-12)


def test_against_scipy_if_available():
    Rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    rng = np.random.default_rng(0)
    ang = rng.uniform(-180, 180, size=(20, 3))
    for order in ("zxy", "zyx", "xyz", "yxz"):
        ours = euler_to_matrix(ang, order)
        ref = Rotation.from_euler(order.upper(), ang, degrees=True).as_matrix()  # upper = intrinsic
        np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_six_channel_joints_replace_offset():
    # Bandai Namco style: every joint has position channels that repeat the offset.
    text = """HIERARCHY
ROOT Root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Hips
  {
    OFFSET 0 90 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    JOINT Spine
    {
      OFFSET 0 10 0
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 5 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 0 0 0 0 0  0 90 0 0 0 0  0 10 0 0 0 0
0 0 0 0 0 0  5 80 0 0 0 90  0 12 0 0 0 0
"""
    m = parse_bvh(text)
    pos = m.world_positions()
    # Offsets are not added on top of the channels (that would double every bone).
    np.testing.assert_allclose(pos[0, :, 1], [0, 90, 100, 105], atol=1e-9)
    # Frame 1: Hips at (5, 80, 0) yawed +90 deg about Y: its +Y child stays on +Y.
    np.testing.assert_allclose(pos[1, 1], [5, 80, 0], atol=1e-9)
    np.testing.assert_allclose(pos[1, 2], [5, 92, 0], atol=1e-9)
    np.testing.assert_allclose(pos[1, 3], [5, 97, 0], atol=1e-9)


def test_crlf_and_gzip(tmp_path: Path):
    crlf = BVH_TEXT.replace("\n", "\r\n")
    plain = tmp_path / "a.bvh"
    plain.write_bytes(crlf.encode())
    gz = tmp_path / "a.bvh.gz"
    gz.write_bytes(gzip.compress(crlf.encode()))
    ref = parse_bvh(BVH_TEXT).world_positions()
    for p in (plain, gz):
        m = read_bvh(p)
        assert m.names == NAMES
        np.testing.assert_allclose(m.world_positions(), ref, atol=1e-12)


def test_frames_subset_and_vectorised_shapes():
    m = parse_bvh(BVH_TEXT)
    rot, pos = m.forward_kinematics(np.array([2, 1]))
    assert rot.shape == (2, 5, 3, 3) and pos.shape == (2, 5, 3)
    np.testing.assert_allclose(pos, m.world_positions()[[2, 1]])


def test_bad_motion_block_raises():
    bad = BVH_TEXT.replace("0 0 0 0 0 0 0 90 0 90 0 90", "0 0 0")
    with pytest.raises(ValueError):
        parse_bvh(bad)


SHARED = Path("/work/shared/data/mocap/cmu/cgspeed_bvh/131_01.bvh.gz")


@pytest.mark.skipif(not SHARED.exists(), reason="shared mocap data not available")
def test_real_cmu_file():
    m = read_bvh(SHARED)
    assert m.num_frames == 994 and m.fps == pytest.approx(120, rel=1e-3)
    pos = m.world_positions(np.arange(0, 10)) * 0.05644  # ASF units -> metres
    head, ankle = m.index("Head"), m.index("LeftAnkle")
    # An upright adult: head 1.1-1.7 m above the ankles.
    assert 1.1 < (pos[:, head, 1] - pos[:, ankle, 1]).mean() < 1.7
