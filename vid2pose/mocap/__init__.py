"""Motion-capture readers (BVH) and forward kinematics."""

from vid2pose.mocap.bvh import BvhMotion, euler_to_matrix, parse_bvh, read_bvh

__all__ = ["BvhMotion", "euler_to_matrix", "parse_bvh", "read_bvh"]
