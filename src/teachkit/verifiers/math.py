"""The ``math`` verifier: the final answer of a worked solution against a reference answer.

The answer is extracted from the record's text (``\\boxed{...}``, GSM8K's ``#### 42``, "The answer
is ...", or regexes of the recipe's own), then compared with the reference (``meta.answer`` by
default) by Math-Verify, so ``\\frac{1}{2}`` equals ``0.5``, ``[1,2)`` differs from ``(1,2)``,
``\\{1,2\\}`` equals ``\\{2,1\\}`` and ``3\\text{ cm}`` equals ``3``::

    filters:
      - kind: verify
        verifier: {kind: math, reference_field: meta.answer, timeout: 5}

Math-Verify bounds its own work with ``SIGALRM``, which only works in the main thread of the main
interpreter (off it, it raises). teachkit switches that off (``parsing_timeout=None``,
``timeout_seconds=None``) and runs the comparison in a small pool of worker processes instead: each
comparison has a hard wall-clock timeout after which its worker is killed and replaced, plus an
address-space and CPU limit inside the worker, so a hostile answer such as ``9^{9^{9^{9}}}`` costs
one timeout and never a stuck thread. Workers get no environment variables (no secrets).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import queue
import re
import select
import subprocess
import sys
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from teachkit.errors import EnvironmentFault, MissingExtraError
from teachkit.records import FieldRef, Record, field_text
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase

__all__ = ["MathSpec", "MathVerifier", "compare_answers", "extract_answer", "find_boxed"]

log = logging.getLogger("teachkit")

Extractor = Literal["boxed", "hashes", "answer_is"]
_EXTRACTORS: tuple[Extractor, ...] = ("boxed", "hashes", "answer_is")

_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE = re.compile(r"\\boxed[ \t]+([^\s${}]+)")
_HASHES = re.compile(r"####[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ANSWER_IS = re.compile(
    r"\b(?:final[ \t]+)?answer\b[ \t*]*(?:is\b[ \t]*:?|:|=)[ \t*]*(.+)", re.IGNORECASE
)
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
#: a number followed by plain words ("18 dollars", "1/2 cup", "50 percent")
_NUMBER_WORDS = re.compile(
    r"^(?P<num>[-+]?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s*(?P<pct>%|percent\b)?\s*[A-Za-z][A-Za-z\s./]*$"
)
#: how long a new worker may take to import Math-Verify and SymPy
_STARTUP_SECONDS = 120.0


# --- extraction ---------------------------------------------------------------------------------
def find_boxed(text: str, which: Literal["last", "first"] = "last") -> str | None:
    """The content of the last (or first) ``\\boxed{...}`` / ``\\fbox{...}`` in ``text``, with
    nested braces and escaped braces (``\\{``) handled; None when there is no balanced box."""
    found: list[tuple[int, str]] = []
    for match in _BOX_START.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            char = text[i]
            if char == "\\":
                i += 2
                continue
            depth += {"{": 1, "}": -1}.get(char, 0)
            i += 1
        if depth == 0:
            found.append((match.start(), text[match.end() : i - 1]))
    found += [(m.start(), m[1]) for m in _BOX_BARE.finditer(text)]
    if not found:
        return None
    found.sort()
    return (found[-1] if which == "last" else found[0])[1]


def _last_group(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for match in pattern.finditer(text):
        last = match
    if last is None:
        return None
    if "answer" in pattern.groupindex:
        return last["answer"]
    return last[1] if pattern.groups else last[0]


def _clean(answer: str | None) -> str | None:
    if answer is None:
        return None
    answer = answer.strip().strip("*").strip()
    while answer.endswith((".", ",", ";")) and not answer.endswith("\\."):
        answer = answer[:-1].rstrip()
    return answer or None


def extract_answer(
    text: str,
    *,
    patterns: list[re.Pattern[str]] | None = None,
    extract: list[Extractor] | None = None,
    box: Literal["last", "first"] = "last",
    last_number: bool = False,
) -> tuple[str, str] | None:
    """``(answer, how)``: the final answer of a worked solution and the method that found it.

    The recipe's ``patterns`` are tried first, in order (the group named ``answer``, else group 1,
    else the whole match; the last match in the text wins), then the built-in extractors in the
    order of ``extract`` (default: boxed, hashes, answer_is), then, when ``last_number`` is set,
    the last number in the text. None when nothing is found.
    """
    for index, pattern in enumerate(patterns or []):
        found = _clean(_last_group(pattern, text))
        if found:
            return found, f"pattern:{index}"
    for method in extract if extract is not None else _EXTRACTORS:
        if method == "boxed":
            found = _clean(find_boxed(text, box))
        else:
            found = _clean(_last_group(_HASHES if method == "hashes" else _ANSWER_IS, text))
        if found:
            return found, method
    if last_number:
        found = _clean(_last_group(_NUMBER, text))
        if found:
            return found, "last_number"
    return None


def as_math(answer: str) -> str:
    """The text Math-Verify parses for one answer: LaTeX wrapped in ``$...$`` (unless it already
    has delimiters or a box), a number followed by plain words reduced to the number."""
    answer = answer.strip()
    if "\\boxed" in answer or "\\(" in answer or "\\[" in answer:
        return answer
    unescaped = len(re.findall(r"(?<!\\)\$", answer))
    if unescaped >= 2 and answer.startswith("$"):
        return answer
    if unescaped:  # a currency sign, not a delimiter
        answer = re.sub(r"(?<!\\)\$", r"\\$", answer)
    words = _NUMBER_WORDS.match(answer)
    if words:
        answer = words["num"] + ("\\%" if words["pct"] else "")
    return f"${answer}$"


# --- comparison (any thread; no time bound of its own) ------------------------------------------
def compare_answers(
    answer: str,
    reference: str,
    *,
    float_rounding: int = 6,
    numeric_precision: int = 15,
    strict: bool = True,
) -> str:
    """Compare two final answers with Math-Verify; returns a reason slug: ``passed``,
    ``wrong_answer``, ``unparseable_answer`` or ``bad_reference``.

    Math-Verify's signal-based timeouts are switched off, so this gives the same result in any
    thread, and has no time bound: :class:`MathVerifier` runs it in a worker process it can kill.
    """
    import math_verify  # type: ignore[import-untyped]
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    for name in ("math_verify.parser", "math_verify.grader"):  # we bound the time ourselves
        module: Any = sys.modules.get(name)
        if hasattr(module, "TIMEOUT_WARNING_SHOWN"):
            module.TIMEOUT_WARNING_SHOWN = True
    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold = math_verify.parse(as_math(reference), config, parsing_timeout=None)
    if not gold:
        return "bad_reference"
    target = math_verify.parse(as_math(answer), config, parsing_timeout=None)
    if not target:
        return "unparseable_answer"
    same = math_verify.verify(
        gold,
        target,
        float_rounding=float_rounding,
        numeric_precision=numeric_precision,
        strict=strict,
        timeout_seconds=None,
    )
    return "passed" if same else "wrong_answer"


def serve() -> None:
    """A worker process's loop: one JSON job a line on stdin, one JSON answer a line on stdout."""
    import resource

    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints (parsers, warnings) never reach the protocol
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    logging.disable(logging.CRITICAL)
    memory = int(sys.argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj).encode() + b"\n")

    try:
        compare_answers("1", "1")  # imports and warms the parsers
    except ImportError as exc:
        send({"missing": str(exc)})
        return
    except Exception as exc:
        send({"error": f"{type(exc).__name__}: {exc}"})
        return
    send({"ready": True})
    for line in sys.stdin.buffer:
        job = json.loads(line)
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        cpu = int(used + job.pop("timeout") + 2)  # a kernel backstop should the host vanish
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
        try:
            send({"reason": compare_answers(**job)})
        except BaseException as exc:  # MemoryError, RecursionError: a verdict, not a crash
            send({"reason": "error", "error": f"{type(exc).__name__}: {exc}"[:300]})


