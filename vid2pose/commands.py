"""One function per CLI command: wires options to the stages and prints results."""
from __future__ import annotations

import importlib.util
import json
import platform
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vid2pose import __version__
from vid2pose.batch import BatchResult, Job, plan_jobs, run_jobs
from vid2pose.errors import UsageError
from vid2pose.progress import Reporter

stdout = Console()


def _check_person(person: str) -> str:
    if person in ("main", "all") or person.isdigit():
        return person
    raise UsageError(f"--person must be main, all or a track ID (a number), not {person!r}")


def print_summary(result: BatchResult, json_summary: bool) -> None:
    if json_summary:
        print(json.dumps(result.as_dict(), indent=2))
        return
    if not result.batch:
        return
    table = Table(title="vid2pose", show_lines=False)
    for col in ("input", "status", "frames", "people", "seconds", "output / error"):
        table.add_column(col, overflow="fold")
    style = {"ok": "green", "failed": "red", "skipped": "dim"}
    for r in result.results:
        table.add_row(r.input, f"[{style[r.status]}]{r.status}[/]", str(r.frames), str(r.people),
                      f"{r.seconds:.1f}", r.error or r.output)
    stdout.print(table)
    stdout.print(f"{result.count('ok')} ok, {result.count('failed')} failed, {result.count('skipped')} skipped")


def run_pose2d(*, inputs, out, backend, backend_weights, trust_weights, person, start, end, overlay, recursive,
               skip_existing, json_summary, fps, batch_size, device, debug) -> int:
    from vid2pose.device import resolve_device
    from vid2pose.pipeline import Pose2DOptions, pose2d_one
    from vid2pose.pose2d import create_backend

    opts = Pose2DOptions(person=_check_person(person), start=start, end=end, batch_size=max(1, batch_size),
                         image_fps=fps)
    if fps <= 0:
        raise UsageError("--fps must be positive")
    jobs, is_batch = plan_jobs(inputs, out, overlay, recursive)
    todo = [j for j in jobs if not (skip_existing and j.done())]
    model = create_backend(backend, backend_weights, resolve_device(device), trust_weights) if todo else None  # loaded once

    def work(job: Job, reporter: Reporter):
        return pose2d_one(job.spec, job.output, job.overlay, model, opts, reporter, job.label)

    try:
        with Reporter() as reporter:
            result = run_jobs(jobs, is_batch, work, reporter, skip_existing=skip_existing, debug=debug)
    finally:
        if model is not None:
            model.close()
    print_summary(result, json_summary)
    return result.exit_code


def _lift_settings(height, focal, flip, batch_size, half, swap_repair=True, windows=None, constant_bones=False):
    from vid2pose.lift.lifting import LiftSettings
    from vid2pose.lift.sequence import LiftOptions

    if height <= 0.5 or height > 2.6:
        raise UsageError("--height is the person's height in metres (between 0.5 and 2.6)")
    if focal is not None and focal <= 0:
        raise UsageError("--focal is a focal length in pixels (> 0)")
    if windows is not None and windows < 1:
        raise UsageError("--windows-per-frame is a count of windows (1 or more)")
    return LiftSettings(height=height, focal=focal, repair_swaps=swap_repair, constant_bones=constant_bones,
                        options=LiftOptions(flip=flip, batch_size=max(1, batch_size), half=half, hops=windows))


def _export_options(units: str, root_motion: bool):
    from vid2pose.export.formats import ExportOptions

    if units not in ("m", "cm"):
        raise UsageError(f"--units must be m or cm, not {units!r}")
    return ExportOptions(units=units, root_motion=root_motion)


class _Report:
    def __init__(self, frames: int, people: int):
        self.frames = self.frames_with_person = frames
        self.people = people


