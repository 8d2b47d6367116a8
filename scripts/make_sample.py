#!/usr/bin/env python
"""Make the synthetic sample clip and its exact 3D ground truth.

The anny body (``pip install anny``; MakeHuman-derived assets CC0, code Apache-2.0) is
posed with a CMU motion-capture BVH, placed on a floor in front of a wall and rendered
by the OpenCV painter's rasteriser in ``vid2pose.render``. Writes

* ``<out>/<name>.mp4``: the clip (mp4v);
* ``<out>/<name>_truth.npz``: per frame the Human3.6M-17 joints in camera space (metres,
  x right, y down, z forward), read off the posed body (see
  ``vid2pose.render.body.anny_h36m_joints``), plus the camera.

Example (the committed sample)::

    ANNY_CACHE_DIR=/work/anny-cache python scripts/make_sample.py \
        --mocap /work/shared/data/mocap/cmu/acrnn_daz/indian/06.bvh.gz --out samples/ --name dance --start 1.0 --azimuth 155

Everything is deterministic: the only randomness (background grain) comes from ``--seed``, and with
``--look N`` the outfit, skin, floor and wall colours and the light come from seed N (the accuracy
benchmark varies them; the sample keeps the fixed default look). ``--gender/--age/--body-height/
--weight/--muscle`` set anny's body shape, ``--hfov`` the lens, ``--distance-factor`` how far the
camera stands beyond the nearest distance that keeps the body in frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vid2pose.mocap import read_bvh  # noqa: E402
from vid2pose.render.body import (  # noqa: E402
    H36M_JOINT_NAMES,
    anny_h36m_joints,
    anny_region_colors,
    head_landmark_vertices,
    retarget_bvh,
    run_anny,
)
from vid2pose.render.raster import (  # noqa: E402
    Camera,
    draw_ground_shadow,
    floor_wall_background,
    render_mesh,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mocap", required=True, help="BVH (.bvh or .bvh.gz), Y-up")
    p.add_argument("--out", default="samples", help="output folder")
    p.add_argument("--name", default="walk", help="output base name")
    p.add_argument("--seed", type=int, default=0, help="seed for the background grain")
    p.add_argument("--start", type=float, default=0.0, help="start time in the BVH (s)")
    p.add_argument("--duration", type=float, default=4.5, help="clip length (s)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--height", type=int, default=540)
    p.add_argument("--hfov", type=float, default=62.0, help="horizontal field of view (deg)")
    p.add_argument("--azimuth", type=float, default=25.0,
                   help="camera turn from the side view towards the walker's front (deg)")
    p.add_argument("--cam-height", type=float, default=1.35, help="camera height (m)")
    p.add_argument("--margin", type=float, default=0.04, help="free border, fraction of the height")
    p.add_argument("--supersample", type=int, default=2)
    p.add_argument("--gender", type=float, default=0.1, help="anny phenotype (0 male .. 1 female)")
    p.add_argument("--age", type=float, default=0.5)
    p.add_argument("--body-height", type=float, default=0.55, help="anny 'height' phenotype")
    p.add_argument("--weight", type=float, default=0.5)
    p.add_argument("--muscle", type=float, default=0.55)
    p.add_argument("--look", type=int, default=None,
                   help="seed for a varied look (outfit and skin colours, floor and wall colours, light "
                        "direction); default: the sample's fixed look")
    p.add_argument("--distance-factor", type=float, default=1.0,
                   help="camera distance as a multiple of the nearest one that keeps the body in frame")
    p.add_argument("--calibration-frame", type=int, default=0,
                   help="clip frame whose pose ties anny's bones to the mocap joints")
    return p.parse_args(argv)


def rot_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# Clothing-like colours (BGR) for --look: plain garments of everyday colours, skin tones from light to dark.
SHIRTS = [(50, 70, 190), (200, 200, 205), (40, 40, 45), (60, 140, 60), (150, 90, 40), (40, 170, 220),
          (130, 60, 120), (90, 90, 95)]
TROUSERS = [(110, 70, 40), (40, 40, 45), (80, 110, 130), (150, 150, 150), (60, 80, 60), (70, 55, 120)]
SHOES = [(40, 40, 45), (220, 220, 225), (60, 80, 110), (30, 30, 90)]
SKINS = [(120, 160, 215), (150, 185, 230), (90, 125, 180), (60, 85, 130), (45, 60, 95)]
HAIRS = [(35, 45, 60), (20, 20, 25), (60, 110, 160), (150, 160, 170)]


def random_look(seed: int) -> dict:
    """Outfit palette, floor and wall colours and light direction drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    pick = lambda options: tuple(int(c) for c in options[rng.integers(len(options))])  # noqa: E731
    wall = rng.uniform(120, 225, 3)
    floor = rng.uniform(70, 170, 3)
    az, el = rng.uniform(-np.pi, np.pi), rng.uniform(np.deg2rad(25), np.deg2rad(70))
    return {
        "palette": {"shirt": pick(SHIRTS), "trousers": pick(TROUSERS), "shoes": pick(SHOES),
                    "skin": pick(SKINS), "hair": pick(HAIRS)},
        "wall_color": tuple(wall), "floor_color": tuple(floor), "floor_color2": tuple(floor * 0.87),
        # from the light towards the scene: downwards, from a random side
        "light": np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), -np.sin(el)]),
        "ambient": float(rng.uniform(0.35, 0.55)),
    }


