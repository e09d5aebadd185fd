from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape

import pytest

from pkb_bridge.hl7 import (
    SoapError,
    build_adt,
    build_envelope,
    build_mdm,
    build_oru_lab,
    build_oru_radiology,
    build_siu,
    parse_ack,
    parse_envelope_request,
    parse_envelope_response,
)
from pkb_bridge.hl7.soap import NAMESPACE, SOAP_ENVELOPE_NAMESPACE
from tests.pkb_bridge.hl7.support import context, lab_report, observation, patient, sample
from tests.pkb_bridge.hl7.test_build_mdm import _document
from tests.pkb_bridge.hl7.test_build_oru import _radiology
from tests.pkb_bridge.hl7.test_build_siu import _appointment

SOAP = SOAP_ENVELOPE_NAMESPACE
ACK = "MSH|^~\\&|HL7API|PKB|RMS|RXX|20250701120000||ACK^R01|PKB-1|P|2.4\rMSA|AA|id-1\r"


def _response(inner: str, *, envelope_namespace: str = SOAP) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{envelope_namespace}"><soap:Body>{inner}'
        "</soap:Body></soap:Envelope>"
    ).encode()


def _messages_with(text: str) -> list[str]:
    report = lab_report(notes=(text,), observations=(observation(1, value=text, value_type="TX"),))
    return [
        build_adt(context(), patient(family_name=text)),
        build_oru_lab(context(), patient(), [report]),
        build_oru_radiology(context(), patient(), _radiology(report_text=text + "\n" + text)),
        build_mdm(
            context(), patient(), _document(content_html=f"<p>{text}</p>"), html_encoding="A"
        ),
        build_siu(context(), patient(), _appointment(notes=text)),
    ]


def test_the_envelope_is_pkbs_accept_message_call_in_utf8() -> None:
    body = build_envelope(build_adt(context(), patient(family_name="Zoë")))
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)  # noqa: S314 - our own output
    assert root.tag == f"{{{SOAP}}}Envelope"
    operation = root.find(f"{{{SOAP}}}Body/{{{NAMESPACE}}}acceptMessage")
    assert operation is not None
    argument = operation.find("arg0")
    assert argument is not None
    assert argument.text is not None and argument.text.startswith("MSH|^~\\&|RMS|")
    assert b"<arg0><![CDATA[MSH|" in body
    assert "Zoë".encode() in body


@pytest.mark.parametrize(
    "text", ["]]>", "a]]>b]]>c", "]]]>", "ends with ]]", "<![CDATA[x]]>", "&amp; <b>"]
)
def test_every_message_survives_the_envelope_unchanged(text: str) -> None:
    for message in _messages_with(text):
        assert parse_envelope_request(build_envelope(message)) == message


def test_a_cdata_end_in_the_text_is_split_across_two_sections() -> None:
    body = build_envelope("MSH|^~\\&|X\rNTE|1||a]]>b\r")
    assert b"a]]]]><![CDATA[>b" in body


def test_the_envelope_refuses_a_character_xml_cannot_carry() -> None:
    with pytest.raises(ValueError, match="XML"):
        build_envelope("MSH|^~\\&|X\x01\r")


def test_it_reads_the_ack_from_a_jax_ws_response() -> None:
    body = _response(
        f'<ns2:acceptMessageResponse xmlns:ns2="{NAMESPACE}"><return>'
        + xml_escape(ACK).replace("\r", "&#13;")
        + "</return></ns2:acceptMessageResponse>"
    )
    text = parse_envelope_response(body)
    assert text == ACK
    assert parse_ack(text).code == "AA"


def test_it_reads_an_ack_whose_crs_became_lfs() -> None:
    body = _response(
        f'<ns2:acceptMessageResponse xmlns:ns2="{NAMESPACE}"><return><![CDATA['
        + ACK
        + "]]></return></ns2:acceptMessageResponse>"
    )
    text = parse_envelope_response(body)
    assert "\r" not in text
    ack = parse_ack(text)
    assert (ack.code, ack.control_id) == ("AA", "id-1")


def test_it_reads_a_namespaced_return_element() -> None:
    body = _response(
        f'<w:acceptMessageResponse xmlns:w="{NAMESPACE}">'
        f"<w:return>{xml_escape(sample('ack_aa.hl7'))}</w:return>"
        "</w:acceptMessageResponse>"
    )
    assert parse_ack(parse_envelope_response(body)).code == "AA"


def test_without_a_return_element_it_reads_the_first_text_of_the_response() -> None:
    body = _response(
        f'<w:acceptMessageResponse xmlns:w="{NAMESPACE}">  '
        f"<ack>{xml_escape(sample('ack_ar_as_published.hl7'))}</ack>"
        "</w:acceptMessageResponse>"
    )
    assert parse_ack(parse_envelope_response(body)).code == "AR"


def test_a_soap_11_fault_raises_with_its_faultstring() -> None:
    body = _response(
        "<soap:Fault><faultcode>soap:Server</faultcode>"
        "<faultstring>Unauthorised IP address</faultstring></soap:Fault>"
    )
    with pytest.raises(SoapError, match="Unauthorised IP address") as raised:
        parse_envelope_response(body)
    assert raised.value.is_fault
    assert raised.value.fault_code == "soap:Server"
    assert raised.value.fault_string == "Unauthorised IP address"
    assert isinstance(raised.value, ValueError)


def test_a_soap_12_fault_raises_with_its_reason() -> None:
    body = _response(
        "<env:Fault xmlns:env='http://www.w3.org/2003/05/soap-envelope'>"
        "<env:Code><env:Value>env:Receiver</env:Value></env:Code>"
        "<env:Reason><env:Text xml:lang='en'>Service unavailable</env:Text></env:Reason>"
        "</env:Fault>",
        envelope_namespace="http://www.w3.org/2003/05/soap-envelope",
    )
    with pytest.raises(SoapError, match="Service unavailable") as raised:
        parse_envelope_response(body)
    assert raised.value.fault_code == "env:Receiver"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<html><body>502 Bad Gateway",
        b"<html><body>Bad gateway</body></html>",  # XML, but no envelope
        b"not xml at all",
        _response(""),  # no answer
        f'<soap:Envelope xmlns:soap="{SOAP}"/>'.encode(),  # no Body
    ],
)
def test_a_body_without_an_answer_raises_soap_error(body: bytes) -> None:
    with pytest.raises(SoapError) as raised:
        parse_envelope_response(body)
    assert not raised.value.is_fault


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<return>&lol2;</return></soap:Body></soap:Envelope>"""


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        BILLION_LAUGHS.decode().encode("utf-16"),  # hides "<!DOCTYPE" from a byte search
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
    ],
)
def test_a_dtd_is_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(SoapError, match="DOCTYPE"):
        parse_envelope_response(body)
    with pytest.raises(SoapError, match="DOCTYPE"):
        parse_envelope_request(body)


def test_a_request_without_arg0_raises_soap_error() -> None:
    body = _response(f'<w:acceptMessage xmlns:w="{NAMESPACE}"/>')
    with pytest.raises(SoapError, match="arg0"):
        parse_envelope_request(body)
