from __future__ import annotations

import base64
from typing import Any

import pytest

from pkb_bridge.hl7 import (
    CarePlan,
    Document,
    PersonName,
    build_care_plan,
    build_mdm,
    build_mdm_delete,
    pid3_identifiers,
    segment_counts,
)
from rms.hl7 import extract_document, parse
from tests.pkb_bridge.hl7.support import (
    NASTY,
    OBSERVED_AT,
    context,
    field,
    patient,
    sample_segment,
    segment,
    segments,
)

HTML = (
    "<h1>Clinic letter</h1>\r\n<p>Dear Zoë O'Brien,</p>\n"
    "<pre>PSA  0.1\nPSA  0.2</pre><p>A&amp;B 🙂</p>"
)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _document(**overrides: Any) -> Document:
    values: dict[str, Any] = {
        "document_number": "DOC0001",
        "document_type": "CL",
        "title": "Urology clinic letter",
        "authored_at": OBSERVED_AT,
        "author": PersonName("Jones", "Stuart", title="Dr"),
        "filename": "letter.html",
        "content_html": HTML,
    }
    values.update(overrides)
    return Document(**values)


def _plan(**overrides: Any) -> CarePlan:
    values: dict[str, Any] = {
        "document_number": "PLAN0001",
        "title": "Prostate cancer follow-up plan",
        "authored_at": OBSERVED_AT,
        "content_html": "<p>Your PSA is checked every 6 months.</p>",
    }
    values.update(overrides)
    return CarePlan(**values)


def _names(message: str) -> list[str]:
    return [line[:3] for line in segments(message)]


def test_a_document_is_an_mdm_t02_with_txa_and_one_ed_obx() -> None:
    message = build_mdm(context(), patient(), _document())
    assert _names(message) == ["MSH", "EVN", "PID", "PV1", "TXA", "OBX"]
    assert field(segment(message, "MSH"), 9) == "MDM^T02^MDM_T02"
    assert segment(message, "EVN") == "EVN|T02|20250701120000+0100"
    assert segment(message, "PV1") == "PV1|1|O||||||||ONC"
    assert pid3_identifiers(message) == [("9434765919", "NHS", "NH")]


def test_txa_has_the_fields_pkb_reads() -> None:
    txa = segment(build_mdm(context(), patient(), _document()), "TXA")
    assert field(txa, 1) == "1"
    assert field(txa, 2) == "CL"
    assert field(txa, 4) == "20250301090000+0000"
    assert field(txa, 9) == "^Jones^Stuart^^^Dr"
    assert field(txa, 12) == "DOC0001"
    assert field(txa, 16) == "letter.html"
    assert field(txa, 17) == "AU"


def test_html_goes_as_ascii_base64_by_default() -> None:
    obx = segment(build_mdm(context(), patient(), _document()), "OBX")
    assert field(obx, 2) == "ED"
    assert field(obx, 3) == "CL^Urology clinic letter"
    assert field(obx, 11) == "F"
    source, kind, subtype, encoding, data = field(obx, 5).split("^")
    assert (source, kind, subtype, encoding) == ("", "TEXT", "HTML", "Base64")
    decoded = base64.b64decode(data, validate=True)
    assert decoded.isascii()
    assert decoded.decode("ascii") == HTML.encode("ascii", "xmlcharrefreplace").decode("ascii")
    assert "Zo&#235;" in decoded.decode("ascii")


def test_html_can_go_as_escaped_text() -> None:
    message = build_mdm(context(), patient(), _document(), html_encoding="A")
    assert segment_counts(message) == segment_counts(build_mdm(context(), patient(), _document()))
    obx = segment(message, "OBX")
    assert field(obx, 5).startswith("^TEXT^HTML^A^<h1>Clinic letter</h1>\\.br\\<p>Dear Zoë")
    read = extract_document(parse(message))
    assert read.content_type == "html"
    assert read.content_text == HTML.replace("\r\n", "\n")


def test_an_unknown_html_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="html_encoding"):
        build_mdm(context(), patient(), _document(), html_encoding="Hex")  # type: ignore[arg-type]


def test_a_pdf_goes_as_base64() -> None:
    message = build_mdm(context(), patient(), _document(content_html=None, content_pdf=PDF))
    assert field(segment(message, "OBX"), 5).startswith("^TEXT^PDF^Base64^JVBERi0xLjQK")
    read = extract_document(parse(message))
    assert (read.content_type, read.content_bytes) == ("pdf", PDF)


def test_the_document_delay_goes_in_obx_13() -> None:
    obx = segment(build_mdm(context(), patient(), _document(delay_days=14)), "OBX")
    assert field(obx, 13) == "14"
    assert field(segment(build_mdm(context(), patient(), _document()), "OBX"), 13) == ""


def test_a_document_reads_back_with_the_inbound_parser() -> None:
    read = extract_document(parse(build_mdm(context(), patient(), _document())))
    assert (read.document_type, read.document_number, read.status) == ("CL", "DOC0001", "AU")
    assert read.is_cancellation is False
    assert read.authored_at == OBSERVED_AT
    assert read.author == "Dr Stuart Jones"
    assert read.filename == "letter.html"
    assert read.title == "Urology clinic letter"
    assert read.content_type == "html"
    assert read.content_text == HTML.encode("ascii", "xmlcharrefreplace").decode("ascii")


