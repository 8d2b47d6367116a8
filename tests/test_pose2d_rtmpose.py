"""rtmpose backend: detector letterbox/box decoding, top-down crops, SimCC decoding.

The tests build tiny ONNX models with the real models' input/output names, shapes and dtypes,
so the backend's own pre/post-processing runs for real:
* a detector whose boxes are fixed (in letterboxed-input pixels) and whose scores follow the
  brightest input value (a black frame gives no person);
* a SimCC model whose peaks are constants (checks decoding, keypoint order, confidences);
* a SimCC model whose peaks follow the brightest pixel of the red input channel, so a red dot
  drawn in the frame must come back at its frame position (checks crop, colour order,
  normalisation and the mapping back).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is needed to build the test models (pip install 'onnx<1.18')")
pytest.importorskip("onnxruntime", reason="the rtmpose backend needs onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from vid2pose import weights as wreg  # noqa: E402
from vid2pose.errors import MissingWeightsError, WeightsError  # noqa: E402
from vid2pose.pose2d import rtmpose_backend as rb  # noqa: E402

OPSET = [helper.make_opsetid("", 17)]
PH, PW = 256, 192  # pose input
DH, DW = 640, 640  # detector input
IMAGE_ROWS = 360  # a 1280x720 frame letterboxed into 640x640 fills the top 360 rows


def _const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8  # readable by any onnxruntime >= 1.10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_detector(path: Path, boxes, factors, labels, batch="batch") -> Path:
    """dets[b, i] = (boxes[i], factors[i] * max(image part of input[b]) / 255); labels[b, i] = labels[i].

    Only the top IMAGE_ROWS rows are looked at: below them is the letterbox padding (114).
    """
    n = len(boxes)
    nodes = [
        helper.make_node("Slice", ["input", "row0", "row1", "axis2"], ["image"]),
        helper.make_node("ReduceMax", ["image"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Reshape", ["m", "shape_b11"], ["m3"]),
        helper.make_node("Mul", ["m3", "factors"], ["score"]),  # (B, N, 1)
        helper.make_node("Mul", ["m3", "zero"], ["z3"]),
        helper.make_node("Add", ["z3", "boxes"], ["bx"]),  # (B, N, 4)
        helper.make_node("Concat", ["bx", "score"], ["dets"], axis=2),
        helper.make_node("Reshape", ["z3", "shape_b1"], ["z2"]),
        helper.make_node("Add", ["z2", "labels_f"], ["lab_f"]),
        helper.make_node("Cast", ["lab_f"], ["labels"], to=TensorProto.INT64),
    ]
    inits = [
        _const("row0", np.array([0], np.int64)),
        _const("row1", np.array([IMAGE_ROWS], np.int64)),
        _const("axis2", np.array([2], np.int64)),
        _const("shape_b11", np.array([-1, 1, 1], np.int64)),
        _const("shape_b1", np.array([-1, 1], np.int64)),
        _const("zero", np.zeros((1, 1, 1), np.float32)),
        _const("factors", (np.asarray(factors, np.float32) / 255).reshape(1, n, 1)),
        _const("boxes", np.asarray(boxes, np.float32).reshape(1, n, 4)),
        _const("labels_f", np.asarray(labels, np.float32).reshape(1, n)),
    ]
    graph = helper.make_graph(
        nodes, "det",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, DH, DW])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [batch, "num_dets", 5]),
         helper.make_tensor_value_info("labels", TensorProto.INT64, [batch, "num_dets"])],
        inits)
    return _save(graph, path)


def make_pose_const(path: Path, px, py, vx, vy) -> Path:
    """simcc peaks at bins px[k] (x) and py[k] (y) with maxima vx[k], vy[k] for every crop."""
    sx = np.zeros((1, 17, PW * 2), np.float32)
    sy = np.zeros((1, 17, PH * 2), np.float32)
    for k in range(17):
        sx[0, k, px[k]], sy[0, k, py[k]] = vx[k], vy[k]
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["m"], axes=[1, 2, 3], keepdims=1),  # (B,1,1,1)
        helper.make_node("Reshape", ["m", "shape_b11"], ["m3"]),
        helper.make_node("Mul", ["m3", "zero"], ["z3"]),
        helper.make_node("Add", ["z3", "cx"], ["simcc_x"]),
        helper.make_node("Add", ["z3", "cy"], ["simcc_y"]),
    ]
    inits = [_const("shape_b11", np.array([-1, 1, 1], np.int64)),
             _const("zero", np.zeros((1, 1, 1), np.float32)), _const("cx", sx), _const("cy", sy)]
    return _save(_pose_graph(nodes, inits), path)


def make_pose_follow_red(path: Path, batch="batch") -> Path:
    """simcc_x / simcc_y = 0.3 * column / row maxima of input channel 0 (R), each bin repeated twice."""
    up_x = np.repeat(np.eye(PW, dtype=np.float32), 2, axis=1)  # (192, 384): bin 2i and 2i+1 <- column i
    up_y = np.repeat(np.eye(PH, dtype=np.float32), 2, axis=1)
    nodes = [
        helper.make_node("Gather", ["input", "chan0"], ["red"], axis=1),  # (B, H, W)
        helper.make_node("ReduceMax", ["red"], ["colmax"], axes=[1], keepdims=0),  # (B, W)
        helper.make_node("ReduceMax", ["red"], ["rowmax"], axes=[2], keepdims=0),  # (B, H)
        helper.make_node("MatMul", ["colmax", "up_x"], ["px"]),
        helper.make_node("MatMul", ["rowmax", "up_y"], ["py"]),
        helper.make_node("Unsqueeze", ["px", "ax1"], ["px3"]),
        helper.make_node("Unsqueeze", ["py", "ax1"], ["py3"]),
        helper.make_node("Mul", ["px3", "gain"], ["gx"]),
        helper.make_node("Mul", ["py3", "gain"], ["gy"]),
        helper.make_node("Add", ["gx", "zx"], ["simcc_x"]),  # broadcast to 17 keypoints
        helper.make_node("Add", ["gy", "zy"], ["simcc_y"]),
    ]
    inits = [_const("chan0", np.array(0, np.int64)), _const("up_x", up_x), _const("up_y", up_y),
             _const("ax1", np.array([1], np.int64)), _const("gain", np.full((1, 1, 1), 0.3, np.float32)),
             _const("zx", np.zeros((1, 17, PW * 2), np.float32)),
             _const("zy", np.zeros((1, 17, PH * 2), np.float32))]
    return _save(_pose_graph(nodes, inits, batch), path)


def _pose_graph(nodes, inits, batch="batch"):
    return helper.make_graph(
        nodes, "pose",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, PH, PW])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [batch, 17, PW * 2]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [batch, 17, PH * 2])],
        inits)


# Frame 1280x720 -> letterbox scale 0.5 into 640x640 (image in the top 360 rows).
FRAME_W, FRAME_H = 1280, 720
# Boxes in detector-input pixels; person 1 and 2 kept, 3 too weak, 4 not a person.
DET_BOXES = [[50, 40, 150, 300], [300, 60, 420, 340], [500, 10, 600, 100], [200, 200, 260, 260]]
DET_FACTORS = [0.9, 0.8, 0.2, 0.95]
DET_LABELS = [0, 0, 0, 2]
FRAME_BOXES = np.array(DET_BOXES[:2], np.float32) * 2  # what the backend must report


def _blob(img, x, y, bgr, sigma=2.5):
    """Gaussian dot of colour ``bgr`` centred at pixel (x, y)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))[..., None]
    np.maximum(img, (g * np.asarray(bgr, np.float32)).astype(np.uint8), out=img)


