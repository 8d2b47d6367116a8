import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))  # for the helpers in tests/support_*.py


@pytest.fixture
def fake_backend(monkeypatch):
    """Register the box-finding test backend as --pose2d fake."""
    from vid2pose import pose2d

    monkeypatch.setitem(pose2d.BACKENDS, "fake", ("support_fake", "create"))
    return "fake"


def pytest_sessionstart(session):
    # CI installs Blender for the import tests; there a missing Blender must fail, not skip.
    import os
    import shutil

    if os.environ.get("VID2POSE_REQUIRE_BLENDER") and shutil.which("blender") is None:
        raise pytest.UsageError("VID2POSE_REQUIRE_BLENDER is set but blender is not on PATH")
