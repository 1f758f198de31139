"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import SHARED_DATA, ScriptedBackend, echo_answer


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
