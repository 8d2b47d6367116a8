"""The `vid2pose` command line. Parses options, then calls one function per command; no logic here."""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import typer

from vid2pose import __version__
from vid2pose.errors import EXIT_INTERRUPTED, EXIT_USAGE, Vid2PoseError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Turn ordinary videos into human motion: 2D keypoints, 3D joints, BVH, meshes.")

DeviceOpt = typer.Option("auto", "--device", help="auto, cpu or cuda: where network stages run.")
DebugOpt = typer.Option(False, "--debug", help="Show full tracebacks.")


def _version(value: bool) -> None:
    if value:
        print(f"vid2pose {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


@app.command()
def pose2d(
    inputs: List[str] = typer.Argument(..., help="Video file(s), a folder of videos, a folder of images or an image glob."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output JSON file, or a folder for several videos."),
    backend: str = typer.Option("mediapipe", "--pose2d", help="2D backend: mediapipe (default, offline), rtmpose, yolo."),
    backend_weights: Optional[Path] = typer.Option(None, "--pose2d-weights", help="Model file for the 2D backend."),
    trust_weights: bool = typer.Option(False, "--trust-weights", help="Allow weights files that need full unpickling (only for files you trust)."),
    person: str = typer.Option("main", "--person", help="main (most present, largest person), all, or a track ID."),
    start: Optional[float] = typer.Option(None, "--start", help="Start time in seconds."),
    end: Optional[float] = typer.Option(None, "--end", help="End time in seconds."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="Also write the video with skeletons drawn (a folder in batch mode)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look for videos in subfolders too."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip inputs whose output already exists (resume)."),
    json_summary: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate of image sequences."),
    batch_size: int = typer.Option(8, "--batch-size", help="Frames given to the 2D network at once."),
    device: str = DeviceOpt,
    debug: bool = DebugOpt,
) -> None:
    """Find every person in every frame and write their 2D keypoints to JSON."""
    from vid2pose.commands import run_pose2d

    code = run_pose2d(inputs=inputs, out=out, backend=backend, backend_weights=backend_weights,
                      trust_weights=trust_weights, person=person,
                      start=start, end=end, overlay=overlay, recursive=recursive, skip_existing=skip_existing,
                      json_summary=json_summary, fps=fps, batch_size=batch_size, device=device, debug=debug)
    raise typer.Exit(code)


@app.command()
def lift(
    inputs: List[str] = typer.Argument(..., help="vid2pose JSON file(s) from `pose2d`, or a folder of them."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output JSON (2D + 3D), or a folder."),
    lifter: str = typer.Option("ssr-stf", "--lifter", help="ssr-stf (default), motionagformer-xs/s/b/l, motionbert, motionbert-lite."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file for the lifter."),
    trust_weights: bool = typer.Option(False, "--trust-weights", help="Allow checkpoints that need full unpickling (only files you trust)."),
    height: float = typer.Option(1.70, "--height", help="Person's height in metres: sets the metric scale."),
    focal: Optional[float] = typer.Option(None, "--focal", help="Focal length in pixels (default: 60 degree field of view)."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip", help="Flip test-time averaging (default: as the lifter was released)."),
    swap_repair: bool = typer.Option(True, "--swap-repair/--no-swap-repair", help="Put back left/right limb labels the 2D stage swapped for a few frames."),
    windows: Optional[int] = typer.Option(None, "--windows-per-frame", help="Overlapping windows that lift each frame (default: the lifter's own, 3 for ssr-stf). More is slower and a little more accurate."),
    constant_bones: bool = typer.Option(False, "--constant-bones/--free-bones", help="Give each person one length per bone (the track's medians, left and right averaged) instead of the network's frame-by-frame lengths (the default)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Windows per forward pass."),
    half: bool = typer.Option(False, "--half", help="Half precision (CUDA only)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look for JSON files in subfolders too."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip inputs whose output already exists."),
    json_summary: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    device: str = DeviceOpt,
    debug: bool = DebugOpt,
) -> None:
    """Lift the 2D keypoints of a `pose2d` JSON to metric 3D joints."""
    from vid2pose.commands import run_lift

    raise typer.Exit(run_lift(inputs=inputs, out=out, lifter=lifter, weights=weights, trust_weights=trust_weights,
                              height=height, focal=focal, flip=flip, swap_repair=swap_repair, windows=windows,
                              constant_bones=constant_bones, batch_size=batch_size, half=half,
                              recursive=recursive, skip_existing=skip_existing, json_summary=json_summary,
                              device=device, debug=debug))


@app.command()
def run(
    inputs: List[str] = typer.Argument(..., help="Video file(s), a folder of videos, a folder of images or an image glob."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (poses.json, clip.bvh), or a folder for several videos."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="json (2D + 3D, default) or bvh (one file per person). Default: from --out's suffix."),
    backend: str = typer.Option("mediapipe", "--pose2d", help="2D backend: mediapipe (default, offline), rtmpose, yolo."),
    backend_weights: Optional[Path] = typer.Option(None, "--pose2d-weights", help="Model file for the 2D backend."),
    lifter: str = typer.Option("ssr-stf", "--lifter", help="ssr-stf (default, shipped), motionagformer-xs/s/b/l, motionbert, motionbert-lite."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file for the lifter."),
    trust_weights: bool = typer.Option(False, "--trust-weights", help="Allow weights files that need full unpickling (only files you trust)."),
    person: str = typer.Option("main", "--person", help="main (most present, largest person), all, or a track ID."),
    start: Optional[float] = typer.Option(None, "--start", help="Start time in seconds."),
    end: Optional[float] = typer.Option(None, "--end", help="End time in seconds."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="Also write the video with 2D skeletons and a 3D view beside it (a folder in batch mode)."),
    height: float = typer.Option(1.70, "--height", help="Person's height in metres: sets the metric scale."),
    focal: Optional[float] = typer.Option(None, "--focal", help="Focal length in pixels (default: 60 degree field of view)."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip", help="Flip test-time averaging (default: as the lifter was released)."),
    swap_repair: bool = typer.Option(True, "--swap-repair/--no-swap-repair", help="Put back left/right limb labels the 2D stage swapped for a few frames."),
    windows: Optional[int] = typer.Option(None, "--windows-per-frame", help="Overlapping windows that lift each frame (default: the lifter's own, 3 for ssr-stf). More is slower and a little more accurate."),
    constant_bones: bool = typer.Option(False, "--constant-bones/--free-bones", help="Give each person one length per bone (the track's medians, left and right averaged) instead of the network's frame-by-frame lengths (the default)."),
    units: str = typer.Option("m", "--units", help="BVH lengths: m or cm."),
    root_motion: bool = typer.Option(True, "--root-motion/--in-place", help="BVH root follows the person's path, or stays in place."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look for videos in subfolders too."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip inputs whose output already exists (resume)."),
    json_summary: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate of image sequences."),
    batch_size: int = typer.Option(8, "--batch-size", help="Frames given to the 2D network at once."),
    lift_batch_size: int = typer.Option(64, "--lift-batch-size", help="Windows per forward pass of the lifter."),
    half: bool = typer.Option(False, "--half", help="Half precision for the lifter (CUDA only)."),
    device: str = DeviceOpt,
    debug: bool = DebugOpt,
) -> None:
    """Video to metric 3D joints: people, 2D keypoints, 3D lifting, then JSON or BVH."""
    from vid2pose.commands import run_video

    raise typer.Exit(run_video(inputs=inputs, out=out, fmt=fmt, backend=backend, backend_weights=backend_weights,
                               lifter=lifter, weights=weights, trust_weights=trust_weights, person=person,
                               start=start, end=end, overlay=overlay, height=height, focal=focal, flip=flip,
                               swap_repair=swap_repair, windows=windows, constant_bones=constant_bones,
                               units=units, root_motion=root_motion, recursive=recursive,
                               skip_existing=skip_existing, json_summary=json_summary, fps=fps,
                               batch_size=batch_size, lift_batch_size=lift_batch_size, half=half, device=device,
                               debug=debug))


@app.command()
def export(
    inputs: List[str] = typer.Argument(..., help="vid2pose JSON file(s) with 3D (from `run` or `lift`), or a folder of them."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (clip.bvh), or a folder."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="bvh (one file per person). Default: from --out's suffix, else bvh."),
    units: str = typer.Option("m", "--units", help="BVH lengths: m or cm."),
    root_motion: bool = typer.Option(True, "--root-motion/--in-place", help="BVH root follows the person's path, or stays in place."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look for JSON files in subfolders too."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip inputs whose output already exists."),
    json_summary: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    debug: bool = DebugOpt,
) -> None:
    """Convert a JSON with 3D joints to another format (BVH for Blender and other animation tools)."""
    from vid2pose.commands import run_export

    raise typer.Exit(run_export(inputs=inputs, out=out, fmt=fmt, units=units, root_motion=root_motion,
                                recursive=recursive, skip_existing=skip_existing, json_summary=json_summary,
                                debug=debug))


@app.command()
def mesh(
    inputs: List[str] = typer.Argument(..., help="Video file(s), a folder of videos, a folder of images or an image glob."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (per video a folder in batch mode)."),
    fmt: str = typer.Option("obj", "--format", "-f", help="Mesh files: obj, ply or glb (one per frame per person)."),
    npz: bool = typer.Option(True, "--npz/--no-npz", help="Also write person_<ID>.npz with every frame's vertices."),
    body: str = typer.Option("anny", "--body", help="anny (default: open body posed from the 3D joints) or glot (GLoT + SMPL, your files)."),
    glot_weights: Optional[Path] = typer.Option(None, "--glot-weights", help="GLoT checkpoint (default: weights/table1_3dpw_weights.pth.tar)."),
    spin_weights: Optional[Path] = typer.Option(None, "--spin-weights", help="SPIN ResNet-50 checkpoint (default: weights/spin_model_checkpoint.pth.tar)."),
    smpl_dir: Optional[Path] = typer.Option(None, "--smpl-dir", help="Folder with SMPL_NEUTRAL.pkl and the J_regressor files (default: weights/smpl/)."),
    backend: str = typer.Option("mediapipe", "--pose2d", help="2D backend: mediapipe (default, offline), rtmpose, yolo."),
    backend_weights: Optional[Path] = typer.Option(None, "--pose2d-weights", help="Model file for the 2D backend."),
    lifter: str = typer.Option("ssr-stf", "--lifter", help="3D lifter (see `vid2pose run`)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file for the lifter."),
    trust_weights: bool = typer.Option(False, "--trust-weights", help="Allow weights files that need full unpickling (only files you trust)."),
    person: str = typer.Option("main", "--person", help="main (most present, largest person), all, or a track ID."),
    start: Optional[float] = typer.Option(None, "--start", help="Start time in seconds."),
    end: Optional[float] = typer.Option(None, "--end", help="End time in seconds."),
    height: float = typer.Option(1.70, "--height", help="Person's height in metres: sets the metric scale."),
    focal: Optional[float] = typer.Option(None, "--focal", help="Focal length in pixels (default: 60 degree field of view)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Look for videos in subfolders too."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip inputs whose output already exists (resume)."),
    json_summary: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate of image sequences."),
    batch_size: int = typer.Option(8, "--batch-size", help="Frames given to the 2D network at once."),
    device: str = DeviceOpt,
    debug: bool = DebugOpt,
) -> None:
    """Body meshes per frame per person: the open anny body posed from the 3D joints, or GLoT + SMPL."""
    from vid2pose.mesh.mesh_run import run_mesh

    raise typer.Exit(run_mesh(inputs=inputs, out=out, fmt=fmt, npz=npz, body_name=body, glot_weights=glot_weights,
                              spin_weights=spin_weights, smpl_dir=smpl_dir, backend=backend,
                              backend_weights=backend_weights, lifter=lifter, weights=weights,
                              trust_weights=trust_weights, person=person, start=start, end=end, height=height,
                              focal=focal, recursive=recursive, skip_existing=skip_existing,
                              json_summary=json_summary, fps=fps, batch_size=batch_size, device=device,
                              debug=debug))


@app.command("train-lifter")
def train_lifter(
    data: List[Path] = typer.Option(..., "--data", help="Motion-capture folder (BVH, .bvh.gz, ASF/AMC); repeat for several."),
    out: Path = typer.Option(..., "--out", "-o", help="Weights file to write (a model card .md is written beside it)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON config (configs/ssr-stf-one-run.yaml: the shipped weights' recipe in one run)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint."),
    cmu_only: bool = typer.Option(False, "--cmu-only", help="Train on the CMU data only (free for any use; leaves out CC BY-NC data)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Checkpoints folder (default ~/.cache/vid2pose/train-runs/NAME)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training steps (default: the config's; its 'steps: auto' fits them to its time budget)."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Wall time for training, evaluation and the model card: "
                                            "the step count is fitted to it (instead of --steps or the config's); with --resume, "
                                            "the time from now on."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from these lifter weights (fine-tuning, e.g. on your own mocap); same architecture as the config's."),
    device: str = DeviceOpt,
) -> None:
    """Train the SSR-STF lifter on motion capture (virtual cameras, 2D noise model), then evaluate it."""
    from vid2pose.train.commands import run_train_lifter

    raise typer.Exit(run_train_lifter(data, out, config, seed, resume, cmu_only, device, run_dir, steps, init=init,
                                      minutes=minutes))


@app.command("eval-lifter")
def eval_lifter(
    weights_file: Path = typer.Argument(..., help="A vid2pose lifter weights file (e.g. weights/ssr-stf.pt)."),
    data: List[Path] = typer.Option(..., "--data", help="Motion-capture folder; its held-out performers are evaluated."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config (default: the one stored in the weights)."),
    cmu_only: bool = typer.Option(False, "--cmu-only", help="Evaluate on the CMU part only."),
    json_out: bool = typer.Option(False, "--json", help="Also print the metrics as JSON on stdout."),
    exact_2d: bool = typer.Option(False, "--exact-2d", help="Feed the true 2D projections, noise model off: the "
                                  "lifter's ceiling (the literature's ground-truth-2D protocol)."),
) -> None:
    """MPJPE, P-MPJPE, N-MPJPE and acceleration error on the held-out performers, per source."""
    from vid2pose.train.commands import run_eval_lifter

    raise typer.Exit(run_eval_lifter(weights_file, data, config, json_out, cmu_only, exact_2d=exact_2d))


@app.command()
def info(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Versions, devices, and which backends and weights are available."""
    from vid2pose.commands import run_info

    raise typer.Exit(run_info(json_out))


@app.command()
def weights(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every model the tool knows: present or missing, file name, source and licence."""
    from vid2pose.commands import run_weights

    raise typer.Exit(run_weights(json_out))


def main() -> None:
    debug = "--debug" in sys.argv
    import os

    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # FFmpeg/OpenCV warnings would bury our one-line errors
    try:
        code = app(standalone_mode=False)
    except Vid2PoseError as e:
        if debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        code = e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as e:
        # Typer's parser errors (its click may be vendored: recognise them by shape, not by import).
        if type(e).__name__ == "Abort":
            print("interrupted", file=sys.stderr)
            code = EXIT_INTERRUPTED
        elif hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            code = e.exit_code  # 2 for usage errors
        else:
            if debug:
                traceback.print_exc()
            print(f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)",
                  file=sys.stderr)
            code = 1
    sys.exit(code if isinstance(code, int) else 0)
