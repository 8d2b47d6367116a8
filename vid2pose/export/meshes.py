"""Body-mesh sequences on disk, streamed: one file per frame per person plus one ``.npz`` each.

Layout under the output folder::

    person_1/frame_000000.obj   one mesh per frame the person was seen (or .ply / .glb)
    person_1/frame_000001.obj
    person_1.npz                 every frame of person 1 in one array file (see below)

The number in a file name is the frame index as given by the caller (vid2pose uses the source
video's frame index, the ``frame`` of the JSON output).

Coordinates. The models work in camera space: x right, y down, z forward (away from the camera),
metres. Files are written in a Y-up world: ``world = (x, -y, -z)``, a 180 degree rotation about
the x axis (a proper rotation, so triangle winding and handedness are kept). A person standing
upright in the video stands upright along +Y, faces the camera along +Z (glTF's "front"), keeps
the root translation (the camera sits at the origin, looking down -Z), and stays in metres.
Vertex order is never changed, so vertex ``i`` is the same body point in every file.

The ``.npz`` (``numpy.load``) holds ``vertices`` (F, V, 3) float32 in the same Y-up world,
``faces`` (T, 3) int32 (0-based), ``frames`` (F,) int64 frame indices and ``coordinates`` (a
string describing the axes). It is built without holding the frames in memory: vertices are
appended to a hidden raw file as they arrive and copied into the archive at the end.

Every file is written under a temporary name and renamed when complete (``vid2pose.atomic``); an
interrupted run leaves no ``.npz`` and no half-written mesh file.
"""
from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vid2pose.atomic import atomic_path, temp_path_for

__all__ = ["FORMATS", "COORDINATES", "camera_to_world", "MeshSequenceWriter", "mesh_file_name"]

FORMATS = ("obj", "ply", "glb")
COORDINATES = ("metres; Y up; world = (x, -y, -z) of the camera frame (x right, y down, z forward); "
               "camera at the origin looking down -Z")
# diag(1, -1, -1): rotation by pi about x
_FLIP = np.array([1.0, -1.0, -1.0], dtype=np.float32)


def camera_to_world(vertices_cam: np.ndarray) -> np.ndarray:
    """(..., 3) camera-space points (x right, y down, z forward) -> Y-up world (x, -y, -z), float32."""
    return np.asarray(vertices_cam, dtype=np.float32) * _FLIP


def mesh_file_name(frame_index: int, fmt: str) -> str:
    return f"frame_{int(frame_index):06d}.{fmt}"


# --------------------------------------------------------------------------- per-format encoders


def _obj_faces(faces: np.ndarray) -> str:
    return ("f %d %d %d\n" * len(faces)) % tuple((faces + 1).ravel().tolist())  # OBJ is 1-based


def _obj_bytes(v: np.ndarray, faces_text: str, comment: str, digits: int) -> bytes:
    vfmt = f"v %.{digits}f %.{digits}f %.{digits}f\n"
    # one %-format over the whole array is several times faster than np.savetxt or trimesh
    return (f"# {comment}\n" + (vfmt * len(v)) % tuple(v.ravel().tolist()) + faces_text).encode("ascii")


def _ply_faces(faces: np.ndarray) -> bytes:
    rec = np.empty(len(faces), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    rec["n"], rec["i"] = 3, faces
    return rec.tobytes()


def _ply_bytes(v: np.ndarray, faces_blob: bytes, n_faces: int, comment: str) -> bytes:
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"comment {comment}\n"
              f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
              f"element face {n_faces}\nproperty list uchar int vertex_indices\nend_header\n")
    return header.encode("ascii") + np.ascontiguousarray(v, dtype="<f4").tobytes() + faces_blob


def _glb_bytes(v: np.ndarray, faces: np.ndarray) -> bytes:
    import trimesh

    # process=False: trimesh must not merge or reorder vertices
    return trimesh.exchange.gltf.export_glb(trimesh.Trimesh(v, faces, process=False))


# --------------------------------------------------------------------------- the writer


@dataclass
class _Person:
    folder: Path
    raw_path: Path  # hidden, grows by one frame of float32 vertices per add()
    raw: object  # its open file
    frames: list[int] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


