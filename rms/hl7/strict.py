"""Optional strict validation of inbound messages against hl7apy's message structures.

Off by default (``INBOUND_STRICT_VALIDATION``): hl7apy takes about 10 ms a message against
0.1 ms for our own parser, and real feeds bend the standard in ways the RMS copes with. A Trust
that wants non-conforming messages refused at the door turns it on.
"""

from __future__ import annotations

from rms.hl7.errors import ErrorCode, Hl7ParseError


def validate_strictly(text: str) -> None:
    """Raise ``Hl7ParseError`` (AR) unless ``text`` parses and validates strictly in hl7apy.
    The reason names hl7apy's error type only: its messages can quote field values."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_message

    try:
        message = parse_message(
            text.replace("\n", "\r"),
            validation_level=VALIDATION_LEVEL.STRICT,
            find_groups=True,
        )
        message.validate()
    except (HL7apyException, ValueError, KeyError, IndexError) as exc:
        raise Hl7ParseError(
            f"The message does not conform to the HL7 standard ({type(exc).__name__}).",
            hl7_code=ErrorCode.DATA_TYPE_ERROR,
            ack_code="AR",
        ) from None