def fit_camera(points_world: np.ndarray, center: np.ndarray, args) -> tuple[Camera, float]:
    """Nearest camera on the chosen azimuth ray that keeps every point inside the frame
    (with a margin). The walk runs along +x; at azimuth 0 the camera looks along +y."""
    a = np.deg2rad(args.azimuth)
    horiz = np.array([np.sin(a), -np.cos(a), 0.0])  # from the path centre to the camera
    target = np.array([center[0], center[1], 0.85])
    m = args.margin * args.height

    def make(dist):
        eye = np.array([center[0], center[1], 0.0]) + dist * horiz
        eye[2] = args.cam_height
        return Camera.look_at(eye, target, np.array([0.0, 0.0, 1.0]), args.width, args.height, args.hfov)

    def fits(dist):
        cam = make(dist)
        pc = cam.to_camera(points_world)
        if (pc[:, 2] < 0.3).any():
            return False
        uv = cam.project_camera(pc)
        return bool(
            (uv[:, 0] >= m).all() and (uv[:, 0] <= args.width - 1 - m).all()
            and (uv[:, 1] >= m).all() and (uv[:, 1] <= args.height - 1 - m).all()
        )

    lo, hi = 1.0, 30.0
    if not fits(hi):
        raise RuntimeError("cannot fit the motion in the frame; use a wider --hfov")
    for _ in range(40):  # bisection on the distance
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    dist = hi * args.distance_factor
    return make(dist), dist


