"""The vid2pose JSON file: schema, writer, reader and validator.

Schema "vid2pose.poses", version 2 (documented in docs/json-format.md). Version 2 adds
the optional 3D part written by `lift`/`run`; version 1 files (2D only) are still read.

    {
      "schema": "vid2pose.poses", "version": 1,
      "tool": {"name": "vid2pose", "version": "0.1.0"},
      "video": {"source", "fps", "width", "height", "frame_count", "rotation", "kind", "codec",
                "first_frame", "last_frame"},
      "pose2d": {"backend", "skeleton", "keypoint_names": [...], "weights": [{"name", "file", "sha256"}]},
      "joints": {"names": [17 H36M names], "parents": [17 ints]},
      "tracks": [
        {"id": 1, "num_frames": N, "first_frame": f0, "last_frame": f1, "gaps": [[a, b], ...],
         "frames": [{"frame": i, "time": s, "bbox": [x1, y1, x2, y2], "score": c,
                     "keypoints": [[x, y, conf] x 17],    # H36M-17, pixels
                     "native": [[x, y, conf] x K]}]}       # the backend's own keypoints
      ]
    }

Pixels are in the upright frame (x right, y down). ``gaps`` lists runs of
frames, inclusive, inside the track's span where the person was not found.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vid2pose import __version__
from vid2pose.atomic import write_text
from vid2pose.errors import InputError
from vid2pose.skeletons import H36M_JOINTS, H36M_PARENTS, SKELETONS
from vid2pose.types import Pose2DResult, Track, VideoMeta, WeightsIdentity

SCHEMA = "vid2pose.poses"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


def _kp_list(kp: np.ndarray) -> list:
    # 2 decimals of a pixel and 3 of confidence: far below the keypoints' own error, keeps files small.
    return [[round(float(x), 2), round(float(y), 2), round(float(c), 3)] for x, y, c in kp]


def track_to_dict(t: Track) -> dict:
    frames = [
        {"frame": int(t.frame_indices[i]), "time": round(float(t.times[i]), 6),
         "bbox": [round(float(v), 2) for v in t.bboxes[i]], "score": round(float(t.scores[i]), 3),
         "keypoints": _kp_list(t.h36m[i]), "native": _kp_list(t.keypoints[i])}
        for i in range(len(t))
    ]
    return {"id": t.track_id, "num_frames": len(t), "first_frame": int(t.frame_indices[0]),
            "last_frame": int(t.frame_indices[-1]), "gaps": [list(g) for g in t.gaps()], "frames": frames}


def pose2d_document(result: Pose2DResult, tracks: list[Track]) -> dict:
    v = result.video
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "tool": {"name": "vid2pose", "version": __version__},
        "video": {"source": v.source, "fps": v.fps, "width": v.width, "height": v.height,
                  "frame_count": v.frame_count, "rotation": v.rotation, "kind": v.kind, "codec": v.codec,
                  "first_frame": result.first_frame, "last_frame": result.last_frame},
        "pose2d": {"backend": result.backend, "skeleton": result.skeleton,
                   "keypoint_names": list(SKELETONS[result.skeleton][0]),
                   "weights": [{"name": w.name, "file": w.file, "sha256": w.sha256} for w in result.weights]},
        "joints": {"names": list(H36M_JOINTS), "parents": list(H36M_PARENTS)},
        "tracks": [track_to_dict(t) for t in tracks],
    }


def write_json(path: Path | str, doc: dict) -> None:
    validate(doc)  # never write a file our own reader would refuse
    write_text(path, json.dumps(doc, separators=(",", ":")) + "\n")


# --- validation -------------------------------------------------------------------------------

def _fail(where: str, what: str):
    raise InputError(f"invalid vid2pose JSON at {where}: {what}")


def _need(obj: dict, key: str, types, where: str):
    if not isinstance(obj, dict) or key not in obj:
        _fail(where, f"missing {key!r}")
    val = obj[key]
    if types is float:
        types = (int, float)
    if not isinstance(val, types) or isinstance(val, bool) and types is not bool:
        _fail(f"{where}.{key}", f"expected {types}, got {type(val).__name__}")
    return val


def _check_points(pts, n: int | None, where: str):
    if not isinstance(pts, list) or (n is not None and len(pts) != n):
        _fail(where, f"expected a list of {n} [x, y, conf] points")
    for j, p in enumerate(pts):
        if not (isinstance(p, list) and len(p) == 3 and all(isinstance(v, (int, float)) for v in p)):
            _fail(f"{where}[{j}]", "expected [x, y, conf]")
        if not 0.0 <= p[2] <= 1.0:
            _fail(f"{where}[{j}]", "confidence outside [0, 1]")


def validate(doc: dict) -> dict:
    """Check a document against schema version 1; raises InputError naming the first bad field."""
    if not isinstance(doc, dict):
        _fail("$", "not a JSON object")
    if doc.get("schema") != SCHEMA:
        _fail("$.schema", f"expected {SCHEMA!r}, got {doc.get('schema')!r}")
    version = _need(doc, "version", int, "$")
    if version not in READABLE_VERSIONS:
        _fail("$.version", f"this vid2pose reads versions {READABLE_VERSIONS}, the file has {version}")
    _need(_need(doc, "tool", dict, "$"), "version", str, "$.tool")
    video = _need(doc, "video", dict, "$")
    for k, t in (("source", str), ("fps", float), ("width", int), ("height", int), ("frame_count", int),
                 ("first_frame", int), ("last_frame", int)):
        _need(video, k, t, "$.video")
    if video["fps"] <= 0 or video["width"] <= 0 or video["height"] <= 0:
        _fail("$.video", "fps, width and height must be positive")
    p2 = _need(doc, "pose2d", dict, "$")
    _need(p2, "backend", str, "$.pose2d")
    names = _need(p2, "keypoint_names", list, "$.pose2d")
    for i, w in enumerate(_need(p2, "weights", list, "$.pose2d")):
        for k in ("name", "file", "sha256"):
            _need(w, k, str, f"$.pose2d.weights[{i}]")
    joints = _need(doc, "joints", dict, "$")
    if _need(joints, "names", list, "$.joints") != list(H36M_JOINTS):
        _fail("$.joints.names", "expected the Human3.6M 17-joint order")
    ids = set()
    for ti, t in enumerate(_need(doc, "tracks", list, "$")):
        w = f"$.tracks[{ti}]"
        tid = _need(t, "id", int, w)
        if tid in ids:
            _fail(f"{w}.id", f"duplicate track id {tid}")
        ids.add(tid)
        frames = _need(t, "frames", list, w)
        if len(frames) != _need(t, "num_frames", int, w):
            _fail(f"{w}.num_frames", "does not match the number of frames")
        _need(t, "gaps", list, w)
        prev = -1
        for fi, f in enumerate(frames):
            fw = f"{w}.frames[{fi}]"
            idx = _need(f, "frame", int, fw)
            if idx <= prev:
                _fail(f"{fw}.frame", "frame indices must increase")
            if not video["first_frame"] <= idx <= video["last_frame"]:
                _fail(f"{fw}.frame", "outside the analysed frame range")
            prev = idx
            _need(f, "time", float, fw)
            if len(_need(f, "bbox", list, fw)) != 4:
                _fail(f"{fw}.bbox", "expected [x1, y1, x2, y2]")
            _check_points(_need(f, "keypoints", list, fw), 17, f"{fw}.keypoints")
            _check_points(_need(f, "native", list, fw), len(names), f"{fw}.native")
        if "pose3d" in t:
            _validate_track3d(t["pose3d"], f"{w}.pose3d")
    if any("pose3d" in t for t in doc["tracks"]):
        p3 = _need(doc, "pose3d", dict, "$")
        for k, typ in (("lifter", str), ("units", str), ("height_m", float), ("focal_px", float)):
            _need(p3, k, typ, "$.pose3d")
    return doc


def _check_xyz(pts, where: str):
    if not (isinstance(pts, list) and len(pts) == 17 and all(
            isinstance(p, list) and len(p) == 3 and all(isinstance(v, (int, float)) for v in p) for p in pts)):
        _fail(where, "expected 17 [x, y, z] points")


def _validate_track3d(frames, where: str):
    if not isinstance(frames, list) or not frames:
        _fail(where, "expected a non-empty list of frames")
    prev = None
    for i, f in enumerate(frames):
        fw = f"{where}[{i}]"
        idx = _need(f, "frame", int, fw)
        if prev is not None and idx != prev + 1:
            _fail(f"{fw}.frame", "3D frames must be consecutive (gaps are interpolated and flagged)")
        prev = idx
        _need(f, "time", float, fw)
        _need(f, "interpolated", bool, fw)
        _check_xyz(_need(f, "joints", list, fw), f"{fw}.joints")
        _check_xyz(_need(f, "joints_cam", list, fw), f"{fw}.joints_cam")


def add_pose3d(doc: dict, tracks3d: list, info: dict) -> dict:
    """Version 2: per track, every frame from first to last with 3D joints in metres.

    ``joints`` are root-relative, ``joints_cam`` in camera space (x right, y down, z forward).
    ``info`` describes the lifting (lifter, weights, height, focal, ...).
    """
    doc = dict(doc, version=SCHEMA_VERSION)
    by_id = {t.track_id: t for t in tracks3d}
    r4 = lambda a: [[round(float(v), 4) for v in p] for p in a]  # noqa: E731 (0.1 mm)
    tracks = []
    for t in doc["tracks"]:
        t = dict(t)
        t3 = by_id.get(t["id"])
        if t3 is not None:
            cam = t3.joints_cam
            t["pose3d"] = [{"frame": int(t3.frames[i]), "time": round(float(t3.times[i]), 6),
                            "interpolated": bool(t3.interpolated[i]), "joints": r4(t3.joints[i]),
                            "joints_cam": r4(cam[i])} for i in range(len(t3.frames))]
            t["swaps_repaired"] = int(t3.swaps_repaired)
        tracks.append(t)
    doc["tracks"] = tracks
    doc["pose3d"] = dict(info, units="m", axes="camera: x right, y down, z forward (away from the camera)")
    return doc


def read_json(path: Path | str) -> dict:
    """Read and validate a vid2pose JSON file (errors are one-line InputErrors)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path.name}: not a JSON file ({e})") from e
    return validate(doc)