@pytest.fixture
def det_path(tmp_path):
    return make_detector(tmp_path / "det.onnx", DET_BOXES, DET_FACTORS, DET_LABELS)


def test_letterbox_places_image_top_left():
    img = np.full((720, 1280, 3), 200, np.uint8)
    canvas, scale = rb.letterbox(img, (640, 640))
    assert scale == pytest.approx(0.5)
    assert canvas.shape == (640, 640, 3)
    assert (canvas[:360] == 200).all() and (canvas[360:] == rb.PAD_VALUE).all()


def test_crop_params_keep_model_aspect():
    centre, size = rb.crop_params(np.array([100, 100, 300, 200.0]), (256, 192))
    np.testing.assert_allclose(centre, [200, 150])
    # 200x100 box -> 250x125 padded -> widened side wins: 250 x 250*256/192
    np.testing.assert_allclose(size, [250, 250 * 256 / 192])


def test_detector_boxes_and_constant_simcc(tmp_path, det_path):
    px = np.arange(17) * 20 + 10  # bins; positions in input pixels are px / 2
    py = np.arange(17) * 28 + 30
    vx = np.linspace(0.5, 1.0, 17)
    vy = np.linspace(0.9, 0.2, 17)
    pose = make_pose_const(tmp_path / "pose.onnx", px, py, vx, vy)
    be = rb.create(weights=pose, detector_weights=det_path)
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    frame[4:12, 4:12] = 255  # the fake detector's scores follow the brightest pixel
    (people,) = be.process([frame])
    assert len(people) == 2
    got = np.stack([p.bbox for p in people])
    np.testing.assert_allclose(got, FRAME_BOXES, atol=1e-3)
    assert [round(p.score, 4) for p in people] == [0.9, 0.8]
    for p, box in zip(people, FRAME_BOXES):
        assert p.keypoints.shape == (17, 3) and p.keypoints.dtype == np.float32
        centre, size = rb.crop_params(box, (PH, PW))
        k = size[0] / PW  # frame pixels per input pixel
        exp_x = centre[0] + (px / 2 - PW / 2) * k
        exp_y = centre[1] + (py / 2 - PH / 2) * k
        np.testing.assert_allclose(p.keypoints[:, 0], exp_x, atol=1e-3)
        np.testing.assert_allclose(p.keypoints[:, 1], exp_y, atol=1e-3)
        np.testing.assert_allclose(p.keypoints[:, 2], np.minimum(vx, vy), atol=1e-6)
    be.close()


