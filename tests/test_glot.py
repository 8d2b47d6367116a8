"""Tests of the GLoT network and its demo-chain helpers against the golden data.

Golden folder: ``<repo>/../shared/golden`` (override with ``VID2POSE_GOLDEN``);
tests that need it skip with a reason when it is absent.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from vid2pose.mesh import glot_chain
from vid2pose.mesh.glot_chain import (crop_affine, demo_cam, demo_crop, demo_windows,
                                      gather_windows, normalize_crops, warp_affine_opencv4)
from vid2pose.models import glot as glot_mod
from vid2pose.models.glot import (RELEASED_CONFIG, GLoT, glot_state_dict_from_checkpoint,
                                  ktd_ancestors, rot6d_to_rotmat, rotmat_to_axis_angle)

GOLDEN_DIR = Path(os.environ.get("VID2POSE_GOLDEN",
                                 Path(__file__).resolve().parents[2] / "shared" / "golden"))
SMALL = GOLDEN_DIR / "glot_small.pt"
KEYS = GOLDEN_DIR / "glot_keys.json"
TOL = dict(rtol=1e-4, atol=5e-5)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny ops: intra-op threads only add overhead (and stall badly on a shared machine)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def golden():
    if not SMALL.is_file():
        pytest.skip(f"GLoT golden data not found at {SMALL} (set VID2POSE_GOLDEN)")
    return torch.load(SMALL, weights_only=True)


@pytest.fixture(scope="module")
def keys_json():
    if not KEYS.is_file():
        pytest.skip(f"GLoT key list not found at {KEYS} (set VID2POSE_GOLDEN)")
    return json.loads(KEYS.read_text())


@pytest.fixture(scope="module")
def small_model(golden):
    model = GLoT(**golden["config"]).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return model


def _run(model, x):
    with torch.no_grad():
        return model(x, return_intermediates=True)


# --------------------------------------------------------------------------- network


def test_small_state_dict_keys_in_official_order(golden):
    model = GLoT(**golden["config"])
    sd = model.state_dict()
    assert list(sd) == list(golden["state_dict"])
    for k, v in golden["state_dict"].items():
        assert sd[k].shape == v.shape, k


def test_forward_matches_golden(golden, small_model):
    out = _run(small_model, golden["input"])
    for name, ref in golden["intermediates"].items():
        assert_close(out["intermediates"][name], ref, **TOL, msg=f"intermediate {name}")
    assert set(golden["output"]) <= set(out)
    for name, ref in golden["output"].items():
        assert out[name].shape == ref.shape, name
        assert_close(out[name], ref, **TOL, msg=f"output {name}")
    # the README suggests 1e-5 on the pre-axis-angle quantities
    for name in ("rotmat", "pred_pose_6d", "pred_cam", "pred_betas", "global_rotmat"):
        assert_close(out[name], golden["output"][name], rtol=0, atol=1e-5)


def test_quirks_are_needed(golden, small_model, monkeypatch):
    """The golden data rejects the 'natural' variants of the two weight-level quirks."""
    ref = golden["output"]["pred_pose_6d"]

    def ktd_own_block(self, hp, p0):  # joint j reading its own 6D block p0[6j:6j+6]
        blocks = p0.reshape(*p0.shape[:-1], 24, 6)
        deltas = []
        for j, (reg, anc) in enumerate(zip(self.joint_regs, self.ancestors)):
            deltas.append(reg(torch.cat([hp, *(deltas[a] for a in anc), blocks[..., j, :]], -1)))
        return torch.cat(deltas, -1)

    with monkeypatch.context() as m:
        m.setattr(glot_mod._KTD, "forward", ktd_own_block)
        err = (_run(small_model, golden["input"])["pred_pose_6d"] - ref).abs().max()
    assert err > 1e-3

    def ief_with_fc2(self, g):
        lead = g.shape[:-1]
        p, b, c = (t.expand(*lead, -1) for t in (self.init_pose, self.init_shape, self.init_cam))
        for _ in range(3):
            h = self.fc2(self.fc1(torch.cat((g, p, b, c), -1)))
            p, b, c = self.decpose(h) + p, self.decshape(h) + b, self.deccam(h) + c
        return p, b, c

    with monkeypatch.context() as m:
        m.setattr(glot_mod._GlobalRegressor, "forward", ief_with_fc2)
        err = (_run(small_model, golden["input"])["global_pose_6d"]
               - golden["output"]["global_pose_6d"]).abs().max()
    assert err > 1e-3


def test_released_config_keys_and_counts(keys_json):
    assert keys_json["constructor_kwargs"] == {k: v for k, v in RELEASED_CONFIG.items()}
    with torch.device("meta"):  # shapes only, no allocation
        model = GLoT(**keys_json["constructor_kwargs"])
    sd = model.state_dict()
    expected = [e for e in keys_json["keys"] if e["category"] != "smpl_layer"]
    assert len(expected) == keys_json["num_state_dict_entries_excluding_smpl_layer"]
    assert list(sd) == [e["key"] for e in expected]
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    for e in expected:
        assert list(sd[e["key"]].shape) == e["shape"], e["key"]
        assert str(sd[e["key"]].dtype) == "torch." + e["dtype"], e["key"]
        assert e["key"] in (params if e["kind"] == "parameter" else buffers), e["key"]
    n_all = sum(p.numel() for p in params.values())
    n_unused = sum(params[e["key"]].numel() for e in expected
                   if e["category"] == "unused_at_inference")
    assert n_all == keys_json["param_count_network_all"] == 16_743_948
    assert n_unused == keys_json["param_count_network_unused_at_inference"]
    assert n_all - n_unused == keys_json["param_count_network_used_at_inference"] == 15_377_663


def test_released_config_forward_shapes():
    torch.manual_seed(0)
    model = GLoT(**RELEASED_CONFIG).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 16, 2048))
    shapes = dict(theta=(2, 85), pred_cam=(2, 3), pred_pose_aa=(2, 72), pred_betas=(2, 10),
                  rotmat=(2, 24, 3, 3), pred_pose_6d=(2, 144), global_theta=(2, 1, 85),
                  global_rotmat=(2, 1, 24, 3, 3), global_pose_6d=(2, 1, 144),
                  global_betas=(2, 1, 10), global_cam=(2, 1, 3))
    for k, s in shapes.items():
        assert tuple(out[k].shape) == s, k
        assert torch.isfinite(out[k]).all(), k
    r = out["rotmat"]
    assert_close(r @ r.transpose(-1, -2), torch.eye(3).expand_as(r), rtol=0, atol=1e-5)
    with pytest.raises(ValueError):
        model(torch.rand(1, 12, 2048))


def test_constructor_constraints():
    with pytest.raises(ValueError):
        GLoT(short_d_model=128)
    with pytest.raises(ValueError):
        GLoT(seqlen=8, stride_short=4)
    with pytest.raises(ValueError):
        GLoT(d_model=500, num_head=8)


def test_checkpoint_loading(golden, tmp_path):
    sd = dict(golden["state_dict"])
    # released checkpoints embed SMPL arrays under *.smpl.*: these must be skipped
    sd["regressor.smpl.v_template"] = torch.zeros(6890, 3)
    sd["global_modeling.regressor.smpl.betas"] = torch.zeros(64, 10)
    ckpt = {"epoch": 3, "gen_state_dict": sd, "performance": 50.6}
    clean = glot_state_dict_from_checkpoint(ckpt)
    assert list(clean) == list(golden["state_dict"])
    model = GLoT.from_checkpoint(ckpt, **golden["config"])
    assert not model.training
    assert_close(_run(model, golden["input"])["theta"], golden["output"]["theta"], **TOL)
    # path + DataParallel-style prefix
    path = tmp_path / "glot.pth.tar"
    torch.save({"gen_state_dict": {"module." + k: v for k, v in sd.items()}}, path)
    model2 = GLoT(**golden["config"]).load_checkpoint(path)
    for k, v in model2.state_dict().items():
        assert torch.equal(v, golden["state_dict"][k]), k
    # strict: a missing network key is an error
    bad = dict(golden["state_dict"])
    bad.pop("global_modeling.regressor.fc2.weight")
    with pytest.raises(RuntimeError):
        GLoT(**golden["config"]).load_checkpoint({"gen_state_dict": bad})


# --------------------------------------------------------------------------- rotation helpers


def test_ktd_ancestors_table():
    anc = ktd_ancestors()
    assert anc[0] == [] and anc[12] == [0, 3, 6, 9] and anc[23] == [0, 3, 6, 9, 14, 17, 19, 21]
    assert [1024 + 6 * len(a) + 6 for a in anc][:8] == [1030, 1036, 1036, 1036, 1042, 1042, 1042, 1048]


def test_rotation_helpers():
    ident6 = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    assert_close(rot6d_to_rotmat(ident6.repeat(2))[..., :, :], torch.eye(3).expand(2, 3, 3))
    # root of the SPIN mean pose: diag(1,-1,-1), an exact pi rotation about x
    r = rot6d_to_rotmat(torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0]))[0]
    assert_close(r, torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    assert_close(rotmat_to_axis_angle(r), torch.tensor([math.pi, 0.0, 0.0]), rtol=0, atol=1e-5)
    # random rotations: axis-angle round trip via Rodrigues
    torch.manual_seed(0)
    aa = torch.randn(64, 3)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(64, 1) * 3.0
    theta = aa.norm(dim=-1, keepdim=True)[..., None]
    k = aa / aa.norm(dim=-1, keepdim=True)
    kx = torch.zeros(64, 3, 3)
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx = kx - kx.transpose(1, 2)
    rot = torch.eye(3) + torch.sin(theta) * kx + (1 - torch.cos(theta)) * kx @ kx
    assert_close(rotmat_to_axis_angle(rot), aa, rtol=0, atol=1e-4)
    assert_close(rotmat_to_axis_angle(torch.eye(3)), torch.zeros(3))


# --------------------------------------------------------------------------- demo chain


def test_demo_windows_golden(golden):
    w = golden["demo_windows"]
    got = demo_windows(int(w["num_frames"]), int(w["seq_len"]))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, w["windows"].numpy())


def test_demo_windows_general():
    w = demo_windows(30)
    assert w.shape == (30, 16)
    np.testing.assert_array_equal(w[:, 8], np.arange(30))  # middle column = output frame
    assert (w[:8] == np.arange(8)[:, None]).all() and (w[-7:] == np.arange(23, 30)[:, None]).all()
    np.testing.assert_array_equal(w[8], np.arange(16))
    np.testing.assert_array_equal(w[22], np.arange(14, 30))
    # too short for any full window: all static
    assert (demo_windows(10) == np.arange(10)[:, None]).all()
    feats = torch.arange(30.0)[:, None].expand(30, 4)
    x = gather_windows(feats)
    assert x.shape == (30, 16, 4) and x[9, 0, 0] == 1 and x[29, 0, 0] == 29


def test_demo_crop_golden(golden):
    c = golden["demo_crop"]
    aff, crops, norm = demo_crop(c["image_rgb_uint8"].numpy(), c["bboxes_cxcywh"].numpy(),
                                 scale=c["scale"], crop_size=c["crop_size"])
    np.testing.assert_allclose(aff, c["affine_2x3"].numpy(), rtol=0, atol=1e-9)
    ref = c["crops_rgb_uint8"].numpy().astype(np.int16)
    diff = np.abs(crops.astype(np.int16) - ref)
    assert crops.dtype == np.uint8 and crops.shape == ref.shape
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert norm.dtype == torch.float32 and norm.shape == c["crops_normalized"].shape
    same = torch.from_numpy(diff.transpose(0, 3, 1, 2) == 0)
    assert_close(norm[same], c["crops_normalized"][same], rtol=0, atol=1e-6)
    assert (norm - c["crops_normalized"]).abs().max() <= 1 / (255 * 0.224) + 1e-5
    assert_close(normalize_crops(c["crops_rgb_uint8"]), c["crops_normalized"], rtol=0, atol=1e-6)


def test_crop_affine_is_scale_translation():
    box = np.array([[150.3, 130.7, 120.0, 120.0]])
    a = crop_affine(box)[0]
    s = 224 / (1.2 * 120.0)
    np.testing.assert_allclose(a, [[s, 0, 112 - 150.3 * s], [0, s, 112 - 130.7 * s]], atol=1e-4)


def test_warp_emulation_vs_installed_cv2():
    """The fixed-point emulation stays close to any OpenCV bilinear warp; grey + black border."""
    cv2 = glot_chain.cv2
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    m = np.array([[1.3, 0.2, -5.0], [-0.1, 0.9, 7.5]])
    ours = warp_affine_opencv4(img, m, (70, 50)).astype(int)
    ref = cv2.warpAffine(img, m, (70, 50), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(int)
    assert ours.shape == (50, 70, 3)
    assert np.abs(ours - ref).max() <= 8 and np.abs(ours - ref).mean() < 1.0
    assert warp_affine_opencv4(img[..., 0], m, (70, 50)).shape == (50, 70)
    # a box entirely outside the image gives a black crop with either backend
    for backend in ("opencv4", "cv2"):
        _, crops, _ = demo_crop(img, np.array([[500.0, 500.0, 20.0, 20.0]]), backend=backend)
        assert crops.shape == (1, 224, 224, 3) and crops.max() == 0


def test_demo_cam_golden(golden):
    d = golden["demo_cam"]
    got = demo_cam(d["pred_cam"].numpy(), d["tracker_bboxes_cxcywh"].numpy(),
                   d["img_width"], d["img_height"])
    np.testing.assert_allclose(got, d["orig_cam_sx_sy_tx_ty"].numpy(), rtol=1e-12, atol=1e-12)


def test_demo_cam_pixel_equivalence():
    """orig_cam projects like u = cx + (h/2) s (X + tx) with h = 1.2 * box side."""
    cam = np.array([[0.9, 0.05, 0.2]])
    box = np.array([[100.0, 300.0, 150.0, 150.0]])
    W, H = 640, 480
    sx, sy, tx, ty = demo_cam(cam, box, W, H)[0]
    X, Y = 0.3, -0.4
    u = (sx * (X + tx) + 1) * W / 2
    v = (sy * (Y + ty) + 1) * H / 2
    h = 1.2 * 150.0
    assert math.isclose(u, 100.0 + h / 2 * 0.9 * (X + 0.05), rel_tol=1e-12)
    assert math.isclose(v, 300.0 + h / 2 * 0.9 * (Y + 0.2), rel_tol=1e-12)