def run_lift(*, inputs, out, lifter, weights, trust_weights, height, focal, flip, batch_size, half, recursive,
             skip_existing, json_summary, device, debug, swap_repair=True, windows=None,
             constant_bones=False) -> int:
    from vid2pose.device import resolve_device
    from vid2pose.errors import NoPersonError
    from vid2pose.export.json_io import add_pose3d, read_json, tracks_from_document, write_json
    from vid2pose.lift.lifting import lift_info, lift_track
    from vid2pose.lift.loading import load_lifter

    settings = _lift_settings(height, focal, flip, batch_size, half, swap_repair, windows, constant_bones)
    jobs, is_batch = plan_jobs(inputs, out, None, recursive, suffix="_3d.json", kind="json")
    for j in jobs:
        if not is_batch and Path(j.spec).resolve() == j.output.resolve():
            raise UsageError("--out would overwrite the input; choose another file name")
    todo = [j for j in jobs if not (skip_existing and j.done())]
    model = load_lifter(lifter, weights, resolve_device(device), trust_weights) if todo else None  # loaded once

    def work(job: Job, reporter: Reporter):
        doc = read_json(job.spec)
        meta, tracks, _ = tracks_from_document(doc)
        if not tracks:
            raise NoPersonError(f"{job.label}: the file has no person to lift")
        with reporter.task(f"3D {job.label}", len(tracks)) as advance:
            lifted = []
            for t in tracks:
                lifted.append(lift_track(t, meta, model, settings, backend=doc["pose2d"]["backend"]))
                advance(1)
        write_json(job.output, add_pose3d(doc, lifted, lift_info(model, settings, meta)))
        return _Report(sum(len(t.frames) for t in lifted), len(lifted))

    with Reporter() as reporter:
        result = run_jobs(jobs, is_batch, work, reporter, skip_existing=skip_existing, debug=debug)
    print_summary(result, json_summary)
    return result.exit_code


def run_video(*, inputs, out, fmt, backend, backend_weights, lifter, weights, trust_weights, person, start, end,
              overlay, height, focal, flip, units, root_motion, recursive, skip_existing, json_summary, fps,
              batch_size, lift_batch_size, half, device, debug, swap_repair=True, windows=None,
              constant_bones=False) -> int:
    """`vid2pose run`: 2D + tracking + lifting + export, both networks loaded once for the whole batch."""
    from vid2pose.device import resolve_device
    from vid2pose.export.formats import FORMATS, done_marker, resolve_format
    from vid2pose.lift.loading import load_lifter
    from vid2pose.pipeline import Pose2DOptions, run_one
    from vid2pose.pose2d import create_backend

    fmt = resolve_format(fmt, out)
    suffix = FORMATS[fmt][0]
    if out is not None and out.suffix and out.suffix.lower() != suffix and not out.is_dir():
        raise UsageError(f"--out {out} does not end in {suffix}, the suffix of --format {fmt}")
    if fps <= 0:
        raise UsageError("--fps must be positive")
    opts = Pose2DOptions(person=_check_person(person), start=start, end=end, batch_size=max(1, batch_size),
                         image_fps=fps)
    settings = _lift_settings(height, focal, flip, lift_batch_size, half, swap_repair, windows, constant_bones)
    export_opts = _export_options(units, root_motion)
    jobs, is_batch = plan_jobs(inputs, out, overlay, recursive, suffix=suffix)
    for j in jobs:
        j.marker = done_marker(fmt, j.output)
    todo = [j for j in jobs if not (skip_existing and j.done())]
    dev = resolve_device(device)
    lift_model = load_lifter(lifter, weights, dev, trust_weights) if todo else None  # before the 2D: fail fast
    model = create_backend(backend, backend_weights, dev, trust_weights, for_lifting=True) if todo else None

    def work(job: Job, reporter: Reporter):
        return run_one(job.spec, job.output, job.overlay, model, lift_model, opts, settings, fmt, export_opts,
                       reporter, job.label)

    try:
        with Reporter() as reporter:
            result = run_jobs(jobs, is_batch, work, reporter, skip_existing=skip_existing, debug=debug)
    finally:
        if model is not None:
            model.close()
    print_summary(result, json_summary)
    return result.exit_code


