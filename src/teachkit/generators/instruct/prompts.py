"""How the instruction recipes ask: the request mode (raw completion or chat), the layout of the
list prompts of Self-Instruct and Alpaca, and the few-shot prompts of Self-Instruct's later stages
(classification detection, output-first and input-first instances) in the original method's form.

Each layout gives the raw-completion prompt and the chat turn that asks for the same continuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from teachkit.errors import RecipeError
from teachkit.generators.instruct.parse import normalize_whitespace
from teachkit.teachers.backend import Capabilities, Request

__all__ = [
    "ALPACA_PREAMBLE",
    "CLASSIFY_PROMPT",
    "INPUT_FIRST_PROMPT",
    "OUTPUT_FIRST_PROMPT",
    "Mode",
    "Prompt",
    "alpaca_list_prompt",
    "classify_prompt",
    "instances_prompt",
    "make_request",
    "resolve_mode",
    "task_list_prompt",
]

Mode = Literal["completion", "chat"]


def resolve_mode(mode: str, capabilities: Capabilities) -> Mode:
    """``auto`` means raw completion when the backend has it, chat otherwise."""
    if mode == "completion":
        if not capabilities.completion:
            raise RecipeError(
                "generator.mode is 'completion', but the teacher backend only takes chat "
                "messages. Set generator.mode to 'chat' or 'auto'."
            )
        return "completion"
    if mode == "chat":
        if not capabilities.chat:
            raise RecipeError(
                "generator.mode is 'chat', but the teacher backend only takes raw prompts. "
                "Set generator.mode to 'completion' or 'auto'."
            )
        return "chat"
    return "completion" if capabilities.completion else "chat"


def make_request(
    mode: Mode, prompt: Prompt, options: dict[str, Any], sampling: dict[str, Any]
) -> Request:
    """A raw-prompt request, or a one-user-turn chat request with ``prompt.chat``.

    ``options`` (the stage's own settings) win over the recipe's ``sampling``, which fills in the
    rest (seed, frequency penalty, ...); ``n`` is left out, as one answer is read per request.
    """
    merged = {key: value for key, value in sampling.items() if key != "n"}
    merged.update(options)
    if mode == "completion":
        return Request(prompt=prompt.completion, options=merged)
    return Request(messages=[{"role": "user", "content": prompt.chat}], options=merged)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request's text in both modes."""

    #: the raw prompt the teacher continues
    completion: str
    #: the user turn of a chat request
    chat: str


def _list_item(text: str) -> str:
    return normalize_whitespace(text).rstrip(":")


def task_list_prompt(header: str, instructions: list[str], stop_item: int) -> Prompt:
    """Self-Instruct's numbered list of ``instructions`` under ``header``, open at the next number;
    in chat, a request to write the items up to ``stop_item - 1``."""
    lines = [header]
    for number, text in enumerate(instructions, start=1):
        lines.append(f"{number}. {_list_item(text)}")
    first = len(instructions) + 1
    listing = "\n".join(lines) + "\n"
    chat = (
        f"Continue the numbered list below with new tasks that differ from the ones listed. "
        f"Write items {first} to {stop_item - 1}, one task per item, and nothing else."
        f"\n\n{listing}{first}."
    )
    return Prompt(f"{listing}{first}.", chat)


def alpaca_list_prompt(examples: list[tuple[str, str, str]], stop_item: int) -> Prompt:
    """Alpaca's requirements and its ``###``-separated list of (instruction, input, output)
    examples, open at the next item's instruction; in chat, a request to continue it."""
    parts = [ALPACA_PREAMBLE.format(total=stop_item)]
    for number, (instruction, given, answer) in enumerate(examples, start=1):
        parts.append(
            f"###\n{number}. Instruction: {_list_item(instruction)}\n"
            f"{number}. Input:\n{given or '<noinput>'}\n{number}. Output:\n{answer}\n"
        )
    first = len(examples) + 1
    listing = "".join(parts) + "###\n"
    chat = (
        f"{listing}\nContinue the list from item {first} up to item {stop_item - 1} in "
        f"exactly this format, with ### between items. Start your reply with "
        f'"{first}. Instruction:".'
    )
    return Prompt(f"{listing}{first}. Instruction:", chat)


def classify_prompt(instruction: str) -> Prompt:
    """The few-shot question whether ``instruction`` is a classification task."""
    task = f"Task: {instruction}\nIs it classification?"
    return Prompt(CLASSIFY_PROMPT + task, f"{CLASSIFY_PROMPT}{task}\n\nAnswer with Yes or No only.")


def instances_prompt(instruction: str, is_classification: bool, max_instances: int) -> Prompt:
    """The few-shot request for instances of ``instruction``: output first for a classification
    task, input first otherwise."""
    template = OUTPUT_FIRST_PROMPT if is_classification else INPUT_FIRST_PROMPT
    task = f"Task: {instruction}\n"
    chat = (
        f"{template}{task}\nWrite up to {max_instances} examples for this last task in "
        "exactly the same format. Do not repeat the task line."
    )
    return Prompt(template + task, chat)


ALPACA_PREAMBLE = """\
Write {total} varied tasks that a person might give to a helpful text assistant. Each task has an \
instruction, an optional input and a good response.

Rules:
1. Vary the kind of task (open questions, rewriting, classification, brainstorming, extraction, \
reasoning, coding, advice and more) and the way it is asked (questions and commands). Do not \
start two instructions with the same verb.
2. Every task must be doable with text alone: nothing that needs pictures, sound, files, the \
internet or actions in the physical world.
3. Write in English. An instruction is one or two sentences.
4. When a task needs an input, give a concrete, realistic one of at most 100 words (a sentence, a \
paragraph, a list, a small table, some code). When it needs none, write <noinput> as the input.
5. The response is correct and complete, and at most 100 words long.

List of {total} tasks:
"""

CLASSIFY_PROMPT = """\
Can the task below be regarded as a classification task, whose answer is one label from a small, \
fixed set?

Task: Tell whether the movie review below is positive or negative.
Is it classification? Yes

Task: Write a short poem about the first snow of winter.
Is it classification? No

Task: Given a news headline, decide which section it belongs to: sports, politics, business or \
science.
Is it classification? Yes

Task: Summarize the paragraph in one sentence.
Is it classification? No

Task: Is the following statement a fact or an opinion?
Is it classification? Yes

Task: Suggest three names for a bakery that only sells bread.
Is it classification? No

Task: Check whether the given email is spam.
Is it classification? Yes

Task: Explain how the gears of a bicycle work to a ten-year-old.
Is it classification? No

Task: Given two sentences, say whether the second contradicts the first, follows from it, or \
neither.
Is it classification? Yes

Task: Convert the given temperature from Celsius to Fahrenheit.
Is it classification? No

"""

OUTPUT_FIRST_PROMPT = """\
Given a classification task, pick one of its possible class labels and then write an input that \
has this label. Cover different labels. When the task needs no input, give the label only.

Task: Tell whether the opinion in the sentence is positive, negative or neutral.
Class label: Positive
Sentence: The new library opens early, and the staff helped me find every book I needed.
Class label: Negative
Sentence: I waited forty minutes for a cold meal and nobody apologized.
Class label: Neutral
Sentence: The shop closes at six on weekdays.

Task: Decide whether the given number is prime.
Class label: Yes
Number: 29
Class label: No
Number: 91

Task: Identify the language of the text: English, French or Spanish.
Class label: French
Text: Nous allons au marché demain matin.
Class label: Spanish
Text: El tren sale a las ocho.
Class label: English
Text: The bridge was closed for repairs.

Task: Is the statement true or false?
Class label: True
Statement: Water boils at a lower temperature high up in the mountains.
Class label: False
Statement: The moon gives off its own light.

"""

INPUT_FIRST_PROMPT = """\
Come up with examples for the following tasks. When a task needs an input, write the input first \
and then its output, as numbered examples. When it needs none, write the output directly.

Task: Which fruits are in season in early autumn in Europe?
Output:
Apples, pears, plums, figs and grapes are at their best in early autumn.

Task: Rewrite the sentence in the passive voice.
Example 1
Sentence: The committee approved the new budget.
Output: The new budget was approved by the committee.
Example 2
Sentence: A storm damaged the old pier.
Output: The old pier was damaged by a storm.

Task: Write a haiku about a quiet harbor.
Output:
Boats lean on their ropes
gulls sleep on the warm stone wall
the tide breathes slowly

Task: Find the largest number in the list.
Example 1
List: 4, 17, 9, 12
Output: 17
Example 2
List: -3, -8, -1
Output: -1

Task: Convert the time from the 24-hour to the 12-hour format.
Example 1
Input: 18:45
Output: 6:45 PM
Example 2
Input: 07:05
Output: 7:05 AM

"""
