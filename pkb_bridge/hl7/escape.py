"""The one function every value we write into a PKB message goes through.

It is ``rms.hl7.escape.escape`` with the delimiters we always write (``|^~\\&``), which does
exactly what PKB's encoding table and our E1-E3 cases ask: ``| ^ & ~ \\`` become
``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``; CR, LF and CRLF become ``\\.br\\`` (never a raw CR, which would
end the segment at the receiver); 0x0B and 0x1C become ``\\X0B\\`` and ``\\X1C\\``; other control
characters except tab are dropped (XML 1.0, and so the SOAP envelope, cannot carry them at all).

The only addition is a fast path: most values (codes, numbers, plain names) need no escaping, and
a regex search (for the many blank values, a truth test) is cheaper than a translate. The
property tests hold it to ``rms.hl7.escape``.
"""

from __future__ import annotations

import re

from rms.hl7.delimiters import DEFAULT_DELIMITERS
from rms.hl7.escape import escape

DELIMITERS = DEFAULT_DELIMITERS
# Everything rms.hl7.escape changes: C0 and C1 controls (except tab), DEL and the delimiters.
_NEEDS_ESCAPING = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f|^&~\\]")


def hl7_text(value: str) -> str:
    """``value`` escaped for one leaf of an ER7 message we send."""
    if not value or _NEEDS_ESCAPING.search(value) is None:
        return value
    return escape(value, DELIMITERS)


def escaped(*values: str) -> tuple[str, ...]:
    """``hl7_text`` of each value, with one search of them all for the common case where none
    needs escaping (a search for one character cannot match across two values joined)."""
    if _NEEDS_ESCAPING.search("".join(values)) is None:
        return values
    return tuple(hl7_text(value) for value in values)
