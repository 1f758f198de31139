"""Recipe templates are bounded in steps, time and size: hostile ones fail with a sentence."""

from __future__ import annotations

import pytest

from teachkit.errors import RecipeError, TemplateLimitError
from teachkit.prompts.templates import RenderLimits, compile_template

HOSTILE = {
    "nested_range_loops": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
    "{% endfor %}",
    "nested_loops_over_a_string": "{% set s = 'a' * 100000 %}{% for a in s %}{% for b in s %}"
    "{% endfor %}{% endfor %}",
    "string_times_huge": "{{ 'a' * 3000000000 }}",
    "huge_times_string": "{{ 3000000000 * 'ab' }}",
    "list_times_huge": "{{ ['a'] * 10**9 }}",
    "huge_power": "{{ 2 ** 99999999999 }}",
    "percent_width": "{{ '%999999999d' % 1 }}",
    "percent_star_width": "{{ '%*d' % (999999999, 1) }}",
    "format_width": "{{ '{:>999999999}'.format(1) }}",
    "format_nested_width": "{{ '{0:{1}}'.format(1, 999999999) }}",
    "format_filter_width": "{{ '%0999999999d'|format(1) }}",
    "center_filter": "{{ 'a'|center(999999999) }}",
    "ljust_method": "{{ 'a'.ljust(10**9) }}",
    "zfill_method": "{{ '1'.zfill(10**8) }}",
    "replace_growth": "{{ ('a' * 100000)|replace('a', 'b' * 100000) }}",
    "replace_method_growth": "{{ ('a' * 100000).replace('a', 'b' * 100000) }}",
    "expandtabs_growth": "{{ ('\\t' * 100000).expandtabs(100000) }}",
    "indent_growth": "{{ ('\\n' * 100000)|indent('x' * 100000) }}",
    "join_growth": "{% set s = 'a' * 900000 %}{{ [s, s, s]|join('-') }}",
    "namespace_doubling": "{% set ns = namespace(s='a') %}{% for i in range(64) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "macro_doubling": "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}"
    "{% endif %}{% endmacro %}{{ f('a', 64) }}",
    "macro_recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "set_block_accumulation": "{% set x %}{% for i in range(100000) %}{{ big }}{% endfor %}"
    "{% endset %}{{ x|length }}",
    "literal_text_accumulation": "{% set x %}{% for i in range(100000) %}"
    + "z" * 100
    + "{% endfor %}{% endset %}{{ x|length }}",
    "output_stream": "{% for i in range(5000) %}{{ big }}{% endfor %}",
    "range_overflow": "{{ range(2**64)|length }}",
    "lipsum_huge": "{{ lipsum(10**6) }}",
    "tojson_indent": "{{ (range(100000)|list)|tojson(indent=100000) }}",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_template_hits_a_limit(case: str) -> None:
    template = compile_template(HOSTILE[case], f"prompt ({case})")
    with pytest.raises(TemplateLimitError) as caught:
        template.render(big="x" * 1000)
    message = str(caught.value)
    assert message.startswith(f"The template prompt ({case}) went past a limit")
    assert isinstance(caught.value, RecipeError)  # exit code 2


def test_a_small_step_limit_is_deterministic() -> None:
    template = compile_template(
        "{% for i in range(50) %}{{ i }}{% endfor %}", "t", RenderLimits(max_steps=40)
    )
    with pytest.raises(TemplateLimitError, match="steps"):
        template.render()
    assert compile_template("{% for i in range(5) %}{{ i }}{% endfor %}", "t").render() == "01234"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{% include 'other.txt' %}", "include"),
        ("{% import 'macros.txt' as m %}", "import"),
        ("{% from 'macros.txt' import m %}", "import"),
        ("{% extends 'base.txt' %}", "extends"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "too deeply"),
    ],
)
def test_templates_that_cannot_compile_say_why(source: str, problem: str) -> None:
    with pytest.raises(RecipeError, match=problem) as caught:
        compile_template(source, "prompt")
    assert "prompt" in str(caught.value)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ 1 // 0 }}", "ZeroDivisionError"),
        ("{{ lipsum('many') }}", "whole numbers"),
        ("{{ '{:q}'.format(1) }}", "failed to render"),
        ("{{ range(1, 2, 0)|list }}", "step of 0"),
        ("{{ 10.0 ** 400 }}", "failed to render"),
        ("{{ x.__class__ }}", "failed to render"),
    ],
)
def test_runtime_failures_are_sentences(source: str, problem: str) -> None:
    with pytest.raises(RecipeError, match=problem):
        compile_template(source, "prompt").render(x="a")


def test_ordinary_templates_are_unaffected() -> None:
    long_text = "word " * 20_000
    cases = {
        "{% for x in items %}- {{ x|upper }}\n{% endfor %}": "- A\n- B",
        "{{ '%s and %d' % (a, 3) }}": "a and 3",
        "{{ '{} / {:>5}'.format(a, 'b') }}": "a /     b",
        "{{ items|join(', ') }}": "a, b",
        "{{ text|truncate(12) }}": "word...",
        "{{ text|wordcount }}": "20000",
        "{{ range(3)|list }}": "[0, 1, 2]",
        "{{ a ~ '-' ~ a }}": "a-a",
        "{{ 'ab' * 3 }}": "ababab",
        "{{ a|center(5) }}": "a",
        "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(a) }}": "<a>",
        "{% set ns = namespace(n=0) %}{% for x in items %}{% set ns.n = ns.n + 1 %}"
        "{% endfor %}{{ ns.n }}": "2",
    }
    for source, expected in cases.items():
        out = compile_template(source, "t").render(items=["a", "b"], a="a", text=long_text)
        assert out == expected, source


@pytest.mark.parametrize(
    "source",
    [
        "{{ range(100000)|map('center', 100000)|join }}",
        "{{ range(100000)|map('center', 100000)|list|length }}",
        "{{ '-'.join(range(100000)|map('center', 100000)) }}",
        "{{ (range(100000)|map('center', 100000)|sum(start='')) }}",
    ],
)
def test_lazy_sequences_of_large_values_are_bounded(source: str) -> None:
    with pytest.raises(TemplateLimitError):
        compile_template(source, "t").render()
