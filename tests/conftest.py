"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from support import SHARED_DATA, ScriptedBackend, echo_answer

# CI shares two cores with subprocess tests: judge property tests by their examples, not by time
settings.register_profile(
    "teachkit", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("teachkit")


@pytest.fixture
def scripted() -> Iterator[Any]:
    """The scripted backend class, reset; set ``scripted.script = fn`` to change answers."""
    ScriptedBackend.calls = []
    ScriptedBackend.script = staticmethod(echo_answer)
    yield ScriptedBackend
    ScriptedBackend.calls = []
    ScriptedBackend.script = staticmethod(echo_answer)


@pytest.fixture
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"the shared data folder is missing at {SHARED_DATA}"
    return SHARED_DATA
