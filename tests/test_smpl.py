"""SMPL files without chumpy: the restricted unpickler, file lookup, the missing-files message,
and an smplx forward pass on a made-up model the test writes in MPI's pickle layout."""
from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from vid2pose import weights as wreg
from vid2pose.errors import MissingWeightsError, WeightsError
from vid2pose.mesh import smpl as smpl_mod
from vid2pose.mesh.smpl import (SMPL_KEYS, SMPLBody, find_smpl_files, load_smpl_body, random_smpl_arrays,
                                read_smpl_file)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def no_weights_dirs(tmp_path, monkeypatch):
    """Point every standard weights folder at empty places."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty / "cache"))
    monkeypatch.setattr(wreg, "REPO_WEIGHTS", empty / "repo")
    monkeypatch.chdir(empty)
    return empty


def _fake_chumpy(monkeypatch):
    """Classes that pickle as chumpy.ch.Ch / chumpy.ch_ops.add, as in MPI's SMPL files."""
    ch_mod, ops_mod = types.ModuleType("chumpy.ch"), types.ModuleType("chumpy.ch_ops")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)

        def __getstate__(self):  # what chumpy pickles: __dict__ minus weak refs, with a set inside
            return {"x": self.x, "_dirty_vars": {"x"}, "_itr": None, "_make_dense": False}

    class add:  # an expression node: children, no stored array
        def __init__(self, a, b):
            self.a, self.b = a, b

    for cls, mod in ((Ch, ch_mod), (add, ops_mod)):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch_mod)
    monkeypatch.setitem(sys.modules, "chumpy.ch_ops", ops_mod)
    return Ch, add


def write_smpl_pkl(path, arrays, protocol=2):
    """Write ``arrays`` like an MPI SMPL .pkl: chumpy arrays, sparse J_regressor, extra keys."""
    with pytest.MonkeyPatch.context() as mp:
        Ch, add = _fake_chumpy(mp)
        d = {k: Ch(arrays[k]) for k in ("v_template", "shapedirs", "posedirs", "weights")}
        d["J_regressor"] = sp.csc_matrix(arrays["J_regressor"])
        d["kintree_table"] = np.asarray(arrays["kintree_table"])
        d["f"] = np.asarray(arrays["f"])
        d["J"] = Ch(np.asarray(arrays["J_regressor"]) @ np.asarray(arrays["v_template"]))
        d["weights_prior"] = add(d["weights"], d["weights"])  # no values: must be dropped
        d["bs_style"], d["bs_type"] = "lbs", "lrotmin"
        with open(path, "wb") as f:
            pickle.dump(d, f, protocol=protocol)
    assert "chumpy" not in sys.modules or not hasattr(sys.modules["chumpy"], "ch")


def write_smpl_dir(folder, arrays, extra=True, h36m=True, seed=1):
    folder.mkdir(parents=True, exist_ok=True)
    write_smpl_pkl(folder / "SMPL_NEUTRAL.pkl", arrays)
    nv = arrays["v_template"].shape[0]
    rng = np.random.default_rng(seed)
    if extra:
        np.save(folder / "J_regressor_extra.npy", rng.random((9, nv)) / nv)
    if h36m:
        np.save(folder / "J_regressor_h36m.npy", rng.random((17, nv)) / nv)
    return folder


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_pickle_reads_as_arrays(tmp_path, protocol):
    a = random_smpl_arrays(num_verts=300, num_faces=200, seed=3)
    write_smpl_pkl(tmp_path / "m.pkl", a, protocol=protocol)
    d = read_smpl_file(tmp_path / "m.pkl")
    for k in SMPL_KEYS:
        assert isinstance(d[k], np.ndarray), k
        np.testing.assert_array_equal(d[k], a[k], err_msg=k)
    assert "weights_prior" not in d  # the value-less chumpy expression was dropped
    assert d["J"].shape == (24, 3) and d["bs_style"] == "lbs"


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_with_other_callables_is_refused(tmp_path):
    p = tmp_path / "evil.pkl"
    with open(p, "wb") as f:
        pickle.dump({"v_template": np.zeros((3, 3)), "x": _Evil()}, f, protocol=2)
    with pytest.raises(WeightsError, match="refusing"):
        read_smpl_file(p)


def test_bad_shapes_and_missing_keys(tmp_path):
    a = random_smpl_arrays(num_verts=50, num_faces=10)
    bad = dict(a, weights=a["weights"][:, :10])
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(WeightsError, match="weights"):
        read_smpl_file(tmp_path / "bad.npz")
    np.savez(tmp_path / "few.npz", **{k: a[k] for k in SMPL_KEYS if k != "posedirs"})
    with pytest.raises(WeightsError, match="posedirs"):
        read_smpl_file(tmp_path / "few.npz")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(WeightsError):
        read_smpl_file(tmp_path / "junk.pkl")