def run_export(*, inputs, out, fmt, units, root_motion, recursive, skip_existing, json_summary, debug) -> int:
    """`vid2pose export`: a `run`/`lift` JSON (with 3D) to another format, e.g. BVH."""
    from vid2pose.errors import InputError
    from vid2pose.export.formats import FORMATS, done_marker, resolve_format
    from vid2pose.export.json_io import read_json
    from vid2pose.lift.lifting import tracks3d_from_document

    fmt = resolve_format(fmt or ("bvh" if out is None else None), out)
    if fmt == "json":
        raise UsageError("the input is already JSON: choose another --format (bvh)")
    suffix = FORMATS[fmt][0]
    export_opts = _export_options(units, root_motion)
    jobs, is_batch = plan_jobs(inputs, out, None, recursive, suffix=suffix, kind="json")
    for j in jobs:
        j.marker = done_marker(fmt, j.output)

    def work(job: Job, reporter: Reporter):
        doc = read_json(job.spec)
        tracks3d = tracks3d_from_document(doc)
        if not tracks3d:
            raise InputError(f"{job.label}: the file has no 3D joints (make it with `vid2pose run`, "
                             "or add them with `vid2pose lift`)")
        FORMATS[fmt][1](doc, tracks3d, job.output, export_opts)
        return _Report(sum(len(t.frames) for t in tracks3d), len(tracks3d))

    with Reporter() as reporter:
        result = run_jobs(jobs, is_batch, work, reporter, skip_existing=skip_existing, debug=debug)
    print_summary(result, json_summary)
    return result.exit_code


def _version_of(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        from importlib.metadata import version

        dist = {"cv2": "opencv-python-headless", "ai_edge_litert": "ai-edge-litert"}.get(module, module)
        return version(dist)
    except Exception:
        return "installed"


def collect_info() -> dict:
    import vid2pose.lift.registry  # noqa: F401  (registers the lifters' weights)
    from vid2pose.pose2d import BACKENDS
    from vid2pose.weights import WEIGHTS, find

    info = {"vid2pose": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "packages": {m: _version_of(m) for m in ("torch", "numpy", "cv2", "mediapipe", "ai_edge_litert",
                                                      "onnxruntime", "ultralytics", "smplx", "trimesh", "anny")}}
    devices = ["cpu"]
    if info["packages"]["torch"]:
        import torch

        if torch.cuda.is_available():
            devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    info["devices"] = devices
    needs = {"mediapipe": ["mediapipe", "ai_edge_litert"], "rtmpose": ["onnxruntime"], "yolo": ["ultralytics"]}
    info["backends"] = {name: {"packages": all(info["packages"].get(m) for m in needs.get(name, []))}
                        for name in BACKENDS}
    info["weights"] = {name: (str(find(name)) if find(name) else ("bundled" if w.bundled_with else None))
                       for name, w in WEIGHTS.items()}
    return info


def run_info(json_out: bool) -> int:
    info = collect_info()
    if json_out:
        print(json.dumps(info, indent=2))
        return 0
    stdout.print(f"vid2pose {info['vid2pose']}  Python {info['python']}  {info['platform']}")
    stdout.print("devices: " + ", ".join(info["devices"]))
    t = Table(title="packages")
    t.add_column("package")
    t.add_column("version")
    for k, v in info["packages"].items():
        t.add_row(k, v or "[dim]not installed[/]")
    stdout.print(t)
    t = Table(title="2D backends")
    t.add_column("backend")
    t.add_column("packages")
    for k, v in info["backends"].items():
        t.add_row(k, "[green]installed[/]" if v["packages"] else "[red]missing[/]")
    stdout.print(t)
    stdout.print("weights: run `vid2pose weights`")
    return 0


def run_weights(json_out: bool) -> int:
    import vid2pose.lift.registry  # noqa: F401  (registers the lifters' weights)
    from vid2pose.weights import WEIGHTS, find

    rows = []
    for name, w in WEIGHTS.items():
        path = find(name)
        status = "present" if path else ("bundled" if w.bundled_with else "missing")
        rows.append({"name": name, "task": w.task, "status": status, "file": w.filename,
                     "path": str(path) if path else None, "source": w.source, "licence": w.licence,
                     "description": w.description})
    if json_out:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title="models vid2pose knows (files go in weights/ or ~/.cache/vid2pose/weights)")
    for col in ("name", "task", "status", "file", "licence", "source"):
        t.add_column(col, overflow="fold")
    colour = {"present": "green", "bundled": "green", "missing": "yellow"}
    for r in rows:
        t.add_row(r["name"], r["task"], f"[{colour[r['status']]}]{r['status']}[/]", r["file"], r["licence"],
                  r["source"])
    stdout.print(t)
    return 0
