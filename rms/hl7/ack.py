"""Original-mode acknowledgements (ACK) for inbound messages.

Pure functions: header in, ER7 text out, segments separated by CR. MLLP framing and encoding
the text to bytes (in the character set named in MSH-18) are the listener's job.

We always write our own delimiters (``|^~\\&``), whatever the sender used (I10), and escape
every value we echo. The ACK's control id is ours (20 hex digits of a uuid4: MSH-10's length
in v2.5); MSA-2 carries theirs.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import get_args

from rms.hl7.delimiters import DEFAULT_DELIMITERS
from rms.hl7.encoding import codec_for_charset
from rms.hl7.errors import AckCode, ErrorCode, Hl7Error
from rms.hl7.escape import escape
from rms.hl7.header import read_msh
from rms.hl7.parse import LONDON, MessageHeader

# What we call ourselves in MSH-3 when the sender did not name us in their MSH-5.
OUR_APPLICATION = "RMS"
DEFAULT_VERSION = "2.5"
_VERSION = re.compile(r"\d\.\d(?:\.\d)?")
# Longer than any real control id; anything longer is junk we do not echo.
_MAX_ECHOED = 199


def build_ack(
    header: MessageHeader,
    code: AckCode,
    text: str = "",
    error: Hl7Error | None = None,
    *,
    now: datetime | None = None,
    control_id: str | None = None,
) -> str:
    """An ACK for a parsed message (a ``ParsedMessage`` is a ``MessageHeader``).

    AE and AR carry an ERR segment (v2.5 layout: ERR-3 the table 0357 code, ERR-4 ``E``,
    ERR-8 the text), from ``error`` when given. ``text`` defaults to the error's reason.
    """
    return _ack(
        code=code,
        text=text,
        error=error,
        sending_application=header.receiving_application or OUR_APPLICATION,
        sending_facility=header.receiving_facility,
        receiving_application=header.sending_application,
        receiving_facility=header.sending_facility,
        trigger_event=header.trigger_event,
        their_control_id=header.control_id,
        processing_id=header.processing_id or "P",
        version=header.version or DEFAULT_VERSION,
        charset=header.charset,
        now=now,
        control_id=control_id,
    )


def build_ack_for_unparseable(
    raw_text: str | bytes,
    code: AckCode,
    text: str,
    error: Hl7Error | None = None,
    *,
    now: datetime | None = None,
    control_id: str | None = None,
) -> str:
    """An ACK for a message whose MSH we could not parse (or whose bytes did not decode).

    Best effort: MSH-3 to MSH-6, MSH-9.2, MSH-10, MSH-11, MSH-12 and MSH-18 are read by the one
    MSH reader (``rms.hl7.header``); whatever cannot be found is left blank (MSA-2 included)
    or defaulted.
    """
    header = read_msh(raw_text)

    def msh(n: int, first_component: bool = True) -> str:
        value = header.field(n, first_component=first_component)
        return value if len(value) <= _MAX_ECHOED and value.isprintable() else ""

    type_parts = header.components(9)
    trigger = type_parts[1].strip() if len(type_parts) > 1 else ""
    version = msh(12)
    # The answer declares the character set the sender declared, and is written in it by the
    # listener: a receiver reads an ACK without MSH-18 as ASCII. One we do not know (or that
    # is not even ASCII) is left out, and the answer is plain ASCII.
    charset = header.charset
    if not charset.isascii() or not charset.isprintable() or codec_for_charset(charset) is None:
        charset = ""
    return _ack(
        code=code,
        text=text,
        error=error,
        sending_application=msh(5) or OUR_APPLICATION,
        sending_facility=msh(6),
        receiving_application=msh(3),
        receiving_facility=msh(4),
        trigger_event=trigger if len(trigger) <= 3 and trigger.isprintable() else "",
        their_control_id=msh(10, first_component=False),
        processing_id=msh(11) if msh(11) in ("P", "T", "D") else "P",
        version=version if _VERSION.fullmatch(version) else DEFAULT_VERSION,
        charset=charset,
        now=now,
        control_id=control_id,
    )


def _ack(
    *,
    code: AckCode,
    text: str,
    error: Hl7Error | None,
    sending_application: str,
    sending_facility: str,
    receiving_application: str,
    receiving_facility: str,
    trigger_event: str,
    their_control_id: str,
    processing_id: str,
    version: str,
    charset: str,
    now: datetime | None,
    control_id: str | None,
) -> str:
    if code not in get_args(AckCode):
        raise ValueError(f"an ACK code is AA, AE or AR, not {code!r}")
    if code == "AA" and error is not None:
        raise ValueError("an AA acknowledgement carries no error")
    if not text and error is not None:
        text = error.reason
    codec = codec_for_charset(charset)
    if codec is None:  # a charset we refused: answer in plain ASCII
        codec, charset = "ascii", ""

    def e(value: str) -> str:
        # Escaped, and only characters the declared character set can carry.
        escaped = escape(value, DEFAULT_DELIMITERS)
        return escaped.encode(codec, errors="replace").decode(codec)

    moment = (now or datetime.now(tz=LONDON)).astimezone(LONDON)
    # v2.3's MSH-9 has two components; the message structure (ACK) came in v2.3.1.
    message_type = "ACK"
    if trigger_event:
        message_type += f"^{e(trigger_event)}"
        if version != "2.3":
            message_type += "^ACK"
    msh = [
        "MSH",
        DEFAULT_DELIMITERS.encoding_characters,
        e(sending_application),
        e(sending_facility),
        e(receiving_application),
        e(receiving_facility),
        # Local time without an offset, as PKB asks for MSH-7 and as we read it back.
        moment.strftime("%Y%m%d%H%M%S"),
        "",
        message_type,
        # MSH-10 is at most 20 characters in v2.3 to v2.5: 80 random bits are plenty.
        e(control_id or uuid.uuid4().hex[:20]),
        e(processing_id),
        e(version),
    ]
    if charset:
        msh += ["", "", "", "", "", e(charset)]
    segments = [
        DEFAULT_DELIMITERS.field.join(msh),
        DEFAULT_DELIMITERS.field.join(["MSA", code, e(their_control_id), e(text)]),
    ]
    if code != "AA":
        hl7_code = error.hl7_code if error is not None else ErrorCode.APPLICATION_INTERNAL_ERROR
        err = ["ERR", "", "", f"{int(hl7_code)}^{hl7_code.description}^HL70357", "E"]
        err += ["", "", "", e(text)]
        segments.append(DEFAULT_DELIMITERS.field.join(err))
    return "\r".join(segments) + "\r"
