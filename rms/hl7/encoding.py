"""Turning the bytes of an inbound message into text (I7, I9).

The character set is the one the message declares in MSH-18 (HL7 table 0211), read from the raw
bytes before anything is decoded: MSH itself is ASCII in every character set we take. Bytes that
do not decode are refused with ``Hl7DecodeError``; we never guess, because a wrongly decoded name
("ZoÃ«") is stored, matched against the register and sent to PKB as if it were right.

Segment terminators (I9). HL7 ends every segment with CR. Files and some senders use CRLF or LF
instead, so we normalise:

* CRLF is always a terminator and becomes CR;
* a lone LF is a terminator only in a message that has no CR at all (an LF-only file);
* in a message that does use CR, a lone LF is data: a raw line break a sender left inside a
  field (radiology report text is the usual culprit). Treating it as a terminator would cut the
  field there and turn the rest of the line into a "segment"; a line of report text that starts
  with ``PID|`` would then be read as a second patient.

Blank and whitespace-only segments are dropped, and so is whitespace around the message.
"""

from __future__ import annotations

from rms.hl7.errors import ErrorCode, Hl7DecodeError
from rms.hl7.header import read_msh

UTF8_BOM = b"\xef\xbb\xbf"

# HL7 table 0211 values we take, and the Python codec for each. "UTF-8" is not in the table
# but is what several systems write; an unknown value is refused rather than guessed at.
_CODECS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
}


def codec_for_charset(charset: str) -> str | None:
    """The Python codec for an MSH-18 value; ``utf-8`` when blank, None when unknown."""
    value = charset.strip().upper()
    if not value:
        return "utf-8"
    return _CODECS.get(value)


def declared_charset(raw: bytes) -> str:
    """MSH-18 (first repetition, first component) read from the undecoded bytes; "" if absent.

    Raises ``Hl7DecodeError`` if MSH-18 itself is not ASCII.
    """
    # Read by the one MSH reader, which skips what decode_message skips (a byte order mark,
    # blank lines): a message that starts with a CR still declares its character set.
    value = read_msh(raw).charset
    if not value.isascii():
        raise Hl7DecodeError("MSH-18 (character set) is not ASCII text", field="MSH-18")
    return value


def decode_message(raw: bytes) -> str:
    """Decode an inbound message by its MSH-18 and normalise its segment terminators.

    A UTF-8 byte order mark is stripped. Raises ``Hl7DecodeError`` (AR) for an unknown
    character set or bytes that are not valid in the declared (or, when none is declared, the
    UTF-8) character set.
    """
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
    raw = raw.lstrip(b" \t\r\n")
    charset = declared_charset(raw)
    codec = codec_for_charset(charset)
    if codec is None:
        raise Hl7DecodeError(
            f"MSH-18 declares a character set we do not support ({charset[:40]!r}); "
            "use UNICODE UTF-8, 8859/1 or ASCII",
            field="MSH-18",
            hl7_code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        if charset:
            reason = (
                f"the message is not valid {charset}, the character set MSH-18 declares: "
                f"byte {exc.start} cannot be decoded"
            )
        else:
            reason = (
                f"the message is not valid UTF-8: byte {exc.start} cannot be decoded and "
                "MSH-18 declares no other character set"
            )
        raise Hl7DecodeError(reason, field="MSH-18") from None
    return normalise_segments(text)


def normalise_segments(text: str) -> str:
    """CR-separated segments, with no blank segments and no surrounding whitespace.

    See the module docstring for how CRLF and LF are treated.
    """
    text = text.replace("\r\n", "\r") if "\r" in text else text.replace("\n", "\r")
    segments = [segment for segment in text.split("\r") if segment.strip()]
    return "\r".join(segments).strip()
