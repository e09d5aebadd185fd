"""Reading PKB's acknowledgement, leniently.

PKB answers every message with an ACK (``ACK^R01`` whatever was sent): MSA-1 ``AA`` accepted
(possibly queued for manual review), ``AR`` a validation error PKB checks for, ``AE`` an
unexpected error, with any detail in MSA-3 and no ERR segment. MSA-2 echoes our MSH-10.

No strict parser: PKB's own AR and AE examples have ``MSH|^~\\&;|`` (a stray ``;`` in MSH-2),
and the ACK reaches us through XML, which turns its CRs into LFs. So the MSA line is read
directly, split on the field separator that follows "MSA" (MSH[3] in any ACK worth reading),
and MSH-2's first four characters give the escape rules. Nothing here raises: an answer we
cannot read is an ``Ack`` with ``code`` None and the raw text, for the caller to record and
treat as "no usable answer".

Whether MSA-2 matches the control id we sent is for the caller to check (``Ack.acknowledges``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rms.hl7.delimiters import Delimiters
from rms.hl7.escape import unescape

AckCode = Literal["AA", "AE", "AR"]
# Enhanced-mode commit acknowledgements (HL7 table 0008) read as their original-mode
# counterparts: CA (commit accept) is an acceptance like AA, CE (commit error) is AE and CR
# (commit reject) is AR. The code as sent stays in ``raw``.
_CODES: dict[str, AckCode] = {
    "AA": "AA",
    "AE": "AE",
    "AR": "AR",
    "CA": "AA",
    "CE": "AE",
    "CR": "AR",
}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# MLLP framing bytes and whitespace a relay may leave around lines.
_JUNK = "\x0b\x1c\ufeff \t"


@dataclass(frozen=True, slots=True)
class Ack:
    """PKB's answer. ``code`` is None when the text has no readable MSA-1; an enhanced-mode
    code (CA, CE, CR) is given as AA, AE or AR."""

    code: AckCode | None
    control_id: str  # MSA-2: the MSH-10 it acknowledges
    text: str  # MSA-3, unescaped
    raw: str

    @property
    def accepted(self) -> bool:
        return self.code == "AA"

    def acknowledges(self, control_id: str) -> bool:
        """True when MSA-2 is ``control_id``: an ACK for another message answers nothing."""
        return bool(control_id) and self.control_id == control_id


def parse_ack(text: str) -> Ack:
    """The MSA of an ACK; never raises (garbage gives ``code`` None)."""
    lines = [line.strip(_JUNK) for line in _LINE_BREAK.split(text)]
    msh = next((line for line in lines if line.startswith("MSH") and len(line) > 3), None)
    msa = next((line for line in lines if line.startswith("MSA") and len(line) > 3), None)
    if msa is None:
        return Ack(code=None, control_id="", text="", raw=text)
    # "MSA" is followed by the field separator by definition; MSH[3] should be the same one.
    separator = msa[3]
    delimiters = _delimiters(msh if msh is not None and msh[3] == separator else None, separator)
    fields = msa.split(separator)
    code = _CODES.get(fields[1].strip().upper()) if len(fields) > 1 else None
    control_id = unescape(fields[2], delimiters).strip() if len(fields) > 2 else ""
    detail = unescape(fields[3], delimiters).strip() if len(fields) > 3 else ""
    return Ack(code=code, control_id=control_id, text=detail, raw=text)


def _delimiters(msh: str | None, separator: str) -> Delimiters:
    """The escape rules of the ACK: MSH-2's first four characters, the rest ignored.

    PKB's stray ``;`` would otherwise read as a v2.7 truncation character.
    """
    if msh is None:
        return Delimiters(field=separator)
    encoding = msh[4:].split(separator, 1)[0]
    if len(encoding) < 4 or len(set(encoding[:4] + separator)) != 5:
        return Delimiters(field=separator)
    return Delimiters(
        field=separator,
        component=encoding[0],
        repetition=encoding[1],
        escape=encoding[2],
        subcomponent=encoding[3],
    )
