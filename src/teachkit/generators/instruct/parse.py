"""Reading the teacher's answers: numbered instruction lists (Self-Instruct), numbered
instruction/input/output triples (Alpaca), and the instances of Self-Instruct's last stage with
its instance filters."""

from __future__ import annotations

import re

__all__ = [
    "Pair",
    "Triple",
    "filter_instances",
    "normalize_whitespace",
    "parse_classification_instances",
    "parse_generation_instances",
    "parse_triples",
    "split_numbered_list",
]

#: (input, output) of one instance
Pair = tuple[str, str]
#: (instruction, input, output) of one Alpaca item
Triple = tuple[str, str, str]

_SPACES = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


# --- instruction lists ----------------------------------------------------------------------
_ITEM = re.compile(r"\s*\d+\s?\.\s")


def split_numbered_list(text: str, chat: bool) -> list[str]:
    """Items of a numbered list whose first number was already in the prompt (Self-Instruct).

    A raw completion continues right after ``"9."``. A chat reply may open with a line such as
    "Here are more tasks:", repeat the number 9, put blank lines between items and end with a
    remark; all of that is cut off.
    """
    if chat:
        lines = text.strip().splitlines()
        while len(lines) > 1 and not _ITEM.match(lines[0]) and lines[0].rstrip().endswith(":"):
            lines.pop(0)
        kept: list[str] = []
        after_blank = False
        for line in lines:
            if not line.strip():
                after_blank = True
                continue
            if after_blank and not _ITEM.match(line):
                break
            after_blank = False
            kept.append(line.strip())
        text = re.sub(r"^\s*\d+\s?\.\s?", "", "\n".join(kept), count=1)
    return re.split(r"\n\d+\s?\. ", text)


def parse_triples(text: str, first: int, truncated: bool) -> list[tuple[Triple | None, str, str]]:
    """Split an Alpaca continuation into items: (triple or None, reason when None, raw item text).

    ``text`` is what follows ``"{first}. Instruction:"``; a chat reply that repeats that opening
    (or starts with ``###``) is accepted too. A truncated answer loses its last item.
    """
    body = text.lstrip()
    if body.startswith("###"):
        body = body[3:].lstrip()
    if not re.match(rf"{first}\.\s+Instruction:", body):
        body = f"{first}. Instruction:{text}"
    pieces = body.split("###")
    items: list[tuple[Triple | None, str, str]] = []
    for idx, piece in enumerate(pieces):
        if not piece.strip():
            continue
        if idx == len(pieces) - 1 and truncated:
            items.append((None, "truncated", piece.strip()))
            continue
        parts = re.split(rf"{first + idx}\.\s+(Instruction|Input|Output):", piece)
        if len(parts) != 7:
            items.append((None, "unparsable", piece.strip()))
            continue
        given = parts[4].strip()
        given = "" if given.lower() == "<noinput>" else given
        items.append(((parts[2].strip(), given, parts[6].strip()), "", piece.strip()))
    return items


# --- instances (Self-Instruct's last stage) -------------------------------------------------
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_EXAMPLE = re.compile(r"(?m)^[ \t]*Example\s?\d*\.?")


def _input_output(text: str) -> Pair:
    parts = _OUTPUT.split(text)
    if len(parts) > 1:
        given, answer = parts[0].strip(), parts[1].strip()
    else:
        given, answer = "", text.strip()
    answer = _INPUT.split(answer)[0].strip()  # a second pair run into the first
    given = re.sub(r"^Input\s*\d*\s*:", "", given).strip()
    return given, answer


def parse_generation_instances(text: str) -> list[Pair]:
    """(input, output) pairs of an input-first answer: ``Example N`` blocks or one ``Output:``."""
    text = text.strip()
    if _EXAMPLE.search(text):
        blocks = [b.strip() for b in _EXAMPLE.split(text)]
        return [_input_output(b) for b in blocks if b]
    if _OUTPUT.search(text):
        return [_input_output(text)]
    return []


def parse_classification_instances(text: str) -> list[Pair]:
    """(input, label) pairs of an output-first answer: ``Class label: X`` then the input."""
    if "Class label:" not in text:
        return []
    pairs: list[Pair] = []
    for block in text.split("Class label:")[1:]:
        label, _, given = block.strip().partition("\n")
        pairs.append((given.strip(), label.strip()))
    return pairs


def filter_instances(
    pairs: list[Pair], truncated: bool, limit: int
) -> tuple[list[Pair], list[tuple[Pair, str]]]:
    """Self-Instruct's instance filters, in its order; returns (kept, [(pair, reason)])."""
    dropped: list[tuple[Pair, str]] = []
    if truncated and pairs:
        dropped.append((pairs[-1], "truncated"))
        pairs = pairs[:-1]
    valid: list[Pair] = []
    for given, answer in pairs:
        if given == answer:
            dropped.append(((given, answer), "input_equals_output"))
        elif not answer:
            dropped.append(((given, answer), "empty_output"))
        elif given.endswith(":") or answer.endswith(":"):
            dropped.append(((given, answer), "incomplete"))
        else:
            valid.append((given, answer))
    outputs: dict[str, str] = {}
    for given, answer in valid:
        if given and outputs.setdefault(given, answer) != answer:
            return [], dropped + [(pair, "conflicting_outputs") for pair in valid]
    kept: list[Pair] = []
    for pair in valid:
        if pair in kept:
            dropped.append((pair, "duplicate"))
        elif len(kept) >= limit:
            dropped.append((pair, "over_limit"))
        else:
            kept.append(pair)
    return kept, dropped
