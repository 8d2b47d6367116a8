"""A small painter's-algorithm triangle rasteriser (numpy + OpenCV).

Enough to render a skinned body mesh for synthetic test clips: pinhole projection,
back-face culling, Lambert shading with an ambient term, far-to-near triangle sorting
with ``cv2.fillConvexPoly``, optional supersampling for anti-aliased edges, a ground
shadow and an analytic floor/wall background.

Camera convention (the project's): camera space has x right, y down, z forward (away
from the camera), in metres; ``x_cam = R @ x_world + t`` and pixels are
``K @ x_cam / z``. Pixel centres are at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Camera",
    "render_mesh",
    "floor_wall_background",
    "draw_ground_shadow",
    "face_normals",
]

# Sub-pixel precision for cv2.fillConvexPoly (coordinates are scaled by 2**_SHIFT).
_SHIFT = 4


@dataclass
class Camera:
    """Pinhole camera: intrinsics ``K`` (3x3), world-to-camera ``R`` (3x3), ``t`` (3,)."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @staticmethod
    def look_at(
        eye: np.ndarray,
        target: np.ndarray,
        up: np.ndarray,
        width: int,
        height: int,
        hfov_deg: float,
    ) -> "Camera":
        """Camera at ``eye`` looking at ``target``; ``up`` is the world up direction."""
        eye = np.asarray(eye, dtype=np.float64)
        fwd = np.asarray(target, dtype=np.float64) - eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, np.asarray(up, dtype=np.float64))
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)  # z x x = y: completes a right-handed frame
        R = np.stack([right, down, fwd])  # rows: camera axes in world coordinates
        f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2)
        K = np.array(
            [[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]],
            dtype=np.float64,
        )
        return Camera(K=K, R=R, t=-R @ eye, width=width, height=height)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        return np.asarray(points_world) @ self.R.T + self.t

    def project_camera(self, points_cam: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of camera-space points (..., 3)."""
        p = np.asarray(points_cam)
        z = p[..., 2:3]
        return (p[..., :2] / z) * np.diag(self.K)[:2] + self.K[:2, 2]

    def project(self, points_world: np.ndarray) -> np.ndarray:
        return self.project_camera(self.to_camera(points_world))


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised face normals (T, 3), ``(v1 - v0) x (v2 - v0)``."""
    v0, v1, v2 = (vertices[faces[:, k]] for k in range(3))
    return np.cross(v1 - v0, v2 - v0)


def render_mesh(
    image: np.ndarray,
    vertices_cam: np.ndarray,
    faces: np.ndarray,
    face_colors: np.ndarray,
    K: np.ndarray,
    light_dir_cam: np.ndarray = (-0.4, -0.6, 0.7),
    ambient: float = 0.35,
    diffuse: float = 0.75,
    cull_backfaces: bool = True,
    near: float = 0.05,
    supersample: int = 1,
) -> np.ndarray:
    """Draw a triangle mesh over ``image`` (H, W, 3 uint8, BGR) and return the result.

    Args:
        vertices_cam: (V, 3) vertex positions in camera space (metres, z forward).
        faces: (T, 3) vertex indices, counter-clockwise seen from outside (outward normals).
        face_colors: (T, 3) base colour per face, BGR in [0, 255].
        K: 3x3 intrinsics for ``image``'s resolution.
        light_dir_cam: direction the light travels, in camera space (need not be unit).
        ambient, diffuse: Lambert terms; intensity = ambient + diffuse * max(0, n . -l).
        cull_backfaces: skip triangles facing away from the camera.
        near: triangles with a vertex closer than this are skipped (no clipping).
        supersample: draw at this integer multiple of the resolution, then downsample
            with area averaging, which anti-aliases the silhouette.
    """
    faces = np.asarray(faces)
    v = np.asarray(vertices_cam, dtype=np.float64)
    h, w = image.shape[:2]
    s = int(supersample)
    canvas = image if s == 1 else cv2.resize(image, (w * s, h * s), interpolation=cv2.INTER_NEAREST)
    canvas = np.ascontiguousarray(canvas).copy()

    tri = v[faces]  # (T, 3, 3)
    keep = (tri[..., 2] > near).all(axis=1)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if cull_backfaces:
        # The camera is at the origin: a face is visible when its normal points back
        # towards the camera, i.e. n . (v0 - 0) < 0.
        keep &= np.einsum("ij,ij->i", n, tri[:, 0]) < 0
    idx = np.nonzero(keep)[0]
    if idx.size == 0:
        return canvas if s == 1 else cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)

    nn = n[idx] / np.maximum(np.linalg.norm(n[idx], axis=1, keepdims=True), 1e-12)
    light = np.asarray(light_dir_cam, dtype=np.float64)
    light = light / np.linalg.norm(light)
    cos = nn @ -light
    # Two-sided lighting when back faces are drawn (their normals point away).
    lambert = np.clip(cos, 0.0, None) if cull_backfaces else np.abs(cos)
    shade = ambient + diffuse * lambert
    cols = np.clip(np.asarray(face_colors, dtype=np.float64)[idx] * shade[:, None], 0, 255)

    # Painter's algorithm: far triangles first so nearer ones overwrite them. The mean
    # depth is a good enough key for a closed, finely tessellated body.
    order = np.argsort(-tri[idx, :, 2].mean(axis=1), kind="stable")
    Ks = np.array(K, dtype=np.float64).copy()
    Ks[:2] *= s
    # With supersampling, pixel centres of the big canvas sit at s*x + (s-1)/2.
    Ks[:2, 2] += (s - 1) / 2
    t = tri[idx][order]
    uv = t[..., :2] / t[..., 2:3] * np.diag(Ks)[:2] + Ks[:2, 2]
    pts = np.round(uv * (1 << _SHIFT)).astype(np.int32)
    cols = cols[order]
    fill = cv2.fillConvexPoly
    for k in range(pts.shape[0]):
        c = cols[k]
        fill(canvas, pts[k], (float(c[0]), float(c[1]), float(c[2])), cv2.LINE_8, _SHIFT)
    if s == 1:
        return canvas
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)