@pytest.mark.parametrize("text", [NASTY, "Zoë\r\nŁukasz 🙂", "\rPID|1||9999999999^^^NHS^NH"])
def test_document_metadata_never_adds_a_segment(text: str) -> None:
    document = _document(title=text, author=text, filename=text, document_number="D" + text)
    message = build_mdm(context(), patient(), document, html_encoding="A")
    assert _names(message) == ["MSH", "EVN", "PID", "PV1", "TXA", "OBX"]
    read = extract_document(parse(message))
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert read.title == read.filename == read.author == expected
    assert read.document_number == ("D" + expected).strip()


def test_html_with_delimiters_and_a_fake_segment_reads_back_as_text() -> None:
    html = "<p>" + NASTY + "</p>\r<p>\rPID|1||9999999999^^^NHS^NH</p>]]>"
    for encoding in ("A", "Base64"):
        message = build_mdm(
            context(), patient(), _document(content_html=html), html_encoding=encoding
        )  # type: ignore[arg-type]
        assert segment_counts(message)["PID"] == 1
        read = extract_document(parse(message))
        expected = html.replace("\r", "\n") if encoding == "A" else html
        assert read.content_text == expected


def test_a_care_plan_is_an_mdm_t02_with_type_cp_and_its_title_in_obx_3_2() -> None:
    message = build_care_plan(context(), patient(), _plan())
    txa, obx = segment(message, "TXA"), segment(message, "OBX")
    assert (field(txa, 2), field(txa, 4), field(txa, 12), field(txa, 17)) == (
        "CP",
        "20250301090000+0000",
        "PLAN0001",
        "AU",
    )
    assert field(obx, 2) == "ED"
    assert field(obx, 3) == "CP^Prostate cancer follow-up plan"
    assert field(obx, 5).startswith("^TEXT^HTML^Base64^")
    read = extract_document(parse(message))
    assert (read.document_type, read.title) == ("CP", "Prostate cancer follow-up plan")
    assert read.content_text == "<p>Your PSA is checked every 6 months.</p>"


def test_a_care_plan_may_be_a_pdf() -> None:
    message = build_care_plan(context(), patient(), _plan(content_html=None, content_pdf=PDF))
    assert field(segment(message, "OBX"), 5).startswith("^TEXT^PDF^Base64^")
    assert extract_document(parse(message)).content_bytes == PDF


def test_a_deletion_is_an_mdm_t11_with_the_document_number_as_in_pkbs_sample() -> None:
    message = build_mdm_delete(context(), patient(), "MYDOC00001")
    assert _names(message) == ["MSH", "EVN", "PID", "PV1", "TXA"]
    assert field(segment(message, "MSH"), 9) == "MDM^T11^MDM_T01"
    theirs = sample_segment("mdm_t11.hl7", "TXA")
    assert segment(message, "TXA") == theirs.rstrip("|")
    read = extract_document(parse(message))
    assert (read.document_number, read.is_cancellation) == ("MYDOC00001", True)


def test_a_deletion_escapes_the_document_number() -> None:
    txa = segment(build_mdm_delete(context(), patient(), "A|B"), "TXA")
    assert field(txa, 12) == "A\\F\\B"


def test_a_deletion_needs_a_document_number() -> None:
    with pytest.raises(ValueError, match="document_number"):
        build_mdm_delete(context(), patient(), " ")


# --- v2.4 lengths of TXA-12 and TXA-16 -----------------------------------------------------

LONG_NUMBER = "CONSENT-7bcc517d-ce86-4a34-a128-b4bb4c1aaa21"


def test_a_document_number_that_fits_v2_4_is_sent_as_it_is() -> None:
    """HL7 v2.4: TXA-12 (EI) and TXA-16 (ST) are at most 30 characters."""
    txa = segment(build_mdm(context(), patient(), _document()), "TXA")
    assert (field(txa, 12), field(txa, 16)) == ("DOC0001", "letter.html")


def test_a_longer_document_number_is_fitted_to_30_characters_the_same_way_every_time() -> None:
    """HL7 v2.4 TXA-12 is at most 30 characters; pkb-hl7-interface.md 9.4-9.5 and the A4 sample:
    PKB replaces (T02) or deletes (T11) by TXA-12.1, so every message about one document must
    carry the same TXA-12, and two documents never the same one."""
    first = build_mdm(
        context(), patient(), _document(document_number=LONG_NUMBER, filename=LONG_NUMBER + ".html")
    )
    again = build_mdm_delete(context(), patient(), LONG_NUMBER)
    plan = build_care_plan(context(), patient(), _plan(document_number=LONG_NUMBER))
    other = build_mdm(context(), patient(), _document(document_number=LONG_NUMBER[:-1] + "2"))
    numbers = {field(segment(message, "TXA"), 12) for message in (first, again, plan)}
    (number,) = numbers
    assert len(number) == 30 and number.startswith("CONSENT-7bcc517d")
    assert field(segment(other, "TXA"), 12) != number
    filename = field(segment(first, "TXA"), 16)
    assert len(filename) <= 30 and filename.endswith(".html")
