"""The SMPL body model from the user's files, without chumpy.

What the GLoT chain needs (spec glot.md 1.8 and 4), all in one folder (``--smpl-dir`` or
``weights/smpl/`` in any weights folder):

* ``SMPL_NEUTRAL.pkl`` (or ``SMPL_MALE.pkl`` / ``SMPL_FEMALE.pkl``): the SMPL model as MPI ships
  it, a Python-2 pickle whose arrays are partly ``chumpy.ch.Ch`` objects and whose
  ``J_regressor`` is a ``scipy.sparse`` matrix. chumpy cannot be imported on Python 3.11 /
  numpy 2, so :func:`read_smpl_file` uses an unpickler that only admits numpy arrays, sparse
  matrices and chumpy objects, maps each chumpy object to the array it holds (``Ch.x``) and
  refuses anything else (a pickle naming other callables could run code).
* ``J_regressor_extra.npy`` (9 x 6890) and ``J_regressor_h36m.npy`` (17 x 6890) from SPIN's data.

:class:`SMPLBody` builds an ``smplx.SMPL`` from those arrays and adds the Human3.6M-17 joints
and GLoT's 49-joint set. Output coordinates are SMPL's (metres); with GLoT's rotations they are
camera-aligned (x right, y down, z forward) and untranslated.
"""
from __future__ import annotations

import contextlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vid2pose.errors import MissingDependencyError, MissingWeightsError, WeightsError

__all__ = [
    "SMPL_KEYS",
    "SPIN49_FROM_54",
    "H36M17_NAMES",
    "SmplFiles",
    "SMPLBody",
    "SmplOutput",
    "read_smpl_file",
    "find_smpl_files",
    "load_smpl_body",
    "smpl_body_from_files",
    "random_smpl_arrays",
    "smpl_missing_message",
]

# The arrays smplx.SMPL reads (deps.md section 4: all seven are required).
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
NUM_VERTS = 6890
NUM_JOINTS = 24

# GLoT's 49 joints as rows of [24 SMPL joints, 21 smplx vertex joints, 9 J_regressor_extra joints]
# (spec glot.md 1.8 table: OpenPose-25 then the 24 "SPIN" joints).
SPIN49_FROM_54 = (24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
                  8, 5, 45, 46, 4, 7, 21, 19, 17, 16, 18, 20, 47, 48, 49, 50, 51, 52, 53, 24, 26, 25, 28, 27)
# Rows of J_regressor_h36m.npy (spec 1.8); this is also vid2pose's H36M-17 order.
H36M17_NAMES = ("hip", "lhip", "lknee", "lankle", "rhip", "rknee", "rankle", "spine", "thorax", "head",
                "headtop", "lshoulder", "lelbow", "lwrist", "rshoulder", "relbow", "rwrist")

# Registry entries (vid2pose.weights) of the files; gendered models are optional and only
# described here.
_REGISTRY = {"model": "smpl-neutral", "extra": "smpl-j-regressor-extra", "h36m": "smpl-j-regressor-h36m"}
_GENDER_FILE = {"neutral": "SMPL_NEUTRAL.pkl", "male": "SMPL_MALE.pkl", "female": "SMPL_FEMALE.pkl"}
_GENDERED_SOURCE = ("https://smpl.is.tue.mpg.de (SMPL for Python v1.1.0, basicmodel_{g}_lbs_10_207_0_v1.1.0.pkl; "
                    "free registration, rename to {f})")
_SMPL_LICENCE = "SMPL model licence: non-commercial research only, registration required, no redistribution"


# --------------------------------------------------------------------------- reading the pickle


