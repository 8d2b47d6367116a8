"""`vid2pose mesh`: video -> people -> the body model of ``--body`` -> mesh files.

- ``anny`` (default, offline): 2D -> 3D joints (the lifter) -> the anny body posed per frame.
- ``glot``: the official GLoT chain on each tracked person (crops -> SPIN ResNet-50 -> GLoT -> SMPL),
  with the user's GLoT, SPIN and SMPL files; like the official demo it gives a mesh for each frame the
  person was detected in (gaps are not filled).

Per video the output folder holds ``person_<ID>/frame_<N>.obj`` (or .ply/.glb), ``person_<ID>.npz``
(every frame's vertices and the faces, see :mod:`vid2pose.export.meshes`) and ``meshes.json``, written
last: which frames each person has, which were interpolated, the body model and the axes. Its
existence means the video is finished (`--skip-existing`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from vid2pose.atomic import write_text
from vid2pose.errors import NoPersonError
from vid2pose.pipeline import Pose2DOptions, VideoReport, analyse_2d
from vid2pose.progress import Reporter
from vid2pose.track import select_tracks
from vid2pose.video import open_source

NOTE = "meshes.json"
CHUNK = 32  # frames posed at once: memory stays flat whatever the video length


def mesh_one(spec, out_dir: Path, backend, lifter, body, opts: Pose2DOptions, settings, fmt: str, npz: bool,
             reporter: Reporter, label: str) -> VideoReport:
    from vid2pose.export.meshes import COORDINATES, MeshSequenceWriter
    from vid2pose.lift.lifting import lift_info, lift_track

    t0 = time.perf_counter()
    source = open_source(spec, image_fps=opts.image_fps)
    first, last = source.frame_range(opts.start, opts.end)
    total = last - first + 1 if source.meta.frame_count > 0 else None
    with reporter.task(f"2D {label}", total) as advance:
        result = analyse_2d(source, backend, opts, advance)
    n = result.last_frame - result.first_frame + 1
    if not result.tracks:
        raise NoPersonError(f"{label}: no person found in any of the {n} frames analysed")
    tracks = select_tracks(result.tracks, opts.person)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not hasattr(body, "pose"):  # GLoT models
        return _glot_meshes(source, result, tracks, out_dir, body, fmt, npz, reporter, label, t0, n, settings)
    lifted = [lift_track(t, source.meta, lifter, settings) for t in tracks]
    note = {"schema": "vid2pose.meshes", "version": 1, "video": source.meta.source, "fps": source.meta.fps,
            "body": "anny (MakeHuman assets CC0, code Apache-2.0)", "format": fmt, "coordinates": COORDINATES,
            "lifting": lift_info(lifter, settings, source.meta), "people": []}
    with reporter.task(f"meshes {label}", sum(len(t.frames) for t in lifted)) as advance, \
            MeshSequenceWriter(out_dir, body.faces, fmt=fmt, npz=npz) as writer:
        for t in lifted:
            cam = t.joints_cam
            fit = body.fit(cam)  # one body per person, from the whole track
            for s in range(0, len(cam), CHUNK):
                posed = body.pose(cam[s:s + CHUNK], fit=fit)
                for k, verts in enumerate(posed.vertices):
                    writer.add(t.track_id, int(t.frames[s + k]), verts)
                advance(len(posed.vertices))
            note["people"].append({"id": t.track_id, "folder": f"person_{t.track_id}",
                                   "first_frame": int(t.frames[0]), "last_frame": int(t.frames[-1]),
                                   "interpolated_frames": [int(f) for f in t.frames[t.interpolated]]})
    write_text(out_dir / NOTE, json.dumps(note, indent=1) + "\n")
    seen = set()
    for t in tracks:
        seen.update(int(f) for f in t.frame_indices)
    return VideoReport(frames=n, frames_with_person=len(seen), people=len(tracks),
                       seconds=time.perf_counter() - t0)


def _glot_meshes(source, result, tracks, out_dir: Path, models, fmt: str, npz: bool, reporter: Reporter, label: str,
                 t0: float, n: int, settings) -> VideoReport:
    from vid2pose.export.meshes import COORDINATES, MeshSequenceWriter
    from vid2pose.mesh.glot_pipeline import run_glot_on_track

    note = {"schema": "vid2pose.meshes", "version": 1, "video": source.meta.source, "fps": source.meta.fps,
            "body": "SMPL from GLoT (the user's GLoT, SPIN and SMPL files; their licences apply)", "format": fmt,
            "coordinates": COORDINATES, "people": []}
    with reporter.task(f"meshes {label}", sum(len(t) for t in tracks)) as advance, \
            MeshSequenceWriter(out_dir, models.body.faces, fmt=fmt, npz=npz) as writer:
        for t in tracks:  # one decoding pass per person: memory stays flat
            wanted = set(int(f) for f in t.frame_indices)
            frames = (f for f in source.frames(int(t.frame_indices[0]), int(t.frame_indices[-1]))
                      if f.index in wanted)
            for g in run_glot_on_track(frames, t.bboxes, models, focal_length=settings.focal):
                writer.add(t.track_id, g.frame_index, g.camera_vertices())
                advance(1)
            note["people"].append({"id": t.track_id, "folder": f"person_{t.track_id}",
                                   "first_frame": int(t.frame_indices[0]), "last_frame": int(t.frame_indices[-1]),
                                   "frames": [int(f) for f in t.frame_indices]})
    write_text(out_dir / NOTE, json.dumps(note, indent=1) + "\n")
    return VideoReport(frames=n, frames_with_person=len({int(f) for t in tracks for f in t.frame_indices}),
                       people=len(tracks), seconds=time.perf_counter() - t0)


def run_mesh(*, inputs, out, fmt, npz, body_name="anny", glot_weights=None, spin_weights=None, smpl_dir=None,
             backend, backend_weights, lifter, weights, trust_weights, person, start,
             end, height, focal, recursive, skip_existing, json_summary, fps, batch_size, device, debug) -> int:
    from vid2pose.batch import Job, plan_jobs, run_jobs
    from vid2pose.commands import _check_person, _lift_settings, print_summary
    from vid2pose.device import resolve_device
    from vid2pose.errors import UsageError
    from vid2pose.export.meshes import FORMATS
    from vid2pose.lift.loading import load_lifter
    from vid2pose.mesh.anny_body import AnnyBody
    from vid2pose.pose2d import create_backend
    from vid2pose.progress import stderr

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; meshes go in a folder")
    opts = Pose2DOptions(person=_check_person(person), start=start, end=end, batch_size=max(1, batch_size),
                         image_fps=fps)
    settings = _lift_settings(height, focal, None, 64, False)
    jobs, is_batch = plan_jobs(inputs, out, None, recursive, suffix="_meshes")
    if not is_batch and out is not None:
        jobs[0].output = out  # one video: --out is its folder
    for j in jobs:
        j.marker = j.output / NOTE
    todo = [j for j in jobs if not (skip_existing and j.done())]
    dev = resolve_device(device)
    if body_name not in ("anny", "glot"):
        raise UsageError(f"--body must be anny or glot, not {body_name!r}")
    body = lift_model = None
    if todo and body_name == "glot":
        from vid2pose.mesh.glot_pipeline import load_glot_models

        body = load_glot_models(glot_weights, spin_weights, smpl_dir, trust=trust_weights, device=dev)
    elif todo:
        lift_model = load_lifter(lifter, weights, dev, trust_weights)
        body = AnnyBody(on_first_build=lambda cache: stderr.print(
            f"first use of the anny body model: building its cache in {cache} (about a minute and 800 MB, once)"))
    model = create_backend(backend, backend_weights, dev, trust_weights) if todo else None

    def work(job: Job, reporter: Reporter):
        return mesh_one(job.spec, job.output, model, lift_model, body, opts, settings, fmt, npz, reporter, job.label)

    try:
        with Reporter() as reporter:
            result = run_jobs(jobs, is_batch, work, reporter, skip_existing=skip_existing, debug=debug)
    finally:
        if model is not None:
            model.close()
    print_summary(result, json_summary)
    return result.exit_code