def main(argv=None) -> int:
    args = parse_args(argv)
    t_all = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    import anny  # imported late: the first construction builds a large cache
    import anny.paths

    from vid2pose.mesh.anny_body import anny_cache_dir

    anny.paths.set_anny_cache_path(anny_cache_dir())  # the cache vid2pose mesh uses too

    motion = read_bvh(args.mocap)
    n = int(round(args.duration * args.fps))
    times = args.start + np.arange(n) / args.fps
    frames = np.round(times / motion.frame_time).astype(int)
    if frames[-1] >= motion.num_frames:
        raise SystemExit(
            f"{args.mocap} has {motion.num_frames * motion.frame_time:.2f} s; "
            f"asked for {args.start + args.duration:.2f} s"
        )

    t0 = time.perf_counter()
    model = anny.Anny(skinning_method="lbs")
    phenotype = dict(gender=args.gender, age=args.age, height=args.body_height,
                     weight=args.weight, muscle=args.muscle)
    rest = model(pose_parameters=None, phenotype_kwargs=phenotype)
    rest_poses = rest["rest_bone_poses"][0].double().numpy()
    rest_vertices = rest["rest_vertices"][0].double().numpy()
    rest_heads = rest["rest_bone_heads"][0].double().numpy()
    labels = list(model.bone_labels)

    rt = retarget_bvh(motion, labels, model.bone_parents, rest_poses, frames=frames,
                      calibration_frame=args.calibration_frame)
    verts, bone_poses = run_anny(model, rt.pose_parameters(), phenotype)
    faces = model.get_triangular_faces().numpy().astype(np.int64)
    t_pose = time.perf_counter() - t0

    # Dominant bone per vertex, for the outfit colours and the head landmarks.
    w = model.vertex_bone_weights.numpy()
    vb = model.vertex_bone_indices.numpy()[np.arange(len(w)), w.argmax(1)]
    head_top_v, nose_v = head_landmark_vertices(rest_vertices, vb, labels.index("head"))
    look = random_look(args.look) if args.look is not None else None
    vcol, _ = anny_region_colors(rest_vertices, vb, labels, rest_heads, palette=look and look["palette"])
    face_col = vcol[faces].mean(axis=1)

    # Scene placement: walk along +x, path centred on the origin, feet on z = 0.
    hips = 0.5 * (bone_poses[:, labels.index("upperleg01.L"), :3, 3]
                  + bone_poses[:, labels.index("upperleg01.R"), :3, 3])
    d = hips[-1, :2] - hips[0, :2]
    R = rot_z(-np.arctan2(d[1], d[0])) if np.linalg.norm(d) > 0.2 else np.eye(3)
    verts = verts @ R.T
    heads = bone_poses[..., :3, 3] @ R.T
    bone_poses = bone_poses.copy()
    bone_poses[..., :3, 3] = heads
    bone_poses[..., :3, :3] = R @ bone_poses[..., :3, :3]
    # Per frame the lowest vertex is the supporting foot; the median over frames puts
    # that contact on the floor (a constant shift, so the motion is untouched).
    floor = np.median(verts[..., 2].min(axis=1))
    lo, hi = verts[..., :2].reshape(-1, 2).min(0), verts[..., :2].reshape(-1, 2).max(0)
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -floor])
    verts = verts + shift
    bone_poses[..., :3, 3] += shift

    joints_world = anny_h36m_joints(bone_poses, verts, labels, nose_v, head_top_v)

    cam, dist = fit_camera(verts[:, ::7].reshape(-1, 3), np.zeros(3), args)
    light_world = np.array([0.35, 0.55, -0.75]) if look is None else look["light"]  # from light to scene
    light_cam = cam.R @ light_world
    wall_y = float(verts[..., 1].max()) + 1.5  # wall 1.5 m behind the furthest point
    background = floor_wall_background(
        cam, wall_point=np.array([0.0, wall_y, 0.0]), wall_normal=np.array([0.0, -1.0, 0.0]),
        seed=args.seed, **({k: look[k] for k in ("wall_color", "floor_color", "floor_color2")} if look else {}),
    )

    video_path = out_dir / f"{args.name}.mp4"
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), args.fps,
                             (args.width, args.height))
    if not writer.isOpened():
        raise SystemExit(f"cannot open a video writer for {video_path}")
    render_times = []
    for k in range(n):
        t1 = time.perf_counter()
        img = draw_ground_shadow(background, cam, verts[k], faces, light_world)
        img = render_mesh(img, cam.to_camera(verts[k]), faces, face_col, cam.K, light_dir_cam=light_cam,
                          ambient=0.45 if look is None else look["ambient"], diffuse=0.6,
                          supersample=args.supersample)
        render_times.append(time.perf_counter() - t1)
        writer.write(img)
    writer.release()

    joints_cam = cam.to_camera(joints_world)
    truth_path = out_dir / f"{args.name}_truth.npz"
    np.savez_compressed(
        truth_path,
        joints_cam=joints_cam.astype(np.float32),
        joints_2d=cam.project_camera(joints_cam).astype(np.float32),
        joints_world=joints_world.astype(np.float32),
        joint_names=np.array(H36M_JOINT_NAMES),
        K=cam.K,
        cam_R=cam.R,
        cam_t=cam.t,
        image_size=np.array([args.width, args.height]),
        fps=np.float64(args.fps),
        mocap_file=np.array(Path(args.mocap).name),
        mocap_frames=frames,
        seed=np.int64(args.seed),
        look=np.int64(-1 if args.look is None else args.look),
        phenotype=np.array([phenotype[k] for k in ("gender", "age", "height", "weight", "muscle")]),
        camera_distance=np.float64(dist),
    )
    rt_ms = 1000 * np.asarray(render_times)
    print(f"frames: {n} at {args.fps:g} fps, {args.width}x{args.height}; camera {dist:.2f} m "
          f"from the path centre, azimuth {args.azimuth:g} deg, height {args.cam_height:g} m")
    print(f"mocap scale {rt.scale:.5f} m/unit; posing {t_pose:.1f} s; render "
          f"{rt_ms.mean():.0f} ms/frame (median {np.median(rt_ms):.0f}, max {rt_ms.max():.0f})")
    print(f"wrote {video_path} ({video_path.stat().st_size / 1e6:.2f} MB) and {truth_path}; "
          f"total {time.perf_counter() - t_all:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