def draw_ground_shadow(
    image: np.ndarray,
    camera: Camera,
    vertices_world: np.ndarray,
    faces: np.ndarray,
    light_dir_world: np.ndarray,
    up_axis: int = 2,
    floor_height: float = 0.0,
    strength: float = 0.45,
    blur_px: float = 6.0,
) -> np.ndarray:
    """Darken the floor under the body: project the mesh onto the floor plane along the
    light direction and fill the flattened triangles as one soft mask."""
    L = np.asarray(light_dir_world, dtype=np.float64)
    L = L / np.linalg.norm(L)
    if L[up_axis] >= -1e-6:
        return image  # light not coming from above: no floor shadow
    v = np.asarray(vertices_world, dtype=np.float64)
    k = (v[:, up_axis] - floor_height) / -L[up_axis]
    flat = v + k[:, None] * L
    flat[:, up_axis] = floor_height
    cam = camera.to_camera(flat)
    if (cam[:, 2] <= 0.05).any():
        return image
    uv = camera.project_camera(cam)
    tris = np.round(uv[np.asarray(faces)] * (1 << _SHIFT)).astype(np.int32)
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    # One call for all triangles: a single colour, so order does not matter.
    cv2.fillPoly(mask, list(tris), 255, cv2.LINE_8, _SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), blur_px).astype(np.float32) / 255.0
    out = image.astype(np.float32) * (1.0 - strength * mask[..., None])
    return np.clip(out, 0, 255).astype(np.uint8)


def floor_wall_background(
    camera: Camera,
    up_axis: int = 2,
    floor_height: float = 0.0,
    wall_point: np.ndarray | None = None,
    wall_normal: np.ndarray | None = None,
    floor_color: tuple[float, float, float] = (120, 135, 150),
    floor_color2: tuple[float, float, float] = (105, 118, 132),
    wall_color: tuple[float, float, float] = (200, 210, 215),
    tile: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Background image (H, W, 3 uint8 BGR) for a static camera: a tiled floor plane and
    an optional wall plane, found per pixel by ray casting. Colours fade slightly with
    distance and get a little fixed noise so the scene is not perfectly flat."""
    h, w = camera.height, camera.width
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    Kinv = np.linalg.inv(camera.K)
    rays_cam = np.stack([xs, ys, np.ones_like(xs)], -1) @ Kinv.T
    rays = rays_cam @ camera.R  # camera -> world directions (R is orthonormal)
    origin = camera.center
    img = np.empty((h, w, 3), dtype=np.float64)
    img[:] = np.asarray(wall_color, dtype=np.float64) * 0.6  # "sky": only if nothing is hit
    best = np.full((h, w), np.inf)

    # Floor.
    dz = rays[..., up_axis]
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = (floor_height - origin[up_axis]) / dz
    hit = (tf > 0) & np.isfinite(tf)
    p = origin + tf[..., None] * rays
    axes = [a for a in range(3) if a != up_axis]
    checker = (np.floor(p[..., axes[0]] / tile) + np.floor(p[..., axes[1]] / tile)) % 2
    fc = np.where(checker[..., None] > 0, np.asarray(floor_color2), np.asarray(floor_color))
    fade = np.clip(1.05 - 0.025 * tf, 0.75, 1.05)[..., None]
    img = np.where(hit[..., None], fc * fade, img)
    best = np.where(hit, tf, best)

    # Wall.
    if wall_point is not None and wall_normal is not None:
        nrm = np.asarray(wall_normal, dtype=np.float64)
        denom = rays @ nrm
        with np.errstate(divide="ignore", invalid="ignore"):
            tw = ((np.asarray(wall_point) - origin) @ nrm) / denom
        hitw = (tw > 0) & np.isfinite(tw) & (tw < best)
        pw = origin + tw[..., None] * rays
        # Slightly darker towards the floor, like ambient occlusion near the corner.
        ht = pw[..., up_axis] - floor_height
        shade = np.clip(0.85 + 0.08 * ht, 0.85, 1.0)[..., None]
        img = np.where(hitw[..., None], np.asarray(wall_color) * shade, img)
        # Skirting board: a darker strip along the bottom of the wall.
        skirt = hitw & (ht < 0.1)
        img = np.where(skirt[..., None], np.asarray(wall_color) * 0.55, img)

    rng = np.random.default_rng(seed)
    img += rng.normal(0.0, 2.0, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
