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
