"""Errors raised while reading an inbound HL7 v2 message.

Every failure of ``decode_message``, ``parse`` and the ``extract_*`` functions is an
``Hl7Error``; nothing else escapes them for bad input (the fuzz tests hold us to that). Each error
carries what the listener needs to answer the sender: a human ``reason`` (for MSA-3 and ERR-8),
an HL7 table 0357 ``hl7_code`` (for ERR-3), the ``ack_code`` and, where known, the ``field``.

AE or AR. HL7 lets receivers read the two codes differently (PKB: AR is a validation reject,
AE an unexpected error; NHS DDS: the reverse), so the contract is ours to state:

* **AR**: we could not read *the message itself*: its bytes do not decode in the declared
  character set, the character set is unknown, the MSH segment or the encoding characters are
  broken, a required MSH field (MSH-9, MSH-10) is missing, or the message type, trigger event or
  version is not one we take. Nothing in such a message can be trusted; resending it unchanged
  will fail again.
* **AE**: the envelope is sound but the content is not usable: a segment we need is missing
  (PID, OBR, SCH, TXA), a required field is blank (filler order number, document number), a
  timestamp or number is malformed, a PDF is not valid base64. The sender's application must
  correct the data before resending.

Reasons never quote field values: they end up in ACKs and logs, and a value may be a patient's
name, date of birth or NHS number. They name the field instead.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

AckCode = Literal["AA", "AE", "AR"]
ErrorAckCode = Literal["AE", "AR"]


class ErrorCode(IntEnum):
    """HL7 table 0357, message error condition codes (v2.5)."""

    MESSAGE_ACCEPTED = 0
    SEGMENT_SEQUENCE_ERROR = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE_ERROR = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT_CODE = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION_ID = 203
    UNKNOWN_KEY_IDENTIFIER = 204
    DUPLICATE_KEY_IDENTIFIER = 205
    APPLICATION_RECORD_LOCKED = 206
    APPLICATION_INTERNAL_ERROR = 207

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    ErrorCode.MESSAGE_ACCEPTED: "Message accepted",
    ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    ErrorCode.APPLICATION_RECORD_LOCKED: "Application record locked",
    ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class Hl7Error(Exception):
    """Base of every inbound HL7 error; see the module docstring for AE versus AR."""

    default_hl7_code: ErrorCode = ErrorCode.APPLICATION_INTERNAL_ERROR
    default_ack_code: ErrorAckCode = "AE"

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        hl7_code: ErrorCode | None = None,
        ack_code: ErrorAckCode | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.hl7_code = hl7_code if hl7_code is not None else self.default_hl7_code
        self.ack_code: ErrorAckCode = ack_code if ack_code is not None else self.default_ack_code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.reason!r}, field={self.field!r}, "
            f"hl7_code={int(self.hl7_code)}, ack_code={self.ack_code!r})"
        )


class Hl7DecodeError(Hl7Error):
    """The bytes could not be turned into text: undecodable bytes or an unknown MSH-18."""

    default_hl7_code = ErrorCode.DATA_TYPE_ERROR
    default_ack_code = "AR"


class Hl7ParseError(Hl7Error):
    """The text is not a usable HL7 message, or a segment or field in it is missing or malformed.

    Defaults to a content problem (AE); the MSH checks in ``parse`` pass ``ack_code="AR"``.
    """

    default_hl7_code = ErrorCode.DATA_TYPE_ERROR
    default_ack_code = "AE"


class Hl7UnsupportedError(Hl7Error):
    """A message type, trigger event or version we do not take."""

    default_hl7_code = ErrorCode.UNSUPPORTED_MESSAGE_TYPE
    default_ack_code = "AR"
