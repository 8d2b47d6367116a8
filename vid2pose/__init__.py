"""vid2pose: ordinary videos to 3D human motion (joints, BVH, meshes)."""

__version__ = "0.1.0"