class _ChumpyObject:
    """Stands in for any chumpy class: keeps the pickled state; ``Ch`` keeps its array in ``x``."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state if isinstance(state, dict) else {"state": state}


class _SparseMatrix:
    """Stands in for scipy.sparse matrices: old pickles name modules newer scipy has moved."""

    fmt = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state


# one stand-in class per format, so NEWOBJ / _reconstructor can instantiate them without arguments
_SPARSE_STUBS = {name: type(f"_{fmt.capitalize()}Stub", (_SparseMatrix,), {"fmt": fmt})
                 for name, fmt in (("csc_matrix", "csc"), ("csr_matrix", "csr"), ("coo_matrix", "coo"))}


def _reconstructor(cls, base, state):
    # copyreg._reconstructor (Python 2 protocol 0/1 pickles), restricted to our stand-ins
    if isinstance(cls, type) and issubclass(cls, (_ChumpyObject, _SparseMatrix)) and base is object:
        return object.__new__(cls)
    raise WeightsError("the SMPL file holds an object that an SMPL model never holds; refusing it")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise WeightsError(f"the SMPL file uses an unexpected text encoding {encoding!r}; refusing it")
    return text.encode("latin1")


class _SmplUnpickler(pickle.Unpickler):
    """Admits numpy arrays/dtypes/scalars, sparse matrices and chumpy objects; nothing else."""

    def find_class(self, module: str, name: str):
        top = module.split(".")[0]
        if top == "chumpy":
            return _ChumpyObject
        if top == "scipy" and name in _SPARSE_STUBS:
            return _SPARSE_STUBS[name]
        module = {"copy_reg": "copyreg", "__builtin__": "builtins"}.get(module, module)
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode  # how Python 3 writes bytes (array data) at protocol < 3
        if module == "builtins" and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]  # chumpy state holds sets
        if top == "numpy":
            # version-proof: numpy 1 pickles say numpy.core.multiarray, numpy 2 numpy._core.multiarray
            known = {"ndarray": np.ndarray, "dtype": np.dtype,
                     "_reconstruct": np.zeros(1).__reduce__()[0],
                     "scalar": np.float64(0).__reduce__()[0]}
            if name in known:
                return known[name]
        raise WeightsError(f"the SMPL file refers to {module}.{name}, which an SMPL model never holds; "
                           "refusing to unpickle it (it could run code)")


def _sparse_to_dense(obj: _SparseMatrix) -> np.ndarray:
    st = obj.state if isinstance(obj.state, dict) else {}
    shape = st.get("_shape", st.get("shape"))
    if shape is None:
        raise WeightsError("the SMPL file's sparse J_regressor has no shape")
    out = np.zeros(tuple(int(s) for s in shape), dtype=np.float64)
    data = np.asarray(st["data"], dtype=np.float64)
    if obj.fmt == "coo":
        np.add.at(out, (np.asarray(st["row"]), np.asarray(st["col"])), data)
        return out
    indices, indptr = np.asarray(st["indices"]), np.asarray(st["indptr"])
    for i in range(len(indptr) - 1):  # one column (csc) or row (csr) at a time
        sl = slice(indptr[i], indptr[i + 1])
        if obj.fmt == "csc":
            out[indices[sl], i] += data[sl]
        else:
            out[i, indices[sl]] += data[sl]
    return out


def _to_array(val: Any) -> Any:
    """Chumpy -> ndarray, sparse -> dense ndarray, other values as they are; None if unusable."""
    if isinstance(val, _ChumpyObject):
        x = val.state.get("x")
        return None if x is None else np.asarray(x)
    if isinstance(val, _SparseMatrix):
        return _sparse_to_dense(val)
    if hasattr(val, "toarray"):  # a real scipy matrix (e.g. from an .npz conversion)
        return np.asarray(val.toarray())
    return val


def read_smpl_file(path: Path | str) -> dict[str, np.ndarray]:
    """Arrays of an SMPL model file (.pkl as MPI ships it, or an .npz with the same keys).

    Every chumpy object becomes the array it holds; chumpy expressions that hold no array are
    dropped unless they are one of :data:`SMPL_KEYS` (then the file is refused). The seven
    keys are checked for consistent shapes.
    """
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            raw: dict[str, Any] = {k: z[k] for k in z.files}
    else:
        try:
            with open(path, "rb") as f:
                raw = _SmplUnpickler(f, encoding="latin1").load()
        except WeightsError:
            raise
        except Exception as e:  # truncated file, not a pickle, ...
            raise WeightsError(f"{path.name} is not a readable SMPL model file ({type(e).__name__}: {e})") from e
    if not isinstance(raw, dict):
        raise WeightsError(f"{path.name} is not an SMPL model file (expected a dict of arrays)")
    out: dict[str, np.ndarray] = {}
    for key, val in raw.items():
        arr = _to_array(val)
        if arr is None:
            if key in SMPL_KEYS:
                raise WeightsError(f"{path.name}: '{key}' is a chumpy expression without stored values")
            continue
        out[key] = arr
    _check_arrays(out, path.name)
    return out


def _check_arrays(d: dict[str, Any], name: str) -> None:
    missing = [k for k in SMPL_KEYS if k not in d]
    if missing:
        raise WeightsError(f"{name} is not an SMPL model file: missing {', '.join(missing)}")
    v = np.asarray(d["v_template"]).shape
    want = {"v_template": (None, 3), "shapedirs": (v[0], 3, None), "posedirs": (v[0], 3, (NUM_JOINTS - 1) * 9),
            "J_regressor": (NUM_JOINTS, v[0]), "weights": (v[0], NUM_JOINTS), "kintree_table": (2, NUM_JOINTS),
            "f": (None, 3)}
    for key, shape in want.items():
        got = np.asarray(d[key]).shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            raise WeightsError(f"{name}: '{key}' has shape {got}, expected {shape} (None = any)")


# --------------------------------------------------------------------------- finding the files


@dataclass(frozen=True)
class SmplFiles:
    model: Path
    extra: Path | None
    h36m: Path | None


def _smpl_dirs(smpl_dir: Path | str | None) -> list[Path]:
    from vid2pose.weights import weights_dirs

    dirs = []
    if smpl_dir is not None:
        d = Path(smpl_dir).expanduser()
        dirs += [d, d / "smpl"]  # also accept the parent folder (smplx.create's layout)
    dirs += [d / "smpl" for d in weights_dirs()]
    return dirs


def _describe(key: str, gender: str) -> tuple[str, str, str]:
    """(file name, source, licence) of one needed file."""
    from vid2pose.weights import WEIGHTS

    if key == "model" and gender != "neutral":
        fname = _GENDER_FILE[gender]
        return fname, _GENDERED_SOURCE.format(g=gender[0], f=fname), _SMPL_LICENCE
    spec = WEIGHTS[_REGISTRY[key]]
    return Path(spec.filename).name, spec.source, spec.licence


def find_smpl_files(smpl_dir: Path | str | None = None, gender: str = "neutral",
                    need: tuple[str, ...] = ("model", "extra", "h36m")) -> SmplFiles:
    """Locate the SMPL files; raise one :class:`MissingWeightsError` listing every missing one.

    Looked up in ``smpl_dir`` (and ``smpl_dir/smpl``), then ``smpl/`` in each weights folder.
    ``need`` names the files that are required: ``model``, ``extra``, ``h36m``.
    """
    if gender not in _GENDER_FILE:
        raise ValueError(f"gender must be one of {sorted(_GENDER_FILE)}")
    dirs = _smpl_dirs(smpl_dir)
    found: dict[str, Path | None] = {}
    for key in ("model", "extra", "h36m"):
        fname = _describe(key, gender)[0]
        found[key] = next((d / fname for d in dirs if (d / fname).is_file()), None)
    missing = [k for k in need if found[k] is None]
    if missing:
        raise MissingWeightsError(smpl_missing_message(missing, gender, smpl_dir))
    return SmplFiles(model=found["model"], extra=found["extra"], h36m=found["h36m"])


def smpl_missing_message(missing: list[str], gender: str = "neutral",
                         smpl_dir: Path | str | None = None) -> str:
    """One line naming each missing SMPL file with where to get it and its licence."""
    parts = []
    for key in missing:
        fname, source, licence = _describe(key, gender)
        parts.append(f"{fname} (get it from {source}; licence: {licence})")
    where = "put them in weights/smpl/ (or smpl/ in $VID2POSE_WEIGHTS or ~/.cache/vid2pose/weights)"
    where += f" or in {smpl_dir}" if smpl_dir is not None else " or pass --smpl-dir DIR"
    return f"missing SMPL files: {'; '.join(parts)}; {where}"


# --------------------------------------------------------------------------- the body model


@dataclass
class SmplOutput:
    vertices: "torch.Tensor"  # (B, V, 3) metres
    joints: "torch.Tensor"  # (B, 24, 3) SMPL joints
    h36m: "torch.Tensor | None"  # (B, 17, 3) from J_regressor_h36m, rows as H36M17_NAMES
    spin49: "torch.Tensor | None"  # (B, 49, 3) GLoT's joint set (needs J_regressor_extra)


def _import_smplx():
    try:
        import smplx
    except ImportError as e:
        raise MissingDependencyError("the SMPL body model needs smplx: pip install -e '.[mesh]'") from e
    return smplx


class SMPLBody:
    """``smplx.SMPL`` built from arrays, plus the H36M-17 and 49-joint regressors.

    Call with rotation matrices (what GLoT predicts): ``body(rotmat (B,24,3,3), betas (B,10))``.
    """

    def __init__(self, arrays: dict[str, np.ndarray], j_regressor_extra: np.ndarray | None = None,
                 j_regressor_h36m: np.ndarray | None = None, num_betas: int = 10, gender: str = "neutral"):
        import torch

        smplx = _import_smplx()
        struct = smplx.utils.Struct(**{k: np.asarray(arrays[k]) for k in SMPL_KEYS})
        struct.J_regressor = np.asarray(arrays["J_regressor"], dtype=np.float64)  # dense (sparse handled)
        nv = struct.v_template.shape[0]
        kwargs: dict[str, Any] = {}
        if nv != NUM_VERTS:
            # small test models: smplx's extra vertex joints index the 6890-vertex mesh
            from smplx.vertex_ids import vertex_ids

            kwargs["vertex_ids"] = {k: 0 for k in vertex_ids["smplh"]}
        # smplx prints a warning about 10 shape components to stdout: keep stdout clean (--json)
        with contextlib.redirect_stdout(io.StringIO()):
            self.model = smplx.SMPL(
                model_path="", data_struct=struct, num_betas=num_betas, gender=gender,
                create_betas=False, create_global_orient=False, create_body_pose=False,
                create_transl=False, batch_size=1, **kwargs).eval()
        self.faces = np.asarray(arrays["f"], dtype=np.int64)
        self.num_vertices = nv
        self.num_betas = self.model.num_betas
        self.j_extra = self._regressor(j_regressor_extra, nv, "J_regressor_extra")
        self.j_h36m = self._regressor(j_regressor_h36m, nv, "J_regressor_h36m")
        self.device = torch.device("cpu")

    @staticmethod
    def _regressor(r: np.ndarray | None, nv: int, name: str):
        import torch

        if r is None:
            return None
        r = np.asarray(r.toarray() if hasattr(r, "toarray") else r, dtype=np.float32)
        if r.ndim != 2 or r.shape[1] != nv:
            raise WeightsError(f"{name} has shape {r.shape}, expected (joints, {nv})")
        return torch.from_numpy(r)

    def to(self, device) -> "SMPLBody":
        import torch

        self.device = torch.device(device)
        self.model = self.model.to(self.device)
        if self.j_extra is not None:
            self.j_extra = self.j_extra.to(self.device)
        if self.j_h36m is not None:
            self.j_h36m = self.j_h36m.to(self.device)
        return self

    def __call__(self, rotmat, betas) -> SmplOutput:
        """rotmat (B, 24, 3, 3) (root first), betas (B, num_betas) -> :class:`SmplOutput`."""
        import torch

        rotmat = torch.as_tensor(rotmat, dtype=torch.float32, device=self.device)
        betas = torch.as_tensor(betas, dtype=torch.float32, device=self.device)[:, :self.num_betas]
        with torch.no_grad():
            out = self.model(betas=betas, global_orient=rotmat[:, :1], body_pose=rotmat[:, 1:],
                             pose2rot=False)
            verts = out.vertices
            h36m = None if self.j_h36m is None else torch.einsum("jv,bvc->bjc", self.j_h36m, verts)
            spin49 = None
            if self.j_extra is not None:
                extra = torch.einsum("jv,bvc->bjc", self.j_extra, verts)
                all54 = torch.cat([out.joints, extra], 1)
                spin49 = all54[:, list(SPIN49_FROM_54)]
        return SmplOutput(vertices=verts, joints=out.joints[:, :NUM_JOINTS], h36m=h36m, spin49=spin49)


def random_smpl_arrays(num_verts: int = NUM_VERTS, num_faces: int = 13776, num_betas: int = 10,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """A made-up model with SMPL's array layout (for tests and benchmarks; it is not a body).

    Row-stochastic ``J_regressor`` and skinning ``weights`` and a real kinematic tree (root
    parent stored as 2**32 - 1, as in MPI's files), so LBS behaves like it does with SMPL.
    """
    from vid2pose.models.glot import SMPL_PARENTS

    rng = np.random.default_rng(seed)
    v = rng.uniform([-0.3, -1.0, -0.15], [0.3, 0.7, 0.15], (num_verts, 3))
    jr = rng.random((NUM_JOINTS, num_verts)) ** 8  # a few vertices dominate each joint
    w = rng.random((num_verts, NUM_JOINTS)) ** 8
    parents = np.array(SMPL_PARENTS, dtype=np.int64)
    parents[0] = 2 ** 32 - 1
    return {
        "v_template": v,
        "shapedirs": rng.normal(0, 0.01, (num_verts, 3, num_betas)),
        "posedirs": rng.normal(0, 0.001, (num_verts, 3, (NUM_JOINTS - 1) * 9)),
        "J_regressor": jr / jr.sum(1, keepdims=True),
        "weights": w / w.sum(1, keepdims=True),
        "kintree_table": np.stack([parents, np.arange(NUM_JOINTS)]),
        "f": rng.integers(0, num_verts, (num_faces, 3)).astype(np.uint32),
    }


def load_smpl_body(smpl_dir: Path | str | None = None, gender: str = "neutral",
                   need: tuple[str, ...] = ("model", "extra", "h36m")) -> SMPLBody:
    """Find the files (one message if any is missing), read them and build :class:`SMPLBody`."""
    return smpl_body_from_files(find_smpl_files(smpl_dir, gender, need), gender)


def smpl_body_from_files(files: SmplFiles, gender: str = "neutral") -> SMPLBody:
    """Read located files (:func:`find_smpl_files`) and build :class:`SMPLBody`."""

    def npy(p: Path | None):
        if p is None:
            return None
        try:
            return np.load(p, allow_pickle=False)
        except Exception as e:
            raise WeightsError(f"{p.name} is not a readable .npy regressor ({type(e).__name__})") from e

    return SMPLBody(read_smpl_file(files.model), npy(files.extra), npy(files.h36m), gender=gender)
