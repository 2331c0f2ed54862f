"""Status strings and messages: exact SPEC strings, no reserved words where none belong."""

from __future__ import annotations

import json
import math

import pytest

from segmenter.service.status import (
    Info,
    MetricMessage,
    Status,
    StatusMessage,
    check_plain,
    encode,
    exception_text,
    progress_text,
    reserved_words,
    scrub,
)
from tests.segmenter.service.harness import check_dashboard


def test_the_spec_strings() -> None:
    assert [s.value for s in Status] == [
        "Ready",
        "Started",
        "Calculating flat",
        "Done",
        "Interrupted",
        "Dead",
    ]


@pytest.mark.parametrize("text", [Status.STARTED, Status.FLAT, *Info])
def test_non_terminal_texts_hold_no_reserved_word(text: str) -> None:
    assert reserved_words(text) == []


def test_progress_text_matches_the_dashboard_regexes() -> None:
    text = progress_text("2026-03-10_10-00-00-311199.jpg", 3, 400)
    assert text == "Segmenting image 2026-03-10_10-00-00-311199.jpg, image 3/400"
    check_dashboard([text, "Done"])


@pytest.mark.parametrize("name", ["done.jpg", "Dead_fish.jpg", "with space.jpg", "é.jpg", None])
def test_frame_names_the_dashboard_would_misread_are_replaced(name: str | None) -> None:
    text = progress_text(name, 12, 40)
    assert text == "Segmenting image frame_000012.jpg, image 12/40"


def test_check_plain_refuses_reserved_words() -> None:
    with pytest.raises(ValueError, match="idle"):
        check_plain("the queue is idle")


def test_exception_text_is_the_baselines_form_and_scrubs_user_text() -> None:
    text = exception_text('path: /data/img/Done "x"\n/done.txt is not ready.')
    assert text.startswith("An exception was raised during the segmentation: path: ")
    assert text.endswith("is not r****.") and "\n" not in text
    assert reserved_words(text) == ["exception"]
    assert "D***" in text and "d***.txt" in text


def test_scrub_keeps_the_length_and_first_letter() -> None:
    assert scrub("BUSY idle") == "B*** i***"


def test_payloads_are_json_even_with_quotes_and_non_ascii() -> None:
    payload = encode(StatusMessage(exception_text('name "A\\B" Zoé')))
    assert json.loads(payload)["status"].endswith(': name "A\\B" Zoé.')


def test_metric_values_that_are_not_finite_become_null() -> None:
    payload = encode(MetricMessage.of("f_0", {"area": 3, "eccentricity": math.nan}))
    assert json.loads(payload) == {"name": "f_0", "metadata": {"area": 3, "eccentricity": None}}


def test_check_dashboard_rejects_what_the_dashboard_misreads() -> None:
    for bad in (["Started", "Done", "Done"], ["Busy", "Done"], ["Started"]):
        with pytest.raises(AssertionError):
            check_dashboard(bad)