class MeshSequenceWriter:
    """Writes body meshes frame by frame; memory use does not grow with the video length.

    ``faces`` (T, 3) are shared by every mesh (one body model). Use as a context manager: on
    success :meth:`close` writes the ``.npz`` files; on an exception :meth:`abort` removes the
    temporary data (finished per-frame files stay: each one is complete).
    """

    def __init__(self, out_dir: Path | str, faces: np.ndarray, fmt: str = "obj", npz: bool = True,
                 digits: int = 5):
        if fmt not in FORMATS:
            raise ValueError(f"unknown mesh format {fmt!r} (use one of {', '.join(FORMATS)})")
        self.out_dir = Path(out_dir)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64).reshape(-1, 3)
        self.fmt, self.npz, self.digits = fmt, npz, digits
        self.num_vertices: int | None = None
        self._people: dict[int, _Person] = {}
        self._closed = False
        # encoded faces are the same for every frame: build them once
        self._faces_obj = _obj_faces(self.faces) if fmt == "obj" else ""
        self._faces_ply = _ply_faces(self.faces) if fmt == "ply" else b""

    # -- writing --------------------------------------------------------------

    def _person(self, person_id: int) -> _Person:
        p = self._people.get(person_id)
        if p is None:
            folder = self.out_dir / f"person_{person_id}"
            folder.mkdir(parents=True, exist_ok=True)
            raw_path = temp_path_for(self.out_dir / f"person_{person_id}.vertices.f32")
            p = _Person(folder, raw_path, open(raw_path, "wb") if self.npz else None)
            self._people[person_id] = p
        return p

    def add(self, person_id: int, frame_index: int, vertices_cam: np.ndarray) -> Path:
        """Write one mesh. ``vertices_cam`` (V, 3): camera space, metres, translation included."""
        if self._closed:
            raise RuntimeError("MeshSequenceWriter is closed")
        v = camera_to_world(vertices_cam)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"expected (V, 3) vertices, got {v.shape}")
        if self.num_vertices is None:
            self.num_vertices = len(v)
        elif len(v) != self.num_vertices:
            raise ValueError(f"every mesh must have {self.num_vertices} vertices, got {len(v)}")
        p = self._person(person_id)
        comment = f"vid2pose body mesh, person {person_id}, frame {int(frame_index)}; {COORDINATES}"
        if self.fmt == "obj":
            data = _obj_bytes(v, self._faces_obj, comment, self.digits)
        elif self.fmt == "ply":
            data = _ply_bytes(v, self._faces_ply, len(self.faces), comment)
        else:
            data = _glb_bytes(v, self.faces)
        target = p.folder / mesh_file_name(frame_index, self.fmt)
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        if p.raw is not None:
            p.raw.write(np.ascontiguousarray(v, dtype="<f4").tobytes())
        p.frames.append(int(frame_index))
        p.files.append(target)
        return target

    # -- finishing --------------------------------------------------------------

    def close(self) -> dict[int, dict]:
        """Write the ``.npz`` files; returns per person ``{'frames': n, 'folder': Path, 'npz': Path|None}``."""
        if self._closed:
            return {}
        summary: dict[int, dict] = {}
        try:
            for pid, p in self._people.items():
                npz_path = None
                if p.raw is not None:
                    p.raw.close()
                    npz_path = self.out_dir / f"person_{pid}.npz"
                    self._write_npz(npz_path, p)
                summary[pid] = {"frames": len(p.frames), "folder": p.folder, "npz": npz_path}
        finally:
            self._cleanup()
        return summary

    def abort(self) -> None:
        """Drop the temporary vertex data; no ``.npz`` is written."""
        self._cleanup()

    def _cleanup(self) -> None:
        self._closed = True
        for p in self._people.values():
            if p.raw is not None and not p.raw.closed:
                p.raw.close()
            if p.raw_path.exists():
                p.raw_path.unlink()

    def _write_npz(self, path: Path, p: _Person) -> None:
        shape = (len(p.frames), self.num_vertices or 0, 3)
        header = {"descr": "<f4", "fortran_order": False, "shape": shape}
        with atomic_path(path) as tmp:
            # np.savez's layout (one .npy per array in a stored zip), with the big array streamed
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                with zf.open("vertices.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array_header_2_0(f, header)
                    with open(p.raw_path, "rb") as src:
                        shutil.copyfileobj(src, f, 1 << 20)
                for name, arr in (("faces", self.faces.astype(np.int32)),
                                  ("frames", np.asarray(p.frames, dtype=np.int64)),
                                  ("coordinates", np.array(COORDINATES))):
                    with zf.open(f"{name}.npy", "w") as f:
                        np.lib.format.write_array(f, arr, allow_pickle=False)

    def __enter__(self) -> "MeshSequenceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
