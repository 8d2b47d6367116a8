"""Runs a per-video function over one input or a folder of them.

Exit codes: 0 all done (or skipped), 1 at least one input failed, 2 usage error.
One bad file never stops the batch; --skip-existing resumes an interrupted run
(outputs are written atomically, so an existing output is a complete one).
"""
from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from vid2pose.errors import EXIT_FAILED, EXIT_OK, UsageError, Vid2PoseError
from vid2pose.progress import Reporter, stderr
from vid2pose.video import has_glob, is_image_file, is_video_file, list_images


@dataclass
class Job:
    spec: str | list[Path]  # what open_source() takes
    label: str  # shown to the user: the path relative to the input folder
    output: Path
    overlay: Path | None = None
    marker: Path | None = None  # the file written last; its existence means the job finished

    def done(self) -> bool:
        return (self.marker or self.output).exists()


@dataclass
class JobResult:
    input: str
    output: str
    status: str  # ok | failed | skipped
    error: str = ""
    frames: int = 0
    frames_with_person: int = 0
    people: int = 0
    seconds: float = 0.0


@dataclass
class BatchResult:
    batch: bool
    results: list[JobResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.count("failed") else EXIT_OK

    def as_dict(self) -> dict:
        return {"ok": self.count("ok"), "failed": self.count("failed"), "skipped": self.count("skipped"),
                "files": [asdict(r) for r in self.results]}


def _is_json(p: Path) -> bool:
    return p.suffix.lower() == ".json"


def _videos_in(folder: Path, recursive: bool, accept=is_video_file) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and accept(p) and not p.name.startswith("."))


def plan_jobs(inputs: Sequence[str], out: Path | None, overlay: Path | None, recursive: bool,
              suffix: str = ".json", kind: str = "video") -> tuple[list[Job], bool]:
    """Turn the command line's inputs into jobs. Returns (jobs, is_batch).

    kind "video": videos, image folders and globs; kind "json": vid2pose JSON files (for `lift`).
    """
    accept = _is_json if kind == "json" else is_video_file
    what = "JSON files" if kind == "json" else "videos"
    if not inputs:
        raise UsageError("give a video, a folder of videos, a folder of images, or an image glob"
                         if kind == "video" else "give a vid2pose JSON file or a folder of them")
    paths = [Path(s).expanduser() for s in inputs]
    # A single video / image folder / glob: one job, --out is a file.
    single = None
    if kind == "json":
        if len(inputs) == 1 and paths[0].is_file():
            single = inputs[0]
        elif len(inputs) == 1 and not paths[0].exists():
            raise UsageError(f"{inputs[0]}: no such file or folder")
    elif len(inputs) == 1:
        s, p = inputs[0], paths[0]
        if has_glob(s) and not p.exists():
            single = s
        elif not p.exists():
            raise UsageError(f"{s}: no such file or folder")
        elif p.is_file():
            single = s
        elif not _videos_in(p, recursive, accept) and list_images(p):
            single = s
    elif all(p.is_file() and is_image_file(p) for p in paths):
        single = sorted(paths)  # the shell expanded an image glob
    if single is not None:
        name = Path(inputs[0]).stem if isinstance(single, str) and not has_glob(single) else "frames"
        if isinstance(single, str) and Path(single).is_dir():
            name = Path(single).resolve().name
        target = out if out is not None else Path.cwd() / f"{name}{suffix}"
        if target.is_dir():
            target = target / f"{name}{suffix}"
        return [Job(spec=single, label=Path(inputs[0]).name, output=target, overlay=overlay)], False

    # Batch: every video in the folders / list; --out is a folder mirroring the inputs' layout.
    if out is None:
        raise UsageError(f"--out DIR is needed when the input is a folder or several {what}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} must be a folder when the input is a folder or several {what}")
    found: list[tuple[Path, Path]] = []  # (video, path relative to its input)
    for s, p in zip(inputs, paths):
        if not p.exists():
            raise UsageError(f"{s}: no such file or folder")
        if p.is_dir():
            found += [(v, v.relative_to(p)) for v in _videos_in(p, recursive, accept)]
        else:
            found.append((p, Path(p.name)))
    if not found:
        raise UsageError(f"no {what} found in {', '.join(inputs)}"
                         + ("" if recursive else " (add --recursive to look in subfolders)"))
    stems = [rel.with_suffix("") for _, rel in found]
    jobs = []
    for (video, rel), stem in zip(found, stems):
        # clip.mp4 and clip.mov in one folder must not share an output
        base = rel if stems.count(stem) > 1 else stem
        jobs.append(Job(spec=str(video), label=str(rel), output=out / f"{base}{suffix}",
                        overlay=(overlay / f"{base}.overlay.mp4") if overlay is not None else None))
    return jobs, True


def run_jobs(jobs: list[Job], is_batch: bool, work: Callable[[Job, Reporter], object],
             reporter: Reporter, skip_existing: bool = False, debug: bool = False) -> BatchResult:
    """Run ``work`` on each job; failures are recorded, the rest go on. KeyboardInterrupt propagates."""
    result = BatchResult(batch=is_batch)
    with reporter.task("videos", len(jobs)) if is_batch else _null() as advance_all:
        for job in jobs:
            r = JobResult(input=job.label, output=str(job.output), status="ok")
            t0 = time.perf_counter()
            if skip_existing and job.done():
                r.status = "skipped"
                reporter.log(f"[dim]skip[/dim] {job.label} (output exists)")
            else:
                try:
                    rep = work(job, reporter)
                    for k in ("frames", "frames_with_person", "people"):
                        setattr(r, k, getattr(rep, k, 0))
                    reporter.log(f"[green]ok[/green]   {job.label} -> {job.output} "
                                 f"({r.frames} frames, {r.people} {'person' if r.people == 1 else 'people'})")
                except Vid2PoseError as e:
                    if not is_batch:
                        raise
                    r.status, r.error = "failed", str(e)
                    reporter.log(f"[red]fail[/red] {job.label}: {e}")
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # a bug or an unforeseen input: report it, keep the batch going
                    if debug or not is_batch:
                        if debug:
                            stderr.print(traceback.format_exc(), highlight=False)
                        if not is_batch:
                            raise
                    r.status, r.error = "failed", f"internal error: {type(e).__name__}: {e}"
                    reporter.log(f"[red]fail[/red] {job.label}: {r.error}")
            r.seconds = round(time.perf_counter() - t0, 3)
            result.results.append(r)
            advance_all(1)
    return result


class _null:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc):
        return False
