"""Fixtures of the sandbox tests: a real pool, a leak check after every test, a run directory
whose bytes must survive hostile programs, and the gate in front of the dangerous programs."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from teachkit.sandbox import SandboxPool
from teachkit.sandbox.config import UID_BASE


def sandbox_processes() -> list[str]:
    """Live processes that belong to a sandbox: descendants of this test process, or any
    process running as one of the sandbox's host uids."""
    me = os.getpid()
    parents: dict[int, int] = {}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields.get("PPid", "0").strip())
        parents[pid] = ppid
        if fields.get("State", "").strip().startswith("Z"):
            continue  # exited; only an init that never reaps keeps it listed
        uid = int(fields.get("Uid", "0").split()[0])
        if UID_BASE <= uid < UID_BASE + (1 << 24):
            found.append(f"{pid} uid={uid} {fields.get('Name', '').strip()}")
    for pid in parents:
        chain, seen = parents.get(pid), 0
        while chain and chain != me and seen < 64:
            chain, seen = parents.get(chain), seen + 1
        if chain == me and pid != me:
            found.append(f"{pid} child of the test process")
    return sorted(set(found))


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    before = sandbox_processes()
    yield
    left = [p for p in sandbox_processes() if p not in before]
    assert not left, f"processes left behind: {left}"


@pytest.fixture
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool(size=2) as p:
        yield p


@pytest.fixture
async def contained(pool: SandboxPool) -> SandboxPool:
    """The pool, only where a PID namespace and the process limit are confirmed (a fork bomb
    or kill(-1) outside them would take the machine down)."""
    report = await pool.start()
    if not report.strong or "processes" not in report.layers.get("rlimits", ""):
        pytest.skip(f"no PID namespace with a process limit here: missing {report.missing}")
    return pool


@pytest.fixture
def run_dir(tmp_path: Path) -> tuple[Path, Callable[[], dict[str, str]]]:
    """A run directory and cache.sqlite beside it, writable by anyone (so only the sandbox can
    protect them), and a function that hashes every file under tmp_path."""
    run = tmp_path / "runs" / "demo"
    (run / "accepted").mkdir(parents=True)
    (run / "journal.jsonl").write_text('{"job": 1, "committed": true}\n')
    (run / "manifest.json").write_text('{"status": "done"}\n')
    (run / "accepted" / "part-0.jsonl").write_text('{"id": "r1"}\n')
    with sqlite3.connect(run / "cache.sqlite") as db:
        db.execute("create table answers (key text primary key, answer text)")
        db.execute("insert into answers values ('k', 'a paid answer')")
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chmod(path, 0o777 if path.is_dir() else 0o666)

    def snapshot() -> dict[str, str]:
        return {
            str(p.relative_to(tmp_path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tmp_path.rglob("*"))
            if p.is_file()
        }

    return run, snapshot
