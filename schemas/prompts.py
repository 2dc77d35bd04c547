"""What a built-in model can draw, read from the prompt before any GPU time is spent.

Most models take any text. The ``digits`` demo model draws one handwritten digit, so its
prompt must name exactly one: ``"7"``, ``"seven"``, ``"a handwritten 7"``. The grammar lives
in the contract (not in the processor) so that a producer refuses a prompt the model cannot
draw before publishing it, and a processor fails the same request the same way.
"""

from __future__ import annotations

import re

DIGITS_MODEL = "digits"

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Words that describe a digit without changing which one it is.
_FILLER = frozenset(
    {
        "a",
        "an",
        "the",
        "handwritten",
        "hand",
        "written",
        "drawn",
        "digit",
        "number",
        "numeral",
        "figure",
        "of",
        "picture",
        "image",
        "photo",
        "drawing",
        "sketch",
        "please",
        "draw",
        "write",
    }
)

DIGITS_ACCEPTS = "one digit 0-9, as '7', 'seven' or 'a handwritten 7'"

_WORD = re.compile(r"[a-z]+|\d+")


def digit_in_prompt(prompt: str) -> int | None:
    """The digit a prompt asks for, or None when it names none, several, or other things."""
    digits: set[int] = set()
    for word in _WORD.findall(prompt.lower()):
        if word in _FILLER:
            continue
        if word in DIGIT_WORDS:
            digits.add(DIGIT_WORDS.index(word))
        elif len(word) == 1 and word.isdigit():
            digits.add(int(word))
        else:
            return None
    return digits.pop() if len(digits) == 1 else None
