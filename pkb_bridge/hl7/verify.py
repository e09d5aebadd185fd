"""Checks on a built message before it is sent: "right payload, wrong patient".

The sender compares ``pid3_identifiers(message)`` with the identifiers of the patient its outbox
row belongs to, and refuses to send on any difference. The message is read the way PKB will
read it, not the way we wrote it: PKB gets our text through XML, which has turned every CR
into LF, so CR, LF and CRLF all end a segment here. Any free text that slipped through
unescaped would show up as an extra segment, and a second PID as a refusal.

Reading goes through the inbound parser (``rms.hl7.parse``), not through anything the builders
use, so a builder bug is not repeated by its own check.
"""

from __future__ import annotations

import re
from collections import Counter

from rms.hl7.errors import Hl7Error
from rms.hl7.parse import parse

_NHS_STATUS_SUFFIX = re.compile(r"\{status:[^}]*\}$")
# The inbound parser's rule for a segment name.
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
# Names already found to follow that rule, so that the hundreds of OBX of a packed report
# are not matched again each (at most 26 * 36 * 36 names: the set cannot grow without end).
_NAMES_SEEN: set[str] = set()


def _is_segment_name(name: str) -> bool:
    if name in _NAMES_SEEN:
        return True
    if _SEGMENT_NAME.fullmatch(name):
        _NAMES_SEEN.add(name)
        return True
    return False


class MessageCheckError(ValueError):
    """A built message that must not be sent: unreadable, or not exactly one PID."""


def pid3_identifiers(message: str) -> list[tuple[str, str, str]]:
    """PID-3 of ``message`` as ``(id, assigning authority, type code)``, unescaped, in order.

    The type code is given without PKB's ``{status:NN}`` suffix (``NH{status:01}`` is
    ``NH``): the status says how sure the number is, not whose it is. Raises
    ``MessageCheckError`` unless the message parses with exactly one PID.
    """
    lines = _lines(message)
    # Every segment must read as one (the inbound parser's rules: a name, then the field
    # separator; one MSH, first), but only MSH and PID go through the parser: a packed ORU
    # has hundreds of segments, and splitting them all cost more than the rest of the check.
    if not lines or not lines[0].startswith("MSH"):
        raise MessageCheckError("the message does not parse: it does not start with MSH")
    separator = lines[0][3:4]
    pids: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        name = line[:3]
        if (name not in _NAMES_SEEN and not _is_segment_name(name)) or line[3:4] not in (
            "",
            separator,
        ):
            raise MessageCheckError(
                f"the message does not parse: segment {number} does not start with a segment "
                "name (a raw line break inside a field?)"
            )
        if name == "MSH":
            raise MessageCheckError("the message does not parse: it has more than one MSH")
        if name == "PID":
            pids.append(line)
    try:
        # The MSH declares the delimiters the PID is read with.
        parsed = parse("\r".join([lines[0], *pids]))
    except Hl7Error as exc:
        raise MessageCheckError(f"the message does not parse: {exc.reason}") from None
    if len(pids) != 1:
        raise MessageCheckError(f"the message has {len(pids)} PID segments; exactly one expected")
    pid = parsed.segments[1]
    identifiers = []
    for repetition in range(1, pid.repetition_count(3) + 1):
        identifiers.append(
            (
                pid.value(3, 1, repetition=repetition),
                pid.value(3, 4, 1, repetition=repetition),
                _NHS_STATUS_SUFFIX.sub("", pid.value(3, 5, repetition=repetition)),
            )
        )
    return identifiers


def segment_counts(message: str) -> dict[str, int]:
    """How many segments of each name the message has, splitting at CR, LF and CRLF alike."""
    return dict(Counter(line[:3] for line in _lines(message)))


def _lines(message: str) -> list[str]:
    """The message's segments, ended by CR, LF or CRLF alike (blank lines dropped)."""
    text = message.replace("\r\n", "\r").replace("\n", "\r")
    return [line for line in text.split("\r") if line and not line.isspace()]
