"""Verifying a dataset you already have: `teachkit filter` with a verify filter, end to end."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import yaml

import teachkit
from support import last_text
from teachkit.cli import main
from teachkit.rundir.store import read_rejected


def write_rows(path: Path, rows: list[tuple[str, str, dict[str, Any]]]) -> Path:
    lines = [
        orjson.dumps(
            {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ],
                "meta": {"case": case, **meta},
            }
        )
        for case, (question, answer, meta) in enumerate(rows)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_filter(tmp_path: Path, rows: Path, recipe: dict[str, Any]) -> Path:
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    code = main(["filter", str(rows), "--recipe", str(recipe_path), "--out", str(out), "-q"])
    assert code == 0
    return out


MATH = [
    (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        "In May she sold 48 / 2 = 24 clips. Altogether 48 + 24 = 72 clips.\n#### 72",
        {"answer": "72"},
    ),
    (
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        "Per minute she earns 12 / 60 = $0.2, so for 50 minutes 0.2 x 50 = $10.\n#### 10",
        {"answer": "10"},
    ),
    (
        "Betty needs $100 for a wallet. She has half of the money, her parents give $15 and "
        "her grandparents twice as much. How much more money does Betty need?",
        "She has 50, parents give 15, grandparents 30: 50 + 15 + 30 = 95. #### 10",
        {"answer": "5"},
    ),
    (
        "What is the probability of rolling an even number with a fair six-sided die?",
        "Three of the six faces are even, so the probability is $\\boxed{\\frac{1}{2}}$.",
        {"answer": "0.5"},
    ),
    (
        "Solve $x^2 - 5x + 6 = 0$ and give the solution set.",
        "It factors as $(x-2)(x-3) = 0$, so the solution set is $\\boxed{\\{3, 2\\}}$.",
        {"answer": "\\{2,3\\}"},
    ),
    (
        "For which $x$ is $\\sqrt{x - 1}$ defined, with $x < 4$?",
        "We need $x \\ge 1$ and $x < 4$, so the answer is $\\boxed{(1, 4)}$.",
        {"answer": "[1,4)"},
    ),
    (
        "What percentage of 80 is 20?",
        "20 out of 80 is one quarter. The answer is 25%.",
        {"answer": "25"},
    ),
    (
        "How long is the hypotenuse of a right triangle with legs of 3 cm and 4 cm?",
        "By Pythagoras, $\\sqrt{9+16} = 5$, so it is $\\boxed{5\\text{ cm}}$.",
        {"answer": "5"},
    ),
    (
        "How many positive divisors does 12 have?",
        "Let me think about the divisors of twelve, one by one, carefully.",
        {"answer": "6"},
    ),
    (
        "What is 2 + 2?",
        "\\boxed{5}",
        {"answer": "4"},
    ),
]


def test_verify_a_math_dataset(tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "math.jsonl", MATH)
    recipe = {
        "name": "math-check",
        "filters": [  # written verify first: the chain still runs the cheap rules first
            {"kind": "verify", "verifier": {"kind": "math", "timeout": 10, "workers": 2}},
            {"kind": "rules", "min_words": 2, "refusals": False},
        ],
    }
    out = run_filter(tmp_path, rows, recipe)
    accepted = {r.meta["case"]: r for r in teachkit.read_accepted(out)}
    rejected = {r.record.meta["case"]: r for r in read_rejected(out)}
    assert sorted(accepted) == [0, 1, 3, 4, 6, 7]
    assert {case: (r.filter, r.reason) for case, r in rejected.items()} == {
        2: ("verify", "wrong_answer"),
        5: ("verify", "wrong_answer"),
        8: ("verify", "no_answer"),
        9: ("rules", "too_short:words"),
    }
    assert rejected[2].detail["data"] == {"answer": "10", "reference": "5", "extractor": "hashes"}
    verdict = accepted[3].meta["verdicts"]["verify"]
    assert verdict["passed"] is True and verdict["data"]["answer"] == "\\frac{1}{2}"
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["accepted"] == 6 and manifest["rejected"] == 4
    assert manifest["filters"]["verify"]["reasons"] == {
        "passed": 6,
        "wrong_answer": 2,
        "no_answer": 1,
    }


SCHEMA = """
CREATE TABLE employee (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, city TEXT);
INSERT INTO employee VALUES
  (1, 'George Chuter', 23, 'Bristol'), (2, 'Lee Mears', 29, 'Bath'),
  (3, 'Mark Regan', 43, 'Bristol'), (4, 'Jason Hobson', 30, 'Bristol'),
  (5, 'Tim Payne', 29, 'Wasps');
