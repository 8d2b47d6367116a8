"""Mesh sequence export: OBJ / PLY / GLB per frame per person and the streamed .npz."""
from __future__ import annotations

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")

from vid2pose.export.meshes import COORDINATES, MeshSequenceWriter, camera_to_world  # noqa: E402

# A made-up "person" in camera space (x right, y DOWN, z forward), 3 m in front of the camera and
# 0.5 m to its right: vertex 0 is the head (top), 1 and 2 the feet, 3 the chest (towards the
# camera), 4 an unreferenced vertex that must survive (vertex order is part of the format).
BODY = np.array([[0.0, -0.8, 0.0], [-0.15, 0.9, 0.0], [0.15, 0.9, 0.0], [0.0, 0.0, -0.2],
                 [0.3, 0.3, 0.3]], dtype=np.float32)
FACES = np.array([[0, 1, 3], [0, 3, 2], [1, 2, 3], [0, 2, 1]])
SHIFT = np.array([0.5, 0.1, 3.0], dtype=np.float32)


def frame_vertices(i: int) -> np.ndarray:
    return BODY + SHIFT + np.float32(0.01 * i)


def load(path):
    return trimesh.load(path, process=False, maintain_order=True, force="mesh")


def test_camera_to_world_is_a_rotation():
    r = np.diag(camera_to_world(np.eye(3)))
    np.testing.assert_array_equal(r, [1, -1, -1])  # diag(1, -1, -1): det +1, pi about x
    assert np.linalg.det(np.diag(r)) == 1


def test_obj_sequence_reloads_upright_with_translation(tmp_path):
    with MeshSequenceWriter(tmp_path, FACES, fmt="obj") as w:
        for i in (0, 1, 5):  # a gap: frames are named by their own index
            w.add(1, i, frame_vertices(i))
    files = sorted((tmp_path / "person_1").iterdir())
    assert [f.name for f in files] == ["frame_000000.obj", "frame_000001.obj", "frame_000005.obj"]
    m = load(files[2])
    assert len(m.vertices) == len(BODY) and len(m.faces) == len(FACES)
    np.testing.assert_array_equal(m.faces, FACES)
    v = np.asarray(m.vertices)
    np.testing.assert_allclose(v, camera_to_world(frame_vertices(5)), atol=1e-5)
    # right side up: the head is above both feet along +Y, and 1.7 m tall as made
    assert v[0, 1] > v[1, 1] + 1.6 and v[0, 1] > v[2, 1] + 1.6
    # in front of the camera (which looks down -Z), translation kept, chest nearer the camera
    assert v[:4, 2].max() < -2.5 and v[3, 2] > v[0, 2]
    np.testing.assert_allclose(v[0, 0], 0.5 + 0.05, atol=1e-5)
    # a proper rotation keeps the winding: normals turn with the mesh
    n_cam = trimesh.Trimesh(frame_vertices(5), FACES, process=False).face_normals
    np.testing.assert_allclose(m.face_normals, n_cam * [1, -1, -1], atol=1e-4)
    assert "Y up" in files[0].read_text().splitlines()[0]


@pytest.mark.parametrize("fmt", ["ply", "glb"])
def test_other_formats_reload(tmp_path, fmt):
    with MeshSequenceWriter(tmp_path, FACES, fmt=fmt, npz=False) as w:
        w.add(2, 7, frame_vertices(7))
    path = tmp_path / "person_2" / f"frame_000007.{fmt}"
    m = load(path)
    assert len(m.vertices) == len(BODY) and len(m.faces) == len(FACES)  # unused vertex 4 kept
    np.testing.assert_array_equal(m.faces, FACES)
    np.testing.assert_allclose(m.vertices, camera_to_world(frame_vertices(7)), atol=1e-6)
    assert not (tmp_path / "person_2.npz").exists()