def test_keypoints_follow_a_red_dot_in_the_frame(tmp_path, det_path):
    pose = make_pose_follow_red(tmp_path / "pose.onnx")
    be = rb.create(weights=pose, detector_weights=det_path)
    dots = [(230.0, 400.0), (700.0, 310.0)]  # one inside each reported box
    frames = []
    for shift in (0, 6, 12):  # three frames in one process() call -> one batched pose run
        f = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
        for x, y in dots:
            _blob(f, x + shift, y - shift, (0, 0, 255))  # red in BGR
        # A blue dot, brighter in the B channel, in person 1's crop: invisible to the R-channel model
        # only if the backend hands the model RGB.
        _blob(f, 170, 200, (255, 0, 0))
        frames.append(f)
    frames.append(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))  # black: the detector finds nobody
    out = be.process(frames)
    assert [len(p) for p in out] == [2, 2, 2, 0]
    for shift, people in zip((0, 6, 12), out):
        for p, (x, y) in zip(people, dots):
            k = rb.crop_params(p.bbox, (PH, PW))[1][0] / PW
            np.testing.assert_allclose(p.keypoints[:, 0], x + shift, atol=k)  # within one input pixel
            np.testing.assert_allclose(p.keypoints[:, 1], y - shift, atol=k)
            assert (p.keypoints[:, 2] > 0.5).all() and (p.keypoints[:, 2] <= 1).all()


