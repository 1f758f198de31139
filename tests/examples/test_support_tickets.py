"""The support-tickets example end to end against the fake OpenAI-compatible server.

The scripted teacher plants near-duplicate tickets, off-vocabulary category labels and answers the
judge scores low; each must end in rejected/ with the right filter and reason, and every
accepted record must be clean.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import orjson

import teachkit
from teachkit.recipe.load import load_recipe
from teachkit.testing import FakeCall, FakeServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_tickets.yaml"
PROMPT = re.compile(r"that (?P<persona>.+?) \((?P<mood>.+?)\) sends about (?P<product>.+?),")
VOCABULARY = {"billing", "bug", "account", "how-to"}
WORDS = [
    "invoice",
    "login",
    "timeout",
    "sync",
    "export",
    "printer",
    "password",
    "refund",
    "upgrade",
    "license",
    "token",
    "webhook",
    "report",
    "folder",
    "badge",
    "dashboard",
    "backup",
    "install",
    "language",
    "invite",
    "calendar",
    "upload",
    "receipt",
    "signature",
    "firewall",
    "proxy",
    "certificate",
    "scanner",
    "battery",
    "tablet",
    "keyboard",
    "theme",
    "cursor",
    "shortcut",
    "widget",
    "playlist",
    "archive",
    "quota",
]


def script(call: FakeCall) -> str:
    if "You grade examples" in call.prompt:
        low = "desktop client" in call.prompt
        score, reason = (3, "vague reply") if low else (8, "clear and helpful")
        return orjson.dumps({"score": score, "reason": reason}).decode()
    found = PROMPT.search(call.prompt)
    assert found, call.prompt
    persona, mood, product = found["persona"], found["mood"], found["product"]
    category = "refund" if product == "the billing portal" and mood == "calm" else "bug"
    if product == "the mobile app" and persona == "a developer":
        # the same complaint whatever the mood, with a trivial edit: a near-duplicate
        ticket = (
            f"The mobile app crashes when I open the settings page on my phone{'!' * len(mood)}"
        )
    else:  # distinct tickets: details drawn from a generator seeded by the combination
        rng = random.Random(f"{persona}|{mood}|{product}")
        details = " ".join(rng.sample(WORDS, 12))
        ticket = f"{product.capitalize()} fails for me ({persona}, {mood}); details: {details}."
    reply = f"Thanks for writing about {product}. Please update and restart; we are on it ({mood})."
    return orjson.dumps({"ticket": ticket, "category": category, "reply": reply}).decode()


async def test_support_tickets_against_the_fake_server(tmp_path: Path) -> None:
    async with FakeServer(script, latency=0.001) as server:
        recipe = load_recipe(
            EXAMPLE,
            [
                "teacher.backend=openai",
                "teacher.model=fake-teacher",
                f"teacher.base_url={server.base_url}",
                "teacher.max_concurrency=8",
                "generator.count=20",
                # a plain text label, so off-vocabulary answers reach the vocabulary rule
                "generator.output.fields.category=the category",
            ],
        )
        summary = await teachkit.run_async(recipe, tmp_path / "run")
        calls = server.stats()
    assert summary.status == "complete" and summary.accepted == 20
    drops = summary.drops
    assert drops["rules"].get("off_vocabulary:category", 0) >= 1
    assert sum(n for reason, n in drops["dedup"].items() if "duplicate" in reason) >= 1
    assert drops["judge"]["low_score"] >= 1

    rejected = [
        orjson.loads(line)
        for path in (tmp_path / "run" / "rejected").glob("*.jsonl")
        for line in path.read_bytes().splitlines()
    ]
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for row in rejected:
        by_reason.setdefault(row["reason"], []).append(row)
    for row in by_reason["off_vocabulary:category"]:
        assert row["filter"] == "rules" and row["record"]["meta"]["fields"]["category"] == "refund"
    for row in by_reason["low_score"]:
        assert row["filter"] == "judge"
        assert row["record"]["meta"]["scores"]["judge"]["score"] == 3
    duplicates = [r for reason, rows in by_reason.items() if "duplicate" in reason for r in rows]
    for row in duplicates:
        assert row["filter"] == "dedup" and row["detail"]["duplicate_of"].startswith("r1-")
        assert "mobile app crashes" in row["record"]["messages"][1]["content"]

    accepted = list(teachkit.read_accepted(tmp_path / "run"))
    assert len(accepted) == 20
    assert all(r.meta["fields"]["category"] in VOCABULARY for r in accepted)
    assert all(r.meta["scores"]["judge"]["score"] >= 6 for r in accepted)
    assert sum("mobile app crashes" in r.user for r in accepted) <= 1
    assert all(r.messages[0]["role"] == "system" for r in accepted)
    assert all(r.assistant.startswith("Category: ") for r in accepted)
    assert calls["answered"] >= 20