def test_npz_holds_every_frame_of_every_person(tmp_path):
    frames = {1: [3, 4, 5, 9], 2: [4, 5]}
    with MeshSequenceWriter(tmp_path, FACES) as w:
        for i in range(10):  # interleaved, as a video is read
            for pid, fr in frames.items():
                if i in fr:
                    w.add(pid, i, frame_vertices(i) + pid)
    for pid, fr in frames.items():
        with np.load(tmp_path / f"person_{pid}.npz", allow_pickle=False) as z:
            assert z["vertices"].dtype == np.float32 and z["vertices"].shape == (len(fr), len(BODY), 3)
            np.testing.assert_array_equal(z["frames"], fr)
            np.testing.assert_array_equal(z["faces"], FACES)
            assert str(z["coordinates"]) == COORDINATES
            for k, i in enumerate(fr):
                np.testing.assert_array_equal(z["vertices"][k], camera_to_world(frame_vertices(i) + pid))
                obj = np.asarray(load(tmp_path / f"person_{pid}" / f"frame_{i:06d}.obj").vertices)
                np.testing.assert_allclose(obj, z["vertices"][k], atol=1e-5)
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_interrupted_run_leaves_no_npz(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with MeshSequenceWriter(tmp_path, FACES) as w:
            w.add(1, 0, frame_vertices(0))
            raise KeyboardInterrupt
    assert not (tmp_path / "person_1.npz").exists()
    assert not list(tmp_path.glob(".*")) and not list((tmp_path / "person_1").glob(".*"))
    assert (tmp_path / "person_1" / "frame_000000.obj").is_file()  # finished frames are complete files


def test_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="format"):
        MeshSequenceWriter(tmp_path, FACES, fmt="fbx")
    w = MeshSequenceWriter(tmp_path, FACES)
    w.add(1, 0, frame_vertices(0))
    with pytest.raises(ValueError, match="vertices"):
        w.add(1, 1, frame_vertices(1)[:3])
    w.close()
    with pytest.raises(RuntimeError):
        w.add(1, 2, frame_vertices(2))


def test_real_size_obj_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.normal(0, 0.5, (6890, 3)).astype(np.float32) + [0, 0, 4]
    f = rng.integers(0, 6890, (13776, 3))
    with MeshSequenceWriter(tmp_path, f) as w:
        w.add(1, 0, v)
    m = load(tmp_path / "person_1" / "frame_000000.obj")
    assert m.vertices.shape == (6890, 3) and m.faces.shape == (13776, 3)
    np.testing.assert_allclose(m.vertices, camera_to_world(v), atol=6e-6)


_BLENDER_IMPORT = """
import bpy, json, sys
path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
if hasattr(bpy.ops.wm, "obj_import"):  # Blender >= 3.2
    bpy.ops.wm.obj_import(filepath=path, forward_axis="NEGATIVE_Z", up_axis="Y")
else:
    bpy.ops.import_scene.obj(filepath=path, axis_forward="-Z", axis_up="Y", split_mode="OFF")
ob = [o for o in bpy.data.objects if o.type == "MESH"][0]
print("RESULT " + json.dumps({"faces": len(ob.data.polygons),
                              "v": [list(ob.matrix_world @ v.co) for v in ob.data.vertices]}))
"""


def test_blender_imports_obj_headless(tmp_path):
    """Blender (Z up) reads the Y-up OBJ right side up; skipped where Blender is not installed."""
    import json
    import shutil
    import subprocess

    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("blender is not installed")
    with MeshSequenceWriter(tmp_path, FACES, npz=False) as w:
        path = w.add(1, 0, frame_vertices(0)[:4])  # Blender drops unreferenced vertices
    res = subprocess.run([blender, "-b", "--factory-startup", "--python-expr", _BLENDER_IMPORT, "--", str(path)],
                         capture_output=True, text=True, timeout=300)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, res.stdout[-2000:] + res.stderr[-2000:]
    got = json.loads(line[len("RESULT "):])
    v = np.array(got["v"])
    assert got["faces"] == len(FACES) and v.shape == (4, 3)
    world = camera_to_world(frame_vertices(0)[:4])
    np.testing.assert_allclose(v, world[:, [0, 2, 1]] * [1, -1, 1], atol=1e-5)  # Blender: (x, -z, y)
    assert v[0, 2] > v[1, 2] + 1.6  # head above the feet along Blender's up axis
