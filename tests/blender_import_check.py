"""Run inside Blender: import a BVH with the importer's default settings, dump what it made.

    blender -b --factory-startup --python-exit-code 1 \
        --python tests/blender_import_check.py -- in.bvh out.json [frame ...]

Writes JSON: Blender and Python versions, the armature's bone names, rest (edit-bone) heads,
the pose-bone head positions in world space at each requested Blender frame, the action's
frame range, the bones' rotation modes, and the scene frame rate after a second import with
"Update Scene FPS" on. Used by tests/test_blender_import.py.
"""

import json
import sys

import bpy


def allow_universal_newline_mode():
    """Work around Debian's Blender 3.4 + Python 3.11 BVH importer bug.

    The bundled importer opens the file with ``open(path, 'rU')``; Python 3.11 removed the
    ``U`` flag (it meant nothing since Python 3.0), so every BVH import fails with
    "ValueError: invalid mode: 'rU'" on Blender builds that run on Python >= 3.11 with that
    importer (Debian bookworm's blender 3.4.1). Dropping the flag for that module only gives
    the importer exactly the behaviour it had on Python 3.10; nothing else changes.
    Returns True when the shim was installed.
    """
    if sys.version_info < (3, 11):
        return False
    import builtins

    from io_anim_bvh import import_bvh

    if "'rU'" not in open(import_bvh.__file__, encoding="utf-8").read():
        return False

    def open_without_u(file, mode="r", *args, **kwargs):
        return builtins.open(file, mode.replace("U", ""), *args, **kwargs)

    import_bvh.open = open_without_u  # module global shadows the builtin for that module only
    return True


def armatures():
    return {o.name for o in bpy.data.objects if o.type == "ARMATURE"}


def main():
    argv = sys.argv[sys.argv.index("--") + 1 :]
    src, out = argv[0], argv[1]
    frames = [int(f) for f in argv[2:]] or [1]
    patched = allow_universal_newline_mode()

    before = armatures()
    result = bpy.ops.import_anim.bvh(filepath=src)  # every option at its default
    if result != {"FINISHED"}:
        raise RuntimeError(f"BVH import returned {result}")
    (name,) = armatures() - before
    arm = bpy.data.objects[name]
    scene = bpy.context.scene

    rest = {b.name: list(arm.matrix_world @ b.head_local) for b in arm.data.bones}
    posed = {}
    for f in frames:
        scene.frame_set(f)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        ev = arm.evaluated_get(depsgraph)
        posed[str(f)] = {pb.name: list(ev.matrix_world @ pb.head) for pb in ev.pose.bones}
    action = arm.animation_data.action
    report = {
        "blender": bpy.app.version_string,
        "python": sys.version.split()[0],
        "patched_open_rU": patched,
        "armature": name,
        "bones": [b.name for b in arm.data.bones],
        "parents": {b.name: (b.parent.name if b.parent else None) for b in arm.data.bones},
        "rotation_modes": {pb.name: pb.rotation_mode for pb in arm.pose.bones},
        "matrix_world": [list(r) for r in arm.matrix_world],
        "action_frame_range": list(action.frame_range),
        "scene_fps_default_import": scene.render.fps / scene.render.fps_base,
        "rest_heads": rest,
        "pose_heads": posed,
    }

    # Not the default: what "Update Scene FPS" makes of our Frame Time.
    bpy.ops.import_anim.bvh(filepath=src, update_scene_fps=True)
    report["scene_fps_after_update"] = scene.render.fps / scene.render.fps_base
    report["scene_fps_int_and_base"] = [scene.render.fps, scene.render.fps_base]

    with open(out, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1)


main()
