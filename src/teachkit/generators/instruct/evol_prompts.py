"""Evol-Instruct's prompts and its elimination rules (Xu et al., 2023, §3 and appendix).

In-depth evolving rewrites an instruction into a harder one with one of five methods (add
constraints, deepen, concretize, increase reasoning steps, complicate the input) inside one
"Prompt Rewriter" frame; in-breadth evolving asks a "Prompt Creator" for a brand-new, rarer
instruction of the same domain. The texts follow the public WizardLM implementation
(``Evol_Instruct/depth.py``, ``breadth.py``) with its stray line breaks and typos cleaned up; the
complicate-input method, which the paper describes but that code does not include, is written
in the same frame.

An evolution fails (and is eliminated) when, in the paper's order:

1. it brings no information gain over the original: the teacher, asked the paper's equality
   question, answers "Equal" (``no_information_gain``);
2. the answer shows the teacher struggled: it contains "sorry" and has fewer than 80 words
   (``hard_to_answer``);
3. the answer holds only punctuation and stop words (``answer_only_stopwords``);
4. the evolved instruction copies words of the evolving prompt such as "#Rewritten Prompt#" or
   "given prompt" (``copied_prompt_words``).
"""

from __future__ import annotations

import re
import string
from typing import Literal

__all__ = [
    "BREADTH_PROMPT",
    "COPIED_PHRASES",
    "DEPTH_METHODS",
    "DEPTH_PROMPT",
    "EQUAL_PROMPT",
    "OPERATIONS",
    "STOP_WORDS",
    "Operation",
    "copied_phrase",
    "equality_verdict",
    "evolve_prompt",
    "hard_to_answer",
    "only_stop_words",
]

Operation = Literal[
    "add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"
]

DEPTH_PROMPT = """\
I want you to act as a Prompt Rewriter.
Your objective is to rewrite a given prompt into a more complex version to make those famous AI \
systems (e.g., ChatGPT and GPT-4) a bit harder to handle.
But the rewritten prompt must be reasonable and must be understood and responded to by humans.
Your rewriting cannot omit the non-text parts such as the table and code in #The Given Prompt#. \
Also, please do not omit the input in #The Given Prompt#.
You SHOULD complicate the given prompt using the following method:
{method}
You should try your best not to make the #Rewritten Prompt# become verbose; #Rewritten Prompt# \
can only add 10 to 20 words into #The Given Prompt#.
'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' are not \
allowed to appear in #Rewritten Prompt#.
#The Given Prompt#:
{instruction}
#Rewritten Prompt#:
"""

#: the method line of each in-depth operation
DEPTH_METHODS: dict[str, str] = {
    "add_constraints": "Please add one more constraint or requirement into #The Given Prompt#.",
    "deepen": (
        "If #The Given Prompt# contains inquiries about certain issues, the depth and breadth "
        "of the inquiry can be increased."
    ),
    "concretize": "Please replace general concepts with more specific concepts.",
    "increase_reasoning": (
        "If #The Given Prompt# can be solved with just a few simple thinking processes, you can "
        "rewrite it to explicitly request multiple-step reasoning."
    ),
    "complicate_input": (
        "Please add a complex input that #The Given Prompt# must work with, such as a table, "
        "code, JSON or XML data, a SQL schema, a formula or a shell command, written out in full "
        "inside the prompt."
    ),
}

BREADTH_PROMPT = """\
I want you to act as a Prompt Creator.
Your goal is to draw inspiration from the #Given Prompt# to create a brand new prompt.
This new prompt should belong to the same domain as the #Given Prompt# but be even more rare.
The LENGTH and complexity of the #Created Prompt# should be similar to that of the #Given Prompt#.
The #Created Prompt# must be reasonable and must be understood and responded to by humans.
'#Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to \
appear in #Created Prompt#.
#Given Prompt#:
{instruction}
#Created Prompt#:
"""

#: every operation, in-depth first; a run picks one per instruction, uniformly
OPERATIONS: tuple[Operation, ...] = (
    "add_constraints",
    "deepen",
    "concretize",
    "increase_reasoning",
    "complicate_input",
    "breadth",
)

EQUAL_PROMPT = """\
Here are two Instructions to an AI assistant. Do you think they are equal to each other, which \
meet the following requirements:
1. They have the same constraints and requirements.
2. They have the same depth and breadth of the inquiry.
The First Prompt: {first}
The Second Prompt: {second}
Your Judgement (Just answer: Equal or Not Equal. No need to explain the reason.):"""

#: words of the evolving prompts an evolved instruction must not copy (any case)
COPIED_PHRASES: tuple[str, ...] = (
    "#The Given Prompt#",
    "#Given Prompt#",
    "#Rewritten Prompt#",
    "#Created Prompt#",
    "given prompt",
    "rewritten prompt",
    "created prompt",
)

_STOP_WORDS = """a about above after again against all am an and any are as at be because been
    before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves"""
#: common English stop words (rule 3: an answer made of these and punctuation only)
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS.split())

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_PUNCTUATION = set(string.punctuation)


def evolve_prompt(operation: str, instruction: str) -> str:
    """The evolving prompt of ``operation`` for ``instruction``."""
    if operation == "breadth":
        return BREADTH_PROMPT.format(instruction=instruction)
    return DEPTH_PROMPT.format(method=DEPTH_METHODS[operation], instruction=instruction)


def equality_verdict(answer: str) -> bool | None:
    """True: "Equal", False: "Not Equal", None: neither is said."""
    text = " ".join(answer.lower().split())
    if "not equal" in text or "unequal" in text:
        return False
    if "equal" in text:
        return True
    return None


def copied_phrase(instruction: str) -> str | None:
    """The first evolving-prompt phrase that ``instruction`` copies (rule 4), or None."""
    lowered = instruction.lower()
    for phrase in COPIED_PHRASES:
        if phrase.lower() in lowered:
            return phrase
    return None


def hard_to_answer(answer: str, min_words: int = 80) -> bool:
    """Rule 2: the answer says "sorry" and is short."""
    return "sorry" in answer.lower() and len(answer.split()) < min_words


def only_stop_words(answer: str, stop_words: frozenset[str] = STOP_WORDS) -> bool:
    """Rule 3: nothing but punctuation and stop words (an empty answer included)."""
    leftover = "".join(ch for ch in answer if ch not in _PUNCTUATION)
    return all(word.lower() in stop_words for word in _WORD.findall(leftover))