def test_fixed_batch_models_run_one_item_at_a_time(tmp_path):
    det = make_detector(tmp_path / "det1.onnx", DET_BOXES, DET_FACTORS, DET_LABELS, batch=1)
    pose = make_pose_follow_red(tmp_path / "pose1.onnx", batch=1)
    be = rb.create(weights=pose, detector_weights=det)
    f = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    _blob(f, 230, 400, (0, 0, 255))
    _blob(f, 700, 310, (0, 0, 255))
    out = be.process([f, f])
    assert [len(p) for p in out] == [2, 2]
    assert abs(out[1][1].keypoints[0, 0] - 700) < 3 and abs(out[1][1].keypoints[0, 1] - 310) < 3


def test_weights_identities(tmp_path, det_path):
    pose = make_pose_follow_red(tmp_path / "pose.onnx")
    be = rb.create(weights=pose, detector_weights=det_path)
    ids = be.weights()
    assert [i.name for i in ids] == ["yolox-m-humanart", "rtmpose-m-body7"]
    assert ids[1].file == "pose.onnx" and len(ids[1].sha256) == 64


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    monkeypatch.setenv("TORCH_HOME", str(empty))
    monkeypatch.setattr(wreg, "REPO_WEIGHTS", empty)
    return empty


def test_missing_pose_file_says_what_where_and_licence(no_weights_anywhere):
    with pytest.raises(MissingWeightsError) as e:
        rb.create()
    msg = str(e.value)
    assert "\n" not in msg
    assert "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.onnx" in msg
    assert "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/" in msg
    assert "end2end.onnx" in msg and "Apache-2.0" in msg and "--pose2d-weights" in msg


def test_missing_detector_file(no_weights_anywhere, tmp_path):
    pose = make_pose_follow_red(tmp_path / "pose.onnx")
    with pytest.raises(MissingWeightsError) as e:
        rb.create(weights=pose)
    msg = str(e.value)
    assert "\n" not in msg
    assert "yolox_m_8xb8-300e_humanart-c2c7a14a.onnx" in msg and "Apache-2.0" in msg


def test_files_found_in_weights_dir_and_rtmlib_cache(no_weights_anywhere, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    wdir.mkdir()
    make_pose_follow_red(wdir / wreg.WEIGHTS["rtmpose-m-body7"].filename)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    make_detector(cache / wreg.WEIGHTS["yolox-m-humanart"].filename, DET_BOXES, DET_FACTORS, DET_LABELS)
    monkeypatch.setenv("VID2POSE_WEIGHTS", str(wdir))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    be = rb.create()
    assert be.pose_path.parent == wdir and be.det_path.parent == cache


def test_invalid_files_raise_weights_error(tmp_path, det_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an onnx model")
    with pytest.raises(WeightsError) as e:
        rb.create(weights=junk, detector_weights=det_path)
    assert "junk.onnx" in str(e.value) and "\n" not in str(e.value)
    # a valid ONNX file of the wrong kind: the detector given as pose model, and vice versa
    pose = make_pose_follow_red(tmp_path / "pose.onnx")
    with pytest.raises(WeightsError, match="not an RTMPose SimCC model"):
        rb.create(weights=det_path, detector_weights=det_path)
    with pytest.raises(WeightsError, match="not an end2end person detector"):
        rb.create(weights=pose, detector_weights=pose)


def test_missing_override_path(tmp_path):
    with pytest.raises(MissingWeightsError, match="does not exist"):
        rb.create(weights=tmp_path / "nope.onnx")


def test_missing_onnxruntime_names_the_install_command(monkeypatch):
    import sys

    from vid2pose.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "vid2pose\[rtm\]"'):
        rb.create()


def test_cuda_provider_choice():
    from vid2pose.pose2d.onnx_common import providers_for

    class FakeOrt:
        def __init__(self, names):
            self.names = names

        def get_available_providers(self):
            return self.names

    gpu = FakeOrt(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers_for(gpu, "cuda") == [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    assert providers_for(gpu, "cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert providers_for(gpu, "cpu") == ["CPUExecutionProvider"]
    assert providers_for(FakeOrt(["CPUExecutionProvider"]), "cuda") == ["CPUExecutionProvider"]