# --- the worker processes -----------------------------------------------------------------------
class _Worker:
    """One process running :func:`serve`; killed and replaced when a comparison overruns."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        #: set by the pool's close(): no new process, answers in flight are abandoned
        self.closed = False
        self._buffer = b""

    def spawn(self) -> None:
        if self.closed:
            return
        code = (
            "import sys; sys.path[:0] = sys.argv[2:]; "
            "from teachkit.verifiers.math import serve; serve()"
        )
        paths = [p for p in sys.path if isinstance(p, str) and p]
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", code, str(self.memory_mb), *paths],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},
            start_new_session=True,
            bufsize=0,
        )
        self.ready, self._buffer = False, b""

    def signal(self) -> None:
        """Kill the process but leave its pipes to the thread that may be reading them."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next answer; ``{}`` when the process ended, None when ``deadline`` passed."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return {}
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _start(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.spawn()
        if self.ready or self.proc is None:
            return
        hello = self._read(time.monotonic() + _STARTUP_SECONDS)
        if hello and hello.get("ready"):
            self.ready = True
            return
        if self.closed:
            return
        self.kill()
        if hello and "missing" in hello:
            raise MissingExtraError("math-verify", "math", "The math verifier")
        why = (hello or {}).get("error") or "it exited or did not answer in time"
        raise EnvironmentFault(
            f"The math verifier's worker process could not start ({why}). Check that "
            f"math-verify imports in {sys.executable}, or raise memory_mb "
            f"(now {self.memory_mb}).",
            executable=sys.executable,
        )

    def call(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one comparison with a hard wall-clock ``timeout``."""
        closed = {"reason": "error", "error": "the verifier was closed"}
        for attempt in (0, 1):
            if self.closed:
                return closed
            self._start()
            if self.closed or self.proc is None or self.proc.stdin is None:
                return closed
            try:
                self.proc.stdin.write(json.dumps({**job, "timeout": timeout}).encode() + b"\n")
            except BrokenPipeError:  # it died while idle: start another, once
                self.kill()
                if attempt:
                    raise
                continue
            answer = self._read(time.monotonic() + timeout)
            if answer:
                return answer
            if self.closed:
                return closed
            code = self.proc.poll()
            self.kill()
            self.spawn()  # the replacement warms up while others work
            if answer is None:
                return {"reason": "timeout"}
            return {"reason": "crashed", "error": f"the worker process ended (status {code})"}
        raise AssertionError("unreachable")


def _kill_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.kill()


class _Pool:
    """``size`` workers, each used by one thread of a private executor at a time."""

    def __init__(self, size: int, memory_mb: int) -> None:
        self.workers = [_Worker(memory_mb) for _ in range(size)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self.workers:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(size, thread_name_prefix="teachkit-math")
        self._finalizer = weakref.finalize(self, _kill_all, self.workers)

    def _run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        worker = self._idle.get()
        try:
            return worker.call(job, timeout)
        finally:
            self._idle.put(worker)

    def start(self) -> None:
        for worker in self.workers:
            if worker.proc is None:
                worker.spawn()

    async def call(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._run, job, timeout)

    def close(self) -> None:
        for worker in self.workers:
            worker.closed = True
            worker.signal()  # a thread reading its answer sees the end of the pipe at once
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._finalizer()


# --- the verifier -------------------------------------------------------------------------------
class MathSpec(VerifierSpecBase):
    """``verifier: {kind: math, reference_field: meta.answer}`` (see docs/verify.md)."""

    kind: Literal["math"] = "math"
    #: where the worked solution is
    answer_field: FieldRef = "assistant"
    #: where the reference answer is
    reference_field: FieldRef = "meta.answer"
    #: extract the final answer from the reference too (a worked reference solution)
    extract_reference: bool = False
    #: regexes tried first, in order (group ``answer``, else group 1, else the match)
    patterns: list[str] = Field(default_factory=list)
    #: built-in extractors, tried in this order after ``patterns``
    extract: list[Extractor] = Field(default_factory=lambda: list(_EXTRACTORS))
    #: which ``\\boxed{}`` counts when there are several
    box: Literal["last", "first"] = "last"
    #: fall back to the last number in the text
    last_number: bool = False
    #: seconds one comparison may take before its worker is killed
    timeout: float = Field(default=5.0, gt=0.0, le=600.0)
    #: worker processes (comparisons at once)
    workers: int = Field(default=2, ge=1, le=64)
    #: address-space limit of a worker, in MiB
    memory_mb: int = Field(default=1024, ge=256, le=65536)
    #: Math-Verify's comparison options
    float_rounding: int = Field(default=6, ge=0, le=30)
    numeric_precision: int = Field(default=15, ge=1, le=1000)
    strict: bool = True

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"the pattern {pattern!r} is not a valid regex: {exc}") from exc
        return value

    def build(self, ctx: VerifierContext) -> MathVerifier:
        return MathVerifier(self)


class MathVerifier(Verifier):
    kind: ClassVar[str] = "math"

    def __init__(self, spec: MathSpec | None = None) -> None:
        try:
            found = importlib.util.find_spec("math_verify") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtraError("math-verify", "math", "The math verifier")
        self.spec = spec or MathSpec()
        self._patterns = [re.compile(p) for p in self.spec.patterns]
        self._pool = _Pool(self.spec.workers, self.spec.memory_mb)

    async def start(self) -> None:
        self._pool.start()

    def extract(self, text: str) -> tuple[str, str] | None:
        spec = self.spec
        return extract_answer(
            text,
            patterns=self._patterns,
            extract=list(spec.extract),
            box=spec.box,
            last_number=spec.last_number,
        )

    async def verify(self, record: Record) -> Verdict:
        started = time.monotonic()
        spec = self.spec
        reference = field_text(record, spec.reference_field).strip()
        if spec.extract_reference and reference:
            reference = (self.extract(reference) or ("", ""))[0]
        if not reference:
            return Verdict(False, "no_reference", f"{spec.reference_field} is empty")
        found = self.extract(field_text(record, spec.answer_field))
        if found is None:
            return Verdict(
                False,
                "no_answer",
                f"no final answer found in {spec.answer_field}",
                time.monotonic() - started,
                0.0,
                {"reference": reference},
            )
        answer, how = found
        job = {
            "answer": answer,
            "reference": reference,
            "float_rounding": spec.float_rounding,
            "numeric_precision": spec.numeric_precision,
            "strict": spec.strict,
        }
        result = await self._pool.call(job, spec.timeout)
        reason = str(result["reason"])
        detail = f'answer "{answer}", reference "{reference}"'
        if reason == "timeout":
            detail += f": the comparison took longer than {spec.timeout:g} s"
        elif result.get("error"):
            detail += f": {result['error']}"
        passed = reason == "passed"
        data = {"answer": answer, "reference": reference, "extractor": how}
        return Verdict(
            passed, reason, detail, time.monotonic() - started, 1.0 if passed else 0.0, data
        )

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.spec.workers, "timeout": self.spec.timeout}

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._pool.close)
