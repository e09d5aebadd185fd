"""The document of an MDM message."""

from __future__ import annotations

from dataclasses import dataclass

from rms.hl7.errors import ErrorCode, Hl7ParseError
from rms.hl7.extract.common import (
    TEXT_VALUE_TYPES,
    Timestamp,
    free_text,
    leaf,
    person_text,
    read_attachment,
    require_type,
)
from rms.hl7.parse import ParsedMessage, Segment, parse_timestamp


@dataclass(frozen=True, slots=True)
class DocumentData:
    """An MDM document: TXA's metadata and the OBX content."""

    document_type: str  # TXA-2.1 (PKBCS05: CL, DL, MDT, ...)
    document_number: str  # TXA-12.1
    is_cancellation: bool  # T11
    activity_at: Timestamp  # TXA-4
    origination_at: Timestamp  # TXA-6
    transcription_at: Timestamp  # TXA-7
    edited_at: Timestamp  # TXA-8
    authored_at: Timestamp  # the first of TXA-8, 7, 6, 4 that is present
    author: str  # TXA-9, else TXA-5, as "Title Given Family"
    status: str  # TXA-17 raw (AU authenticated, ...)
    filename: str  # TXA-16.1
    title: str  # OBX-3.2, else TXA-2
    content_type: str  # "pdf", "html", "text", or "" for a cancellation without content
    content_text: str  # html or text content
    content_bytes: bytes | None  # pdf content


def extract_document(msg: ParsedMessage) -> DocumentData:
    """The document of an MDM^T02 (original, with content) or T11 (cancel).

    Content is the first ED OBX (base64 PDF, or HTML as base64 or text), else the TX/FT/ST
    OBX lines joined. Raises ``Hl7ParseError`` (AE) if TXA or TXA-12 is missing, if a T02 has
    no content, or for undecodable or mislabelled content.
    """
    require_type(msg, "MDM")
    txa = msg.get_segment("TXA")
    if txa is None:
        raise Hl7ParseError(
            "TXA segment missing", field="TXA", hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR
        )
    number = leaf(txa, 12).strip()
    if not number:
        raise Hl7ParseError(
            "TXA-12 (unique document number) is missing",
            field="TXA-12",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
        )
    times = {n: parse_timestamp(leaf(txa, n), f"TXA-{n}") for n in (4, 6, 7, 8)}
    obxs = msg.get_segments("OBX")
    content_type, content_text, content_bytes = _document_content(obxs)
    if not content_type and msg.trigger_event == "T02":
        raise Hl7ParseError(
            "the document has no content (no ED, TX or FT OBX)",
            field="OBX-5",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
        )
    title = next((leaf(obx, 3, 2) for obx in obxs if leaf(obx, 3, 2)), "")
    return DocumentData(
        document_type=leaf(txa, 2, 1).strip(),
        document_number=number,
        is_cancellation=msg.trigger_event == "T11",
        activity_at=times[4],
        origination_at=times[6],
        transcription_at=times[7],
        edited_at=times[8],
        authored_at=next((times[n] for n in (8, 7, 6, 4) if times[n] is not None), None),
        author=person_text(txa, 9) or person_text(txa, 5),
        status=leaf(txa, 17).strip(),
        filename=leaf(txa, 16),
        title=title or leaf(txa, 2, 2) or leaf(txa, 2, 1),
        content_type=content_type,
        content_text=content_text,
        content_bytes=content_bytes,
    )


def _document_content(obxs: list[Segment]) -> tuple[str, str, bytes | None]:
    for obx in obxs:
        if leaf(obx, 2).strip().upper() != "ED" or not obx.repetition_count(5):
            continue
        attachment = read_attachment(obx)
        subtype = attachment.subtype.upper()
        if subtype == "PDF":
            if attachment.encoding.upper() != "BASE64":
                raise Hl7ParseError(
                    "OBX-5.4 must be Base64 for a PDF",
                    field="OBX-5.4",
                    hl7_code=ErrorCode.TABLE_VALUE_NOT_FOUND,
                )
            if not attachment.data.startswith(b"%PDF-"):
                raise Hl7ParseError("OBX-5.5 is labelled PDF but is not a PDF", field="OBX-5.5")
            return "pdf", "", attachment.data
        if subtype == "HTML":
            try:
                return "html", attachment.data.decode("utf-8"), None
            except UnicodeDecodeError:
                raise Hl7ParseError("OBX-5.5 HTML is not valid UTF-8", field="OBX-5.5") from None
        raise Hl7ParseError(
            "OBX-5.3 must be PDF or HTML",
            field="OBX-5.3",
            hl7_code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    lines = [
        free_text(obx, 5, repetition=r)
        for obx in obxs
        if leaf(obx, 2).strip().upper() in TEXT_VALUE_TYPES
        for r in range(1, obx.repetition_count(5) + 1)
    ]
    if lines:
        return "text", "\n".join(lines), None
    return "", "", None
