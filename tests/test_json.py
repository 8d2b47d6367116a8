import copy
import json

import numpy as np
import pytest

from test_track import person, run
from vid2pose.errors import InputError
from vid2pose.export.json_io import (SCHEMA, SCHEMA_VERSION, pose2d_document, read_json, tracks_from_document,
                                     validate, write_json)
from vid2pose.types import Pose2DResult, VideoMeta, WeightsIdentity


def make_doc():
    frames = [[person(20 + 3 * i, 40)] if i != 4 else [] for i in range(12)]
    tracks = run(frames)
    meta = VideoMeta(source="clip.mp4", fps=30.0, width=640, height=480, frame_count=12, codec="mp4v")
    res = Pose2DResult(video=meta, backend="fake", skeleton="coco17",
                       weights=[WeightsIdentity("fake", "f.bin", "ab" * 32)], first_frame=0, last_frame=11)
    return pose2d_document(res, tracks), tracks


def test_document_has_the_documented_fields(tmp_path):
    doc, tracks = make_doc()
    assert doc["schema"] == SCHEMA and doc["version"] == SCHEMA_VERSION
    assert doc["video"]["fps"] == 30.0 and doc["video"]["width"] == 640
    assert doc["pose2d"]["keypoint_names"][0] == "nose" and len(doc["pose2d"]["keypoint_names"]) == 17
    assert doc["joints"]["names"][0] == "pelvis"
    t = doc["tracks"][0]
    assert t["id"] == 1 and t["num_frames"] == 11 and t["gaps"] == [[4, 4]]
    f = t["frames"][0]
    assert set(f) == {"frame", "time", "bbox", "score", "keypoints", "native"}
    assert len(f["keypoints"]) == 17 and len(f["keypoints"][0]) == 3


def test_round_trip(tmp_path):
    doc, tracks = make_doc()
    p = tmp_path / "kp.json"
    write_json(p, doc)
    again = read_json(p)
    meta, back, weights = tracks_from_document(again)
    assert meta.fps == 30.0 and weights[0].sha256 == "ab" * 32
    np.testing.assert_array_equal(back[0].frame_indices, tracks[0].frame_indices)
    np.testing.assert_allclose(back[0].h36m, tracks[0].h36m, atol=0.006)
    np.testing.assert_allclose(back[0].keypoints, tracks[0].keypoints, atol=0.006)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("breakit, message", [
    (lambda d: d.pop("video"), "missing 'video'"),
    (lambda d: d.update(version=99), "version"),
    (lambda d: d.update(schema="other"), "schema"),
    (lambda d: d["tracks"][0]["frames"][0]["keypoints"].pop(), "keypoints"),
    (lambda d: d["tracks"][0]["frames"][0]["keypoints"][3].__setitem__(2, 1.5), "confidence"),
    (lambda d: d["tracks"][0]["frames"][1].update(frame=0), "increase"),
    (lambda d: d["tracks"][0].update(num_frames=3), "num_frames"),
    (lambda d: d["tracks"].append(copy.deepcopy(d["tracks"][0])), "duplicate"),
    (lambda d: d["video"].update(fps="30"), "fps"),
])
def test_validation_names_the_bad_field(breakit, message):
    doc, _ = make_doc()
    validate(doc)
    breakit(doc)
    with pytest.raises(InputError, match=message):
        validate(doc)


def test_reader_rejects_non_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(InputError, match="not a JSON file"):
        read_json(p)
    with pytest.raises(InputError, match="no such file"):
        read_json(tmp_path / "missing.json")


def test_writer_refuses_invalid_documents(tmp_path):
    doc, _ = make_doc()
    doc["tracks"][0]["frames"][0]["bbox"] = [1, 2]
    with pytest.raises(InputError):
        write_json(tmp_path / "bad.json", doc)
    assert not (tmp_path / "bad.json").exists()
    json.dumps(doc)  # still a plain JSON-able dict
