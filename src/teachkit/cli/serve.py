"""``teachkit serve-fake``: the fake OpenAI/Anthropic-compatible server from the shell."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from teachkit.errors import EnvironmentFault

__all__ = ["register", "serve_fake"]


def _listen_fault(exc: OSError, host: str, port: int) -> EnvironmentFault:
    """A sentence for a server that cannot listen on ``host:port``."""
    where = f"{host}:{port}"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        message = (
            f"The fake server cannot listen on {where}: {host!r} is not an address of this "
            "machine. Use --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every "
            "interface)."
        )
    elif exc.errno == errno.EADDRINUSE:
        message = (
            f"The fake server cannot listen on {where}: the port is in use by another program. "
            "Pick another with --port, or --port 0 for a free one."
        )
    elif exc.errno in (errno.EACCES, errno.EPERM):
        message = (
            f"The fake server may not listen on {where} (ports below 1024 need privileges). "
            "Pick a port above 1024 with --port."
        )
    else:
        message = f"The fake server cannot listen on {where}: {exc.strerror or exc}."
    return EnvironmentFault(message, host=host, port=port)


_RATE = "Share of API requests (0..1) answered with"


def serve_fake(
    port: Annotated[
        int, typer.Option(help="Port to listen on (0 picks a free one).", min=0, max=65535)
    ] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    latency: Annotated[float, typer.Option(help="Seconds before each answer.")] = 0.0,
    jitter: Annotated[float, typer.Option(help="Random +- seconds added to the latency.")] = 0.0,
    capacity: Annotated[
        int | None,
        typer.Option(help="Answer this many requests at once and queue the rest.", min=1),
    ] = None,
    script: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON mapping of regular expressions (matched against the last user "
            "message) to an answer or a list of answers used in turn.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    rate_429: Annotated[float, typer.Option("--rate-429", help=f"{_RATE} 429.")] = 0.0,
    rate_500: Annotated[float, typer.Option("--rate-500", help=f"{_RATE} 500.")] = 0.0,
    rate_503: Annotated[float, typer.Option("--rate-503", help=f"{_RATE} 503 (529).")] = 0.0,
    rate_drop: Annotated[float, typer.Option(help=f"{_RATE} a dropped connection.")] = 0.0,
    rate_hang: Annotated[float, typer.Option(help=f"{_RATE} a long stall.")] = 0.0,
    rate_truncated: Annotated[
        float, typer.Option(help=f"{_RATE} an answer cut short (finish_reason length).")
    ] = 0.0,
    rate_malformed: Annotated[float, typer.Option(help=f"{_RATE} a body cut mid-JSON.")] = 0.0,
    rate_error200: Annotated[
        float,
        typer.Option(
            "--rate-error200", help=f"{_RATE} HTTP 200 with an error body echoing the key."
        ),
    ] = 0.0,
    first: Annotated[
        str, typer.Option(help="Comma-separated fates of the first requests, e.g. 429,500,ok.")
    ] = "",
    retry_after: Annotated[
        float, typer.Option(help="Retry-After seconds sent with 429 and 503.")
    ] = 1.0,
    no_retry_after: Annotated[
        bool, typer.Option("--no-retry-after", help="Send 429 and 503 without Retry-After.")
    ] = False,
    hang_seconds: Annotated[float, typer.Option(help="How long a stall lasts.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed of the fault and jitter draws.")] = 0,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Require the API key held in this environment variable."),
    ] = None,
) -> None:
    """Serve a fake OpenAI-compatible (and Anthropic Messages) API for tests and benchmarks.

    Prints its URL once listening. Use URL/v1 as teacher.base_url for openai, URL for anthropic.
    GET /_stats returns the request counters.
    """
    from teachkit.testing import FakeServer, FaultPlan, load_script, serve_forever

    try:
        faults = FaultPlan(
            rate_429=rate_429,
            rate_500=rate_500,
            rate_503=rate_503,
            rate_drop=rate_drop,
            rate_hang=rate_hang,
            rate_truncated=rate_truncated,
            rate_malformed=rate_malformed,
            rate_error200=rate_error200,
            first=tuple(f.strip() for f in first.split(",") if f.strip()),
            retry_after=None if no_retry_after else retry_after,
            hang_seconds=hang_seconds,
            seed=seed,
        )
        rules = load_script(script) if script is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise typer.BadParameter(f"the environment variable {api_key_env} is not set")
    try:
        server = FakeServer(
            rules,
            latency=latency,
            jitter=jitter,
            faults=faults,
            host=host,
            port=port,
            api_key=api_key,
            capacity=capacity,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        serve_forever(server, lambda url: print(url, flush=True))
    except OSError as exc:
        raise _listen_fault(exc, host, port) from None


def register(app: typer.Typer) -> None:
    """Add the ``serve-fake`` command to the root CLI."""
    app.command("serve-fake")(serve_fake)
