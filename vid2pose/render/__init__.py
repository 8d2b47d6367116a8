"""Synthetic rendering: pose the anny body from mocap and rasterise it with OpenCV."""

from vid2pose.render.raster import Camera, draw_ground_shadow, floor_wall_background, render_mesh

__all__ = ["Camera", "draw_ground_shadow", "floor_wall_background", "render_mesh"]
