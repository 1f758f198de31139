"""Header parsing, key resolution and URL hygiene of the shared HTTP layer."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teachkit.errors import ConfigError
from teachkit.teachers.http import (
    is_local_url,
    parse_duration,
    parse_limits,
    parse_retry_after,
    resolve_api_key,
    safe_url,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("6m0s", 360.0),
        ("1h2m3s", 3723.0),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=59))
def test_parse_duration_minutes_and_seconds(minutes: int, secs: int) -> None:
    assert parse_duration(f"{minutes}m{secs}s") == minutes * 60 + secs


def test_parse_duration_timestamps_are_seconds_from_now() -> None:
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
    assert 25 <= (parse_duration(later) or 0) <= 31
    assert 25 <= (parse_duration(formatdate(time.time() + 30, usegmt=True)) or 0) <= 31
    assert parse_duration("2001-01-01T00:00:00Z") == 0.0  # in the past: no wait


def test_parse_retry_after_prefers_milliseconds() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    assert parse_retry_after({}) is None


def test_parse_limits_reads_anthropic_headers() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
    }
    assert parse_limits(headers) == {"limit_requests": 50.0, "remaining_requests": 0.0}
    assert parse_limits({"content-type": "application/json"}) is None


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:8000/v1", True),
        ("http://127.0.0.1:1234", True),
        ("http://127.9.9.9", True),
        ("http://[::1]:8080/v1", True),
        ("http://0.0.0.0:8000/v1", True),
        ("http://api.localhost", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5:8000", False),
        ("http://localhost.example.com", False),
    ],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


def test_safe_url_drops_credentials_and_query() -> None:
    assert safe_url("https://user:pw@example.com/v1?key=abc") == "https://example.com/v1"


def test_resolve_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_KEY", "  sk-value  ")
    assert resolve_api_key("openai", "https://api.example.com", "SOME_KEY") == "sk-value"
    monkeypatch.setenv("SOME_KEY", "")  # empty counts as unset
    assert resolve_api_key("openai", "http://localhost:8000", "SOME_KEY") is None
    with pytest.raises(ConfigError) as caught:
        resolve_api_key("openai", "https://api.example.com", "SOME_KEY")
    assert "SOME_KEY" in str(caught.value)
    assert "export SOME_KEY=" in str(caught.value)
