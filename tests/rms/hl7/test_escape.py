from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rms.hl7 import DEFAULT_DELIMITERS, Delimiters, escape, unescape

D = DEFAULT_DELIMITERS
# I10: sub-components separated by "#", escape "!", truncation "%".
ODD = Delimiters(field="*", component=":", repetition="+", escape="!", subcomponent="#")
ODD_WITH_TRUNCATION = Delimiters(
    field="|", component="^", repetition="~", escape="\\", subcomponent="&", truncation="#"
)


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b", "a^b"),
        ("a\\T\\b", "a&b"),
        ("a\\R\\b", "a~b"),
        ("a\\E\\b", "a\\b"),
        ("line one\\.br\\line two", "line one\nline two"),
        ("line one\\X0D\\line two", "line one\nline two"),
        ("line one\\X0D0A\\line two", "line one\nline two"),
        ("\\H\\important\\N\\ text", "important text"),
        ("Zo\\XC3AB\\", "Zoë"),
        ("tab\\X09\\here", "tab\there"),
        ("two\\.sp 2\\blank", "two\n\nblank"),
        ("\\.in+4\\indented", "indented"),
        ("\\C2842\\switch", "switch"),
    ],
)
def test_it_decodes_each_escape_sequence(escaped: str, text: str) -> None:
    assert unescape(escaped, D) == text


def test_it_falls_back_to_latin1_for_hex_bytes_not_valid_in_the_message_charset() -> None:
    assert unescape("Zo\\XEB\\", D, encoding="utf-8") == "Zoë"


def test_it_decodes_hex_bytes_in_the_message_charset() -> None:
    assert unescape("Zo\\XEB\\", D, encoding="latin-1") == "Zoë"


@pytest.mark.parametrize(
    "text",
    ["C:\\temp\\file", "a lone \\ backslash", "\\Xnothex\\", "\\\\", "ends with \\"],
)
def test_it_keeps_unknown_or_unterminated_sequences_as_sent(text: str) -> None:
    assert unescape(text, D) == text


def test_a_stray_escape_character_does_not_swallow_the_sequence_after_it() -> None:
    assert unescape("a \\ b \\F\\ c", D) == "a \\ b | c"


def test_it_caps_the_blank_lines_a_sender_can_ask_for() -> None:
    assert unescape("\\.sp 999\\", D) == "\n" * 20


def test_it_uses_the_messages_own_escape_character() -> None:
    assert unescape("a!F!b!S!c!T!d!R!e!E!f!.br!g", ODD) == "a*b:c#d+e!f\ng"
    # The default escapes mean nothing under these delimiters.
    assert unescape("a\\F\\b", ODD) == "a\\F\\b"


def test_it_decodes_the_truncation_escape_when_msh2_declares_one() -> None:
    assert unescape("50\\P\\ off", ODD_WITH_TRUNCATION) == "50# off"
    assert unescape("50\\P\\ off", D) == "50\\P\\ off"


def test_it_escapes_every_delimiter_e1() -> None:
    assert escape("a|b^c&d~e\\f", D) == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"


def test_it_escapes_with_the_delimiters_given() -> None:
    assert escape("a*b:c#d+e!f", ODD) == "a!F!b!S!c!T!d!R!e!E!f"


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_it_writes_every_kind_of_line_break_as_br_e2(newline: str) -> None:
    assert escape(f"one{newline}two", D) == "one\\.br\\two"


def test_it_escapes_mllp_frame_bytes_and_drops_other_control_characters_e3() -> None:
    assert escape("a\x0bb\x1cc\x00d\x07e\x85f\tg", D) == "a\\X0B\\b\\X1C\\cdef\tg"


def test_text_that_looks_like_a_segment_stays_inside_its_field_e7() -> None:
    escaped = escape("fine\rPID|1||9990000018", D)
    assert "\r" not in escaped
    assert "|" not in escaped


def _expected_after_round_trip(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\n\t\x0b\x1c" or unicodedata.category(c) != "Cc")


@given(st.text())
def test_unescape_undoes_escape_for_any_text(text: str) -> None:
    escaped = escape(text, D)
    assert unescape(escaped, D) == _expected_after_round_trip(text)
    assert not set(escaped) & set("|^&~\r\n\x0b\x1c")


@given(st.text(alphabet=st.sampled_from("*:+!#|^~\\&\r\n\x0b\x1cab ë")))
def test_unescape_undoes_escape_with_non_default_delimiters(text: str) -> None:
    escaped = escape(text, ODD)
    assert unescape(escaped, ODD, encoding="latin-1") == _expected_after_round_trip(text)
    assert not set(escaped) & set("*:+#\r\n")


@given(st.text())
def test_unescape_undoes_escape_with_a_truncation_character(text: str) -> None:
    escaped = escape(text, ODD_WITH_TRUNCATION)
    assert unescape(escaped, ODD_WITH_TRUNCATION) == _expected_after_round_trip(text)
