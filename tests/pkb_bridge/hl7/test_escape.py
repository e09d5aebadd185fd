from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkb_bridge.hl7 import hl7_text
from rms.hl7 import DEFAULT_DELIMITERS, escape, unescape

# What survives a round trip: line breaks become "\n", and control characters other than tab,
# LF, 0x0B and 0x1C are dropped (XML could not carry them to PKB anyway).
_KEPT_CONTROLS = {"\t", "\n", "\x0b", "\x1c"}


def _expected(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        character
        for character in text
        if character in _KEPT_CONTROLS
        or not (ord(character) < 0x20 or 0x7F <= ord(character) <= 0x9F)
    )


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a|b^c&d~e\\f", "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"),  # E1
        ("one\rtwo", "one\\.br\\two"),  # E2
        ("one\ntwo", "one\\.br\\two"),
        ("one\r\ntwo", "one\\.br\\two"),
        ("a\x0bb\x1cc", "a\\X0B\\b\\X1C\\c"),  # E3
        ("O'Brien", "O'Brien"),  # E5: nothing to escape
        ("Zoë Łukasz 🙂", "Zoë Łukasz 🙂"),
        ("\\.br\\", "\\E\\.br\\E\\"),  # text that looks like an escape stays text
        ("", ""),
    ],
)
def test_it_escapes_delimiters_line_breaks_and_frame_bytes(text: str, escaped: str) -> None:
    assert hl7_text(text) == escaped


def test_it_drops_control_characters_xml_cannot_carry() -> None:
    assert hl7_text("a\x00b\x07c\x7fd") == "abcd"


def test_it_keeps_tabs() -> None:
    assert hl7_text("a\tb") == "a\tb"


@given(st.text())
def test_unescaping_what_it_wrote_gives_the_text_back(text: str) -> None:
    assert unescape(hl7_text(text), DEFAULT_DELIMITERS) == _expected(text)


@given(st.text())
def test_its_fast_path_agrees_with_the_inbound_escape(text: str) -> None:
    assert hl7_text(text) == escape(text, DEFAULT_DELIMITERS)


@given(st.text())
def test_its_output_holds_no_raw_delimiter_or_line_break(text: str) -> None:
    escaped = hl7_text(text)
    for character in "|^&~\r\n\x0b\x1c":
        assert character not in escaped
    # Every escape character opens or closes a sequence: none is left dangling.
    assert escaped.count("\\") % 2 == 0


@given(st.lists(st.text(), max_size=8))
def test_several_values_at_once_are_each_escaped_as_the_inbound_escape_does(
    values: list[str],
) -> None:
    from pkb_bridge.hl7.escape import escaped

    assert escaped(*values) == tuple(escape(value, DEFAULT_DELIMITERS) for value in values)