"""

SQL = [
    (
        "How many employees live in Bristol?",
        "```sql\nSELECT count(*) FROM employee WHERE city = 'Bristol';\n```",
        {"reference_sql": "SELECT count(*) FROM employee WHERE city = 'Bristol'"},
    ),
    (
        "List the names and ages of employees older than 28, oldest first.",
        "SELECT age, name FROM employee WHERE age > 28 ORDER BY age DESC",
        {"reference_sql": "SELECT name, age FROM employee WHERE age > 28 ORDER BY age DESC"},
    ),
    (
        "List the names and ages of employees older than 28, oldest first.",
        "SELECT name, age FROM employee WHERE age > 28 ORDER BY age",
        {"reference_sql": "SELECT name, age FROM employee WHERE age > 28 ORDER BY age DESC"},
    ),
    (
        "Which cities do employees live in?",
        "SELECT DISTINCT city FROM employee",
        {"expected_rows": [["Bristol"], ["Bath"], ["Wasps"]]},
    ),
    (
        "Remove the employees from Bath.",
        "DELETE FROM employee WHERE city = 'Bath'",
        {"reference_sql": "SELECT count(*) FROM employee"},
    ),
    (
        "Count every combination of employees.",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
        {"reference_sql": "SELECT count(*) FROM employee"},
    ),
    (
        "What is the average age?",
        "SELECT avg(agee) FROM employee",
        {"reference_sql": "SELECT avg(age) FROM employee"},
    ),
]


def test_verify_a_sql_dataset(tmp_path: Path) -> None:
    fixture = tmp_path / "fixtures" / "company.sqlite"
    fixture.parent.mkdir()
    conn = sqlite3.connect(fixture)
    conn.executescript(SCHEMA)
    conn.commit()
    conn.close()
    before = hashlib.sha256(fixture.read_bytes()).hexdigest()
    rows = write_rows(tmp_path / "sql.jsonl", SQL)
    recipe = {
        "name": "sql-check",
        "filters": [
            {
                "kind": "verify",
                "name": "execution",
                "verifier": {"kind": "sql", "database": "fixtures/company.sqlite", "timeout": 1},
            }
        ],
    }
    out = run_filter(tmp_path, rows, recipe)
    accepted = sorted(r.meta["case"] for r in teachkit.read_accepted(out))
    rejected = {r.record.meta["case"]: (r.filter, r.reason) for r in read_rejected(out)}
    assert accepted == [0, 1, 3]
    assert rejected == {
        2: ("execution", "wrong_result"),
        4: ("execution", "write_refused"),
        5: ("execution", "timeout"),
        6: ("execution", "sql_error"),
    }
    assert hashlib.sha256(fixture.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in fixture.parent.iterdir()) == ["company.sqlite"]


def test_a_run_verifies_what_the_teacher_answers(tmp_path: Path, scripted: Any) -> None:
    def answer(request: Any) -> str:
        n = int(last_text(request).split()[-1].rstrip("."))
        return f"Here it is: \\boxed{{{n if n % 2 else n + 1}}}"  # odd numbers right, even wrong

    scripted.script = staticmethod(answer)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "boxed",
                "teacher": {"backend": "scripted"},
                "generator": {
                    "kind": "templated",
                    "count": 3,
                    "prompt": "Box the number {{ n }}.",
                    "axes": {"n": ["1", "2", "3", "4", "5", "6", "7"]},
                },
                "filters": [
                    {
                        "kind": "verify",
                        "verifier": {"kind": "math", "reference_field": "meta.axes.n"},
                    }
                ],
            }
        )
    )
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0
    accepted = list(teachkit.read_accepted(out))
    assert len(accepted) == 3
    for record in accepted:
        verdict = record.meta["verdicts"]["verify"]
        assert verdict["passed"] and verdict["data"]["answer"] == record.meta["axes"]["n"]
        assert int(record.meta["axes"]["n"]) % 2 == 1
    rejected = list(read_rejected(out))
    assert rejected and all(r.reason == "wrong_answer" for r in rejected)
    assert all(int(r.record.meta["axes"]["n"]) % 2 == 0 for r in rejected)