def test_npz_model_loads(tmp_path):
    a = random_smpl_arrays(num_verts=40, num_faces=10)
    np.savez(tmp_path / "m.npz", **a)
    np.testing.assert_array_equal(read_smpl_file(tmp_path / "m.npz")["posedirs"], a["posedirs"])


def test_load_and_forward_real_size(tmp_path, no_weights_dirs):
    a = random_smpl_arrays(seed=5)  # 6890 vertices, 13776 faces: what smplx expects
    folder = write_smpl_dir(tmp_path / "smpl", a)
    body = load_smpl_body(folder)
    assert body.num_vertices == 6890 and body.faces.shape == (13776, 3)

    # rest pose, mean shape: LBS gives the template back, joints from J_regressor
    out = body(torch.eye(3).repeat(2, 24, 1, 1), torch.zeros(2, 10))
    np.testing.assert_allclose(out.vertices[0].numpy(), a["v_template"], atol=1e-5)
    np.testing.assert_allclose(out.joints[1].numpy(), a["J_regressor"] @ a["v_template"], atol=1e-5)

    # a random pose and shape: finite, regressors applied to the posed vertices
    rot = torch.linalg.matrix_exp(torch.randn(3, 24, 3, 3) * 0.3 * (lambda m: m - m.transpose(-1, -2))(
        torch.ones(3, 24, 3, 3).tril()))
    out = body(rot, torch.randn(3, 10))
    assert out.vertices.shape == (3, 6890, 3) and torch.isfinite(out.vertices).all()
    h36m = np.einsum("jv,bvc->bjc", np.load(folder / "J_regressor_h36m.npy"), out.vertices.numpy())
    np.testing.assert_allclose(out.h36m.numpy(), h36m, rtol=1e-4, atol=1e-5)
    assert out.spin49.shape == (3, 49, 3)
    # row 8 of the 49 is OP MidHip = SMPL joint 0 (spec 1.8 table)
    torch.testing.assert_close(out.spin49[:, 8], out.joints[:, 0])


def test_small_model_builds_with_smplx(tmp_path):
    a = random_smpl_arrays(num_verts=120, num_faces=60)
    body = SMPLBody(a)  # vertex joints re-pointed: smplx's default ids need 6890 vertices
    out = body(torch.eye(3).repeat(1, 24, 1, 1), torch.zeros(1, 10))
    assert out.vertices.shape == (1, 120, 3) and out.h36m is None and out.spin49 is None


def test_missing_files_one_message(tmp_path, no_weights_dirs):
    with pytest.raises(MissingWeightsError) as ei:
        find_smpl_files(tmp_path / "nowhere")
    msg = str(ei.value)
    assert "\n" not in msg
    for name in ("SMPL_NEUTRAL.pkl", "J_regressor_extra.npy", "J_regressor_h36m.npy"):
        assert name in msg, name
    assert "non-commercial" in msg and "registration" in msg and "is.tue.mpg.de" in msg
    assert "visiondata.cis.upenn.edu/spin" in msg

    # only what is missing is listed
    write_smpl_dir(tmp_path / "part", random_smpl_arrays(num_verts=30, num_faces=5), extra=False, h36m=False)
    with pytest.raises(MissingWeightsError) as ei:
        find_smpl_files(tmp_path / "part")
    assert "SMPL_NEUTRAL.pkl" not in str(ei.value) and "J_regressor_extra.npy" in str(ei.value)
    assert find_smpl_files(tmp_path / "part", need=("model",)).extra is None

    # male model: its own source
    with pytest.raises(MissingWeightsError, match="SMPL_MALE.pkl.*smpl.is.tue.mpg.de"):
        find_smpl_files(tmp_path / "part", gender="male", need=("model",))


def test_found_in_weights_smpl_folder(tmp_path, no_weights_dirs):
    write_smpl_dir(no_weights_dirs / "smpl", random_smpl_arrays(num_verts=30, num_faces=5))
    files = find_smpl_files()
    assert files.model == no_weights_dirs / "smpl" / "SMPL_NEUTRAL.pkl"
    assert wreg.find("smpl-neutral") == files.model  # the registry entry points at the same file


def test_stdout_stays_clean(tmp_path, capsys):
    SMPLBody(random_smpl_arrays(num_verts=30, num_faces=5))
    assert capsys.readouterr().out == ""  # smplx prints a warning; --json output must stay parseable


def test_registry_entries():
    for name in ("smpl-neutral", "smpl-j-regressor-extra", "smpl-j-regressor-h36m"):
        spec = wreg.WEIGHTS[name]
        assert spec.filename.startswith("smpl/")
        assert "non-commercial" in spec.licence
    assert smpl_mod._REGISTRY["model"] == "smpl-neutral"
