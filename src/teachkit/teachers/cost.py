"""Token prices and rough token counts: what a run costs, before and after it runs.

Prices are USD per million tokens. ``teacher.prices`` in the recipe always wins; otherwise a small
table of well-known hosted models is consulted (list prices, which providers change: set
``teacher.prices`` when the figure matters). Backends that run on your own hardware cost nothing.
"""

from __future__ import annotations

from teachkit.recipe.base import Prices
from teachkit.teachers.backend import Request

__all__ = [
    "BUILTIN_PRICES",
    "estimate_cost",
    "estimate_request_tokens",
    "estimate_tokens",
    "price_for",
]

#: (input, output) USD per million tokens; matched as the longest prefix of the model name,
#: so dated snapshots ("gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022") find their family
BUILTIN_PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4": (30.0, 60.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.0, 60.0),
    "o1-mini": (1.10, 4.40),
    "o3": (2.0, 8.0),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.80, 4.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-3-haiku": (0.25, 1.25),
}


def _lookup(model: str) -> tuple[float, float] | None:
    name = model.rsplit("/", 1)[-1].lower()  # "openai/gpt-4o" on routers
    best = ""
    for prefix in BUILTIN_PRICES:
        matches = name == prefix or name.startswith((prefix + "-", prefix + "@"))
        if matches and len(prefix) > len(best):
            best = prefix
    return BUILTIN_PRICES[best] if best else None


def price_for(
    backend: str, model: str, prices: Prices | None, *, local: bool = False
) -> Prices | None:
    """The prices to charge for ``model`` on ``backend``; None when unknown.

    The recipe's ``teacher.prices`` wins; a ``local`` backend (its capabilities say so) is free;
    then the built-in table.
    """
    if prices is not None:
        return prices
    if local:
        return Prices(input_per_mtok=0.0, output_per_mtok=0.0)
    found = _lookup(model)
    if found is None:
        return None
    return Prices(input_per_mtok=found[0], output_per_mtok=found[1])


def estimate_cost(prompt_tokens: int, completion_tokens: int, prices: Prices | None) -> float:
    """USD for the given token counts (0.0 when the prices are unknown)."""
    if prices is None:
        return 0.0
    return (
        prompt_tokens * prices.input_per_mtok + completion_tokens * prices.output_per_mtok
    ) / 1_000_000


def estimate_tokens(text: str) -> int:
    """A rough token count for dry runs and rate budgets: about four UTF-8 bytes per token.

    Counting bytes rather than characters keeps scripts with multi-byte characters (CJK, Cyrillic)
    from being undercounted. Real tokenizers differ by model; expect +-30 %.
    """
    if not text:
        return 0
    return max(1, (len(text.encode("utf-8")) + 3) // 4)


#: tokens a chat template adds around each message (role markers, separators)
_PER_MESSAGE = 4


def estimate_request_tokens(request: Request) -> int:
    """Rough prompt tokens of a request, chat template overhead included."""
    if request.messages is None:
        return estimate_tokens(request.prompt or "")
    total = 3
    for message in request.messages:
        total += _PER_MESSAGE + estimate_tokens(message.get("content", ""))
    return total
