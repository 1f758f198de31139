"""Environment faults and hostile inputs end in a sentence and a documented exit code, never in
"Unexpected error" (exit 70) or a traceback, and nothing is created before validation passes."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest
import yaml

from teachkit.cli import environment_fault, main

RECIPE = {
    "name": "faults",
    "teacher": {"backend": "scripted"},
    "generator": {"kind": "templated", "count": 2, "axes": {"x": ["a", "b"]}, "prompt": "{{ x }}!"},
}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Unexpected error" not in text and "Traceback" not in text, text
    return code, text


def write_recipe(folder: Path, **changes: object) -> Path:
    data = {**RECIPE, **changes}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "is full"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "Permission"),
        (errno.ENOTDIR, "is a file, not a folder"),
        (errno.EISDIR, "is a folder where a file is needed"),
        (errno.EMFILE, "Too many files"),
        (errno.EHOSTDOWN, "refused an operation"),
    ],
)
def test_every_os_error_becomes_a_sentence_naming_the_path(code: int, words: str) -> None:
    fault = environment_fault(OSError(code, os.strerror(code), "/data/runs/x"))
    assert words in str(fault)
    assert fault.exit_code == 11
    if code != errno.EMFILE:
        assert "/data/runs/x" in str(fault)


def test_a_full_disk_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_cli(["init", "/dev/full", "--force"], capsys)
    assert code == 11 and "is full" in text and "/dev/full" in text


def test_init_under_a_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    code, text = run_cli(["init", str(tmp_path / "afile" / "sub" / "demo.yaml")], capsys)
    assert code == 11 and "is a file" in text
    assert sorted(os.listdir(tmp_path)) == ["afile"]
    (tmp_path / "folder").mkdir()
    code, text = run_cli(["init", str(tmp_path / "folder"), "--force"], capsys)
    assert code == 11 and "is a folder" in text


@pytest.mark.parametrize(
    ("setup", "expected_code", "words"),
    [
        ("random", 4, "is not an SQLite file"),
        ("folder", 11, "is a folder"),
        ("under_file", 11, "is a file, not a folder"),
    ],
)
def test_a_bad_cache_is_a_sentence(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scripted: object,
    setup: str,
    expected_code: int,
    words: str,
) -> None:
    recipe = write_recipe(tmp_path)
    cache = tmp_path / "cache.sqlite"
    if setup == "random":
        cache.write_bytes(os.urandom(4096))
    elif setup == "folder":
        cache.mkdir()
    else:
        (tmp_path / "blocker").write_text("x")
        cache = tmp_path / "blocker" / "cache.sqlite"
    args = ["run", str(recipe), "--out", str(tmp_path / "run"), "--cache", str(cache), "-q"]
    code, text = run_cli(args, capsys)
    assert code == expected_code and words in text


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"seed": 2**64}, "seed"),
        ({"seed": -(2**64)}, "seed"),
        ({"teacher": {"backend": "scripted", "sampling": {"seed": 2**70}}}, "seed"),
        ({"generator": {**RECIPE["generator"], "prompt": "{% include 'x' %}"}}, "include"),
        ({"generator": {**RECIPE["generator"], "prompt": "{% import 'x' as y %}"}}, "import"),
        (
            {"generator": {**RECIPE["generator"], "prompt": "{{ range(2**64)|length }}{{ x }}"}},
            "range",
        ),
        ({"generator": {**RECIPE["generator"], "prompt": "{{ lipsum('x') }}{{ x }}"}}, "lipsum"),
        ({"generator": {**RECIPE["generator"], "prompt": "{{ lipsum(10**9) }}{{ x }}"}}, "limit"),
    ],
)
@pytest.mark.parametrize("dry", [True, False])
def test_invalid_recipes_fail_before_the_run_directory_exists(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scripted: object,
    changes: dict[str, object],
    words: str,
    dry: bool,
) -> None:
    recipe = write_recipe(tmp_path, **changes)
    args = ["run", str(recipe), "--out", str(tmp_path / "run"), "-q"] + (
        ["--dry-run"] if dry else []
    )
    code, text = run_cli(args, capsys)
    assert code == 2, text
    assert words in text
    assert not (tmp_path / "run").exists()


def test_serve_fake_refuses_bad_ports_hosts_and_scripts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = run_cli(["serve-fake", "--port", "70000"], capsys)
    assert code == 2 and "--port" in text and "65535" in text
    code, text = run_cli(["serve-fake", "--port", "0", "--host", "no-such-host.invalid"], capsys)
    assert code == 11 and "not an address of this machine" in text
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = run_cli(["serve-fake", "--port", str(port)], capsys)
    assert code == 11 and "in use" in text
    script = tmp_path / "script.yaml"
    script.write_text('"([unclosed": "answer"\n')
    code, text = run_cli(["serve-fake", "--port", "0", "--script", str(script)], capsys)
    assert code == 2 and "not a valid regular expression" in text
    script.write_text("a: [b\n")
    code, text = run_cli(["serve-fake", "--port", "0", "--script", str(script)], capsys)
    assert code == 2 and "not valid YAML" in text
    code, text = run_cli(["serve-fake", "--port", "0", "--latency", "nan"], capsys)
    assert code == 2 and "latency" in text