def tracks_from_document(doc: dict) -> tuple[VideoMeta, list[Track], list[WeightsIdentity]]:
    """The arrays back from a validated document (for the stages that read kp2d.json)."""
    v = doc["video"]
    meta = VideoMeta(source=v["source"], fps=float(v["fps"]), width=v["width"], height=v["height"],
                     frame_count=v["frame_count"], rotation=v.get("rotation", 0), kind=v.get("kind", "video"),
                     codec=v.get("codec", ""))
    tracks = []
    for t in doc["tracks"]:
        fr = t["frames"]
        k = len(doc["pose2d"]["keypoint_names"])
        tracks.append(Track(
            track_id=t["id"],
            frame_indices=np.array([f["frame"] for f in fr], np.int64),
            times=np.array([f["time"] for f in fr], np.float64),
            bboxes=np.array([f["bbox"] for f in fr], np.float32).reshape(-1, 4),
            scores=np.array([f.get("score", 1.0) for f in fr], np.float32),
            keypoints=np.array([f["native"] for f in fr], np.float32).reshape(-1, k, 3),
            h36m=np.array([f["keypoints"] for f in fr], np.float32).reshape(-1, 17, 3),
        ))
    weights = [WeightsIdentity(**w) for w in doc["pose2d"]["weights"]]
    return meta, tracks, weights
