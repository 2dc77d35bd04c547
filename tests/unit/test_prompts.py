"""What the ``digits`` model accepts as a prompt, and how everything else is refused."""

from __future__ import annotations

import pytest

from diffstream.request_limits import RequestLimits
from schemas.builders import new_request
from schemas.prompts import DIGITS_MODEL, digit_in_prompt
from schemas.validation import validate_request


@pytest.mark.parametrize(
    ("prompt", "digit"),
    [
        ("7", 7),
        ("seven", 7),
        ("a handwritten 7", 7),
        ("A Handwritten Seven.", 7),
        ("the digit 0", 0),
        ("hand-written number nine", 9),
        ("seven 7", 7),
    ],
)
def test_a_digit_named_once_is_drawn(prompt: str, digit: int) -> None:
    assert digit_in_prompt(prompt) == digit


@pytest.mark.parametrize("prompt", ["a cat", "7 and 8", "17", "a handwritten", "seven cats", ""])
def test_anything_else_is_not(prompt: str) -> None:
    assert digit_in_prompt(prompt) is None


def test_the_validator_says_what_digits_accepts() -> None:
    errors = validate_request(new_request("a red fox", model=DIGITS_MODEL), RequestLimits())
    assert [e.field for e in errors] == ["prompt"]
    assert "'a red fox'" in errors[0].message
    assert "'a handwritten 7'" in errors[0].message


def test_other_models_take_any_prompt() -> None:
    assert validate_request(new_request("a red fox", model="tiny-sd"), RequestLimits()) == []
    assert validate_request(new_request("seven", model=DIGITS_MODEL), RequestLimits()) == []
