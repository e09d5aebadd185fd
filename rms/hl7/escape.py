"""HL7 v2 escape sequences (chapter 2.7), with the message's own delimiters (I10, I11, E1-E3).

``unescape`` is applied once to each leaf value we read; ``escape`` once to each value we write.
Line breaks: ``\\.br\\`` (and a CR or LF sent as ``\\X0D\\``/``\\X0A\\``) become ``"\\n"`` on the
way in; CR, LF and CRLF are written as ``\\.br\\`` on the way out, never raw, because a raw CR
ends the segment at the receiver (E2, E7).
"""

from __future__ import annotations

import re
from functools import lru_cache

from rms.hl7.delimiters import Delimiters

# Formatting commands of FT that we drop: indent, temporary indent, skip, fill, no-fill.
_DROPPED_FORMATTING = frozenset({"in", "ti", "sk", "fi", "nf"})
_SPACE = re.compile(r"\.sp\s*(\d{0,3})")
# "\.sp 99999\" would otherwise be a cheap way to make us allocate a lot of newlines.
_MAX_BLANK_LINES = 20
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def unescape(text: str, delimiters: Delimiters, *, encoding: str = "utf-8") -> str:
    """Decode the escape sequences in one leaf value.

    ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` become the message's delimiters, ``\\Xhh..\\`` the bytes
    ``hh..`` decoded in the message's character set (``encoding``; latin-1 when they are not
    valid in it), ``\\.br\\`` a newline, and ``\\H\\``/``\\N\\`` (highlighting) nothing. Character
    set switches (``\\C..\\``, ``\\M..\\``) and local escapes (``\\Z..\\``) are dropped. A sequence
    we do not know, or an escape character with no closing one, is kept as it was sent: senders
    that forget to escape a backslash ("C:\\temp") then still read sensibly.
    """
    esc = delimiters.escape
    if esc not in text:
        return text
    out: list[str] = []
    position = 0
    while True:
        start = text.find(esc, position)
        if start == -1:
            out.append(text[position:])
            break
        out.append(text[position:start])
        end = text.find(esc, start + 1)
        if end == -1:
            out.append(text[start:])
            break
        decoded = _decode_sequence(text[start + 1 : end], delimiters, encoding)
        if decoded is None:
            # Not a sequence: keep this escape character as text, and let the closing one
            # open the next sequence ("a \ b \F\ c" keeps its "|").
            out.append(text[start:end])
            position = end
        else:
            out.append(decoded)
            position = end + 1
    return "".join(out)


def _decode_sequence(sequence: str, delimiters: Delimiters, encoding: str) -> str | None:
    if not sequence:
        return None
    if len(sequence) == 1:
        return {
            "F": delimiters.field,
            "S": delimiters.component,
            "T": delimiters.subcomponent,
            "R": delimiters.repetition,
            "E": delimiters.escape,
            "H": "",
            "N": "",
            "P": delimiters.truncation or None,
        }.get(sequence)
    head = sequence[0]
    if head == "X":
        digits = sequence[1:]
        if not _HEX.fullmatch(digits):
            return None
        raw = bytes.fromhex(digits)
        try:
            decoded = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            decoded = raw.decode("latin-1")
        return decoded.replace("\r\n", "\n").replace("\r", "\n")
    if head in "CMZ":
        return ""
    if head == ".":
        if sequence == ".br":
            return "\n"
        if sequence == ".ce":  # centre the next line: it starts a new line
            return "\n"
        if sequence[1:3] in _DROPPED_FORMATTING:
            return ""
        space = _SPACE.fullmatch(sequence)
        if space:
            count = int(space.group(1)) if space.group(1) else 1
            return "\n" * max(1, min(count, _MAX_BLANK_LINES))
    return None


def escape(text: str, delimiters: Delimiters) -> str:
    """Encode free text for one leaf value, with the delimiters we write.

    ``| ^ & ~ \\`` (as declared in ``delimiters``) become ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``;
    CR, LF and CRLF become ``\\.br\\``; 0x0B and 0x1C (MLLP's frame bytes) become ``\\X0B\\`` and
    ``\\X1C\\``; other control characters except tab are dropped.
    """
    return text.replace("\r\n", "\n").translate(_escape_table(delimiters))


@lru_cache(maxsize=16)
def _escape_table(delimiters: Delimiters) -> dict[int, str | None]:
    esc = delimiters.escape
    table: dict[int, str | None] = {}
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0)):
        table[code] = None
    del table[ord("\t")]
    table[ord("\n")] = f"{esc}.br{esc}"
    table[ord("\r")] = f"{esc}.br{esc}"
    table[0x0B] = f"{esc}X0B{esc}"
    table[0x1C] = f"{esc}X1C{esc}"
    for character, code in (
        (delimiters.field, "F"),
        (delimiters.component, "S"),
        (delimiters.subcomponent, "T"),
        (delimiters.repetition, "R"),
        (delimiters.escape, "E"),
        (delimiters.truncation, "P"),
    ):
        if character:
            table[ord(character)] = f"{esc}{code}{esc}"
    return table
