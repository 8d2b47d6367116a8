"""The `--format` switch of `run` and `export`: one writer per output format.

Every writer takes the finished JSON document (2D + 3D) and the 3D tracks and writes atomically.
A writer returns the files it wrote; the first one written last is never a half file, so an
existing output means a finished one (what `--skip-existing` relies on).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vid2pose.atomic import write_text
from vid2pose.errors import NoPersonError, UsageError
from vid2pose.export.json_io import write_json


@dataclass
class ExportOptions:
    units: str = "m"  # BVH lengths: m or cm
    root_motion: bool = True  # BVH root follows the camera-space trajectory; False: in place


def bvh_paths(out: Path, track_ids: list[int]) -> dict[int, Path]:
    """One BVH file per person: `out` itself for one track, `<stem>_person<ID>.bvh` for several."""
    if len(track_ids) == 1:
        return {track_ids[0]: out}
    return {tid: out.with_name(f"{out.stem}_person{tid}{out.suffix or '.bvh'}") for tid in track_ids}


def bvh_note_path(out: Path) -> Path:
    """The side note of a BVH export (which frames were interpolated, units, ...): `<out>.json`."""
    return out.with_name(out.name + ".json")


def write_json_format(doc: dict, tracks3d: list, out: Path, opts: ExportOptions) -> list[Path]:
    write_json(out, doc)
    return [out]


def write_bvh_format(doc: dict, tracks3d: list, out: Path, opts: ExportOptions) -> list[Path]:
    """BVH files, one per track, then the side note (BVH has no place to flag interpolated frames)."""
    from vid2pose.export.bvh import write_bvh

    if not tracks3d:
        raise NoPersonError(f"{doc['video'].get('source', out.stem)}: no person with 3D joints to export")
    fps = float(doc["video"]["fps"])
    paths = bvh_paths(out, [t.track_id for t in tracks3d])
    note = {"schema": "vid2pose.bvh-note", "version": 1, "video": doc["video"].get("source"), "fps": fps,
            "units": opts.units, "root_motion": opts.root_motion,
            "lifter": doc.get("pose3d", {}).get("lifter"),
            "axes": "BVH world: Y up, the person facing the camera faces +Z; the feet stand on Y = 0; the camera "
                    "is above or below the origin, looking along -Z",
            "files": []}
    for t in tracks3d:
        path = paths[t.track_id]
        # floor: the feet stand on Blender's grid instead of hanging at the camera's height
        write_bvh(path, t.joints_cam, fps, units=opts.units, root_motion=opts.root_motion, missing=t.interpolated,
                  floor=True)
        # BVH frame k is video frame first_frame + k: frames are never dropped, so timing stays true.
        note["files"].append({"file": path.name, "track_id": t.track_id, "first_frame": int(t.frames[0]),
                              "last_frame": int(t.frames[-1]), "frames": int(len(t.frames)),
                              "interpolated_frames": [int(f) for f in t.frames[t.interpolated]]})
    write_text(bvh_note_path(out), json.dumps(note, indent=1) + "\n")
    return list(paths.values()) + [bvh_note_path(out)]


# name -> (file suffix, writer)
FORMATS: dict[str, tuple[str, Callable[[dict, list, Path, ExportOptions], list[Path]]]] = {
    "json": (".json", write_json_format),
    "bvh": (".bvh", write_bvh_format),
}


def done_marker(fmt: str, out: Path) -> Path:
    """The file whose existence means the export of one input finished (written last)."""
    return bvh_note_path(out) if fmt == "bvh" else out


def resolve_format(fmt: str | None, out: Path | None) -> str:
    """--format if given, else from --out's suffix (`--out clip.bvh` means BVH), else JSON."""
    if fmt is None:
        suffix = out.suffix.lower() if out is not None else ""
        return next((name for name, (s, _) in FORMATS.items() if s == suffix), "json")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt
