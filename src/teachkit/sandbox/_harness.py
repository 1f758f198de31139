"""The test harness program: runs candidate code, then its tests, inside the sandbox.

Standard library only; its text is sent as the program (see ``harness.py``). It reads a JSON
payload from stdin and, before any candidate code runs: takes the report channel (which seals
the process against frame, gc and ctypes introspection), compiles every test, snapshots the
builtins the tests will see, and captures every function it calls later. Only after the last
test does it send the authenticated end marker, built with ``repr`` of exact ``str``/``int``
values, then leaves with ``os._exit``. Candidate code that exits, kills the process or raises
SystemExit never reaches that line.

Where a test failed is found from line numbers alone (no frame access): each test's code
objects are moved (``co_firstlineno``) to a line range of their own, ``offset * (index + 1)``.
"""


def _main() -> None:
    from typing import Any

    import _teachkit_channel  # type: ignore[import-not-found]

    send = _teachkit_channel.take()
    del _teachkit_channel
    import builtins
    import json
    import os
    import sys

    offset = 1000000
    exit_now, base_exc, stop_exc = os._exit, BaseException, (SystemExit, KeyboardInterrupt)
    exec_, repr_, type_, str_, isinstance_ = exec, repr, type, str, isinstance
    len_, enumerate_ = len, enumerate
    memory_exc, assert_exc, syntax_exc = MemoryError, AssertionError, SyntaxError
    str_encode, bytes_decode, object_repr = str.encode, bytes.decode, object.__repr__
    get_tb: Any = BaseException.__dict__["__traceback__"].__get__
    payload = json.loads(sys.stdin.read())
    sys.stdin = open(os.devnull)  # noqa: SIM115
    tests = payload["tests"]

    def clean(value: Any, limit: int = 300) -> str:
        """An exact ``str`` (no subclass whose methods could run candidate code)."""
        try:
            if type_(value) is not str_:
                value = object_repr(value)
            return bytes_decode(str_encode(value, "utf-8", "replace"), "utf-8", "replace")[:limit]
        except base_exc:
            return "?"

    code_type = type(compiled_probe := compile("", "<probe>", "exec"))
    del compiled_probe

    def shifted(code: Any, delta: int) -> Any:
        consts = tuple(shifted(c, delta) if type_(c) is code_type else c for c in code.co_consts)
        return code.replace(co_firstlineno=code.co_firstlineno + delta, co_consts=consts)

    def compiled(source: str, name: str, index: int) -> Any:
        """Compiled with its line numbers moved to the range of test ``index``."""
        return shifted(compile(source, name, "exec"), offset * (index + 1) - 1)

    def failure(exc: BaseException) -> tuple[str, str, str]:
        """(reason, detail, failing test line) for an exception raised by candidate or test."""
        if isinstance_(exc, stop_exc):
            return "exited_early", clean(type_(exc).__name__), ""
        if isinstance_(exc, memory_exc):
            return "memory", "MemoryError", ""
        try:
            text = clean(str_(exc))
        except base_exc:
            text = ""
        name = clean(type_(exc).__name__, 80)
        detail = name + (": " + text if text else "")
        line, tb = "", get_tb(exc)
        while tb is not None:  # the deepest line of any test (each has its own line range)
            number = tb.tb_lineno
            at = number // offset - 1
            if 0 <= at < len_(sources):
                lines = sources[at].splitlines()
                if number - offset * (at + 1) < len_(lines):
                    line = lines[number - offset * (at + 1)].strip()
            tb = tb.tb_next
        reason = "assertion_failed" if isinstance_(exc, assert_exc) else "error"
        return reason, detail, clean(line)

    results: list[dict[str, Any]] = []
    passed = [0]

    def finish(status: str, **extra: Any) -> None:
        summary = {"status": status, "passed": passed[0], "total": len_(results)}
        summary["results"] = results
        for key, value in extra.items():
            summary[key] = value
        send(b"E", str_encode(repr_(summary)[:200000], "utf-8"))
        exit_now(0)

    if tests.get("asserts") is not None:
        sources = list(tests["asserts"])
    else:
        sources = [tests["source"]]
        if tests.get("entry_point"):
            sources.append("check(" + tests["entry_point"] + ")\n")
    try:
        codes = [compiled(s, "<tests>", i) for i, s in enumerate_(sources)]
    except syntax_exc as exc:
        finish("error", detail="the tests do not compile: " + clean(str_(exc)), stage="tests")
    try:
        code = compile(payload["code"], "<candidate>", "exec")
    except base_exc as exc:
        finish("syntax_error", detail=clean(repr_(exc)), stage="code")
    test_builtins = dict(builtins.__dict__)
    namespace = {"__name__": "__main__", "__builtins__": dict(test_builtins)}
    send(b"M", b"{'event': 'code'}")
    try:
        exec_(code, namespace)
    except base_exc as exc:
        reason, detail, _ = failure(exc)
        finish("error" if reason == "assertion_failed" else reason, detail=detail, stage="code")
    namespace["__builtins__"] = test_builtins
    single = tests.get("asserts") is None
    if single:
        send(b"M", b"{'start': 0}")
    for index, test in enumerate_(codes):
        if not single:  # which assert was running when a limit stopped the program
            send(b"M", str_encode(repr_({"start": index}), "utf-8"))
        try:
            exec_(test, namespace)
            if not single:
                results.append({"i": index, "ok": True})
                passed[0] += 1
        except base_exc as exc:
            reason, detail, line = failure(exc)
            results.append(
                {
                    "i": 0 if single else index,
                    "ok": False,
                    "reason": reason,
                    "detail": detail,
                    "line": line,
                }
            )
            if single or reason in ("exited_early", "memory"):
                finish(reason)
    if single:
        results.append({"i": 0, "ok": True})
        passed[0] += 1
    finish("passed" if passed[0] == len_(results) else "failed")


_main()
