"""The SOAP envelope PKB's HL7 endpoint takes, and reading what comes back.

PKB wants each ER7 message as the single argument ``arg0`` of the operation ``acceptMessage``
(namespace ``http://wsssl.hl7api.patientsknowbest.com/``) inside a CDATA section, POSTed over
HTTPS (pkb-hl7-interface.md 3.1 and Appendix C). Two consequences of XML worth knowing:

* ``]]>`` ends a CDATA section, so free text containing it would end ours early (E4). It is
  split across two sections (``]]]]><![CDATA[>``); an XML parser joins them back.
* XML 1.0 (2.11) turns every CR, and every CRLF, into LF before the receiver sees the text, CDATA
  included. PKB therefore receives LF-separated segments from every sender that follows its
  template, as we do; the sandbox side (``parse_envelope_request``) turns them back into CRs.
  That is lossless for our messages because they never contain a raw LF: every value is
  escaped, line breaks as ``\\.br\\``.

Parsing uses the standard library's ElementTree (defusedxml is not installed). On Python 3.13
with expat 2.4.1 or later, ElementTree does not fetch external entities or DTDs and expat
limits entity amplification ("billion laughs"); but the expat in use is whatever the system
provides, and nothing we parse (PKB's answer, or a request to our sandbox) has any business
carrying a DTD. So a body with a DOCTYPE or an entity declaration is refused before it is
parsed, both by a text check and by an expat pass that stops at the first DTD event (which
also catches a DOCTYPE hidden in UTF-16).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

NAMESPACE = "http://wsssl.hl7api.patientsknowbest.com/"
SOAP_ENVELOPE_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATION = "acceptMessage"
CONTENT_TYPE = "text/xml; charset=utf-8"

_ENVELOPE_START = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NAMESPACE}" xmlns:wss="{NAMESPACE}">'
    "<soapenv:Header/><soapenv:Body><wss:acceptMessage><arg0><![CDATA["
)
_ENVELOPE_END = "]]></arg0></wss:acceptMessage></soapenv:Body></soapenv:Envelope>"
# Characters XML 1.0 cannot carry at all, not even in CDATA.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


class SoapError(ValueError):
    """A SOAP body we cannot use: not XML, a DTD, no answer in it, or a SOAP Fault.

    For a Fault, ``fault_code`` and ``fault_string`` are what the server said.
    """

    def __init__(
        self, message: str, *, fault_code: str | None = None, fault_string: str | None = None
    ) -> None:
        super().__init__(message)
        self.fault_code = fault_code
        self.fault_string = fault_string

    @property
    def is_fault(self) -> bool:
        return self.fault_string is not None or self.fault_code is not None


def build_envelope(message: str) -> bytes:
    """The SOAP request body for one ER7 message, UTF-8.

    Raises ``ValueError`` if the message holds a character XML cannot carry (a built message
    never does: the escape drops them).
    """
    if _NOT_XML.search(message):
        raise ValueError("the message holds a character XML cannot carry")
    cdata = message.replace("]]>", "]]]]><![CDATA[>")
    return (_ENVELOPE_START + cdata + _ENVELOPE_END).encode("utf-8")


def parse_envelope_response(body: bytes) -> str:
    """The ACK text in PKB's SOAP response.

    The answer element is not documented (JAX-WS services name it ``return``): any element
    called ``return``, in any namespace, inside the Body; failing that, the first text inside
    ``acceptMessageResponse``. Raises ``SoapError`` for a Fault (with its faultstring), a body
    that is not XML or has a DTD, or a response with no answer in it.
    """
    body_element = _soap_body(body)
    fault = _first(body_element, "Fault")
    if fault is not None:
        raise _fault_error(fault)
    answer = _first(body_element, "return")
    if answer is not None:
        return "".join(answer.itertext())
    response = _first(body_element, f"{OPERATION}Response")
    if response is not None:
        for text in response.itertext():
            if text.strip():
                return text
    raise SoapError("the SOAP response holds no acknowledgement")


def parse_envelope_request(body: bytes) -> str:
    """The ER7 message in an ``acceptMessage`` request (the sandbox's side), CRs restored.

    Raises ``SoapError`` if the body is not XML, has a DTD, or has no ``arg0``.
    """
    body_element = _soap_body(body)
    operation = _first(body_element, OPERATION)
    argument = _first(operation if operation is not None else body_element, "arg0")
    if argument is None:
        raise SoapError("the SOAP request has no acceptMessage/arg0")
    text = "".join(argument.itertext())
    # XML has turned our CRs into LFs (see the module docstring); a message we built holds no
    # raw LF, so every LF here was a CR.
    return text.replace("\r\n", "\r").replace("\n", "\r")


def _soap_body(body: bytes) -> ET.Element:
    root = _parse_xml(body)
    if _local_name(root.tag) != "Envelope":
        raise SoapError("not a SOAP envelope")
    for child in root:
        if _local_name(child.tag) == "Body":
            return child
    raise SoapError("the SOAP envelope has no Body")


def _parse_xml(body: bytes) -> ET.Element:
    if not isinstance(body, bytes | bytearray):
        raise SoapError("the SOAP body must be bytes")
    if not body.strip():
        raise SoapError("the SOAP body is empty")
    if any(marker in body for marker in _DTD_MARKERS):
        raise SoapError("the SOAP body has a DOCTYPE or entity declaration; refused")
    _refuse_dtd(bytes(body))
    try:
        return ET.fromstring(body)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        raise SoapError(f"the SOAP body is not well-formed XML ({exc})") from None


def _refuse_dtd(body: bytes) -> None:
    """An expat pass that raises at the first DTD event, whatever the body's encoding."""

    def refuse(*_args: object) -> None:
        raise SoapError("the SOAP body has a DOCTYPE or entity declaration; refused")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise SoapError(f"the SOAP body is not well-formed XML ({exc})") from None


def _fault_error(fault: ET.Element) -> SoapError:
    # SOAP 1.1: faultcode/faultstring; SOAP 1.2: Code/Value and Reason/Text.
    string_element = _first(fault, "faultstring")
    if string_element is None:
        string_element = _first(fault, "Text")
    code_element = _first(fault, "faultcode")
    if code_element is None:
        code_element = _first(fault, "Value")
    fault_string = "".join(string_element.itertext()).strip() if string_element is not None else ""
    fault_code = "".join(code_element.itertext()).strip() if code_element is not None else ""
    return SoapError(
        f"SOAP Fault {fault_code}: {fault_string}".strip(),
        fault_code=fault_code,
        fault_string=fault_string,
    )


def _first(parent: ET.Element, local_name: str) -> ET.Element | None:
    """The first descendant of ``parent`` (itself excluded) with this local name."""
    for element in parent.iter():
        if element is not parent and _local_name(element.tag) == local_name:
            return element
    return None


def _local_name(tag: object) -> str:
    # Comments and processing instructions have a function, not a string, as their tag.
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]
