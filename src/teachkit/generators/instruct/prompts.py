"""The few-shot prompts of Self-Instruct's later stages: classification detection and the
output-first (classification) and input-first instance prompts, in the original method's form."""

__all__ = ["CLASSIFY_PROMPT", "INPUT_FIRST_PROMPT", "OUTPUT_FIRST_PROMPT"]

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
