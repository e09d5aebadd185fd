"""Hand-written ER7 messages in PKB's published shapes, for the sandbox and transport tests.

Written by hand rather than with ``pkb_bridge.hl7`` builders so that the sandbox is checked
against PKB's conventions, not against our own reading of them.
"""

from __future__ import annotations

from collections.abc import Iterable

NHS = "9434765919"
OTHER_NHS = "9449305552"
BAD_NHS = "9434765910"  # fails Modulus 11
SENT = "20250301120000"
TAKEN = "20250301090000+0000"


def msh(message_type: str, control_id: str, *, sent: str = SENT, processing: str = "P") -> str:
    app = "RADIOLOGY" if message_type.endswith("#RAD") else "RMS"
    message_type = message_type.removesuffix("#RAD")
    return f"MSH|^~\\&|{app}|RXX|HL7API|PKB|{sent}||{message_type}|{control_id}|{processing}|2.4"


def pid(
    nhs: str = NHS,
    *,
    given: str = "Jane",
    family: str = "Smith",
    dob: str = "19600101",
    sex: str = "F",
    email: str = "",
    status: str = "01",
    identifiers: str | None = None,
) -> str:
    ids = identifiers if identifiers is not None else f"{nhs}^^^NHS^NH{{status:{status}}}"
    telecom = f"{email}^NET" if email else ""
    return f"PID|||{ids}||{family}^{given}^^^Mrs||{dob}|{sex}|||1 Road^^Town^^AB1 2CD||{telecom}"


def join(*segments: str) -> str:
    return "\r".join(segments)


def a28(control_id: str = "A28-1", *, event: str = "A28", sent: str = SENT, **pid_args: str) -> str:
    dg1 = pid_args.pop("dg1", "")
    segments = [msh(f"ADT^{event}", control_id, sent=sent), pid(**pid_args)]
    if dg1:
        segments += dg1.split("\r")
    return join(*segments)


def dg1(number: int, code: str, text: str) -> str:
    return f"DG1|{number}||{code}^{text}^SNOMED CT||20240101"


def obx(
    number: int,
    code: str,
    value: str,
    *,
    value_type: str = "NM",
    units: str = "ug/L",
    taken: str = TAKEN,
    delay: str = "",
    system: str = "RMS",
) -> str:
    return (
        f"OBX|{number}|{value_type}|{code}^{code}^{system}||{value}|{units}|0-5|N|||F||"
        f"{delay}|{taken}"
    )


def oru(
    control_id: str = "ORU-1",
    *,
    fon: str = "FON1",
    panel: str = "Tumour markers",
    obr_time: str = TAKEN,
    status: str = "F",
    observations: Iterable[str] | None = None,
    nhs: str = NHS,
    radiology: bool = False,
    obr_delay: str = "",
    identifiers: str | None = None,
) -> str:
    observations = list(observations if observations is not None else [obx(1, "CEA", "3.1")])
    message_type = "ORU^R01#RAD" if radiology else "ORU^R01"
    return join(
        msh(message_type, control_id),
        pid(nhs, identifiers=identifiers),
        "PV1|1|O||||||||ONC",
        f"ORC|RE||{fon}",
        f"OBR|1||{fon}|TM^{panel}^RMS|||{obr_time}||||||{obr_delay}||||||||||||{status}",
        *observations,
    )


def mdm(
    control_id: str = "MDM-1",
    *,
    event: str = "T02",
    document_type: str = "CL",
    number: str = "DOC1",
    status: str = "AU",
    content: str = "<p>Dear patient</p>",
    title: str = "Clinic letter",
    delay: str = "",
    authored: str = "20250301100000+0000",
    nhs: str = NHS,
) -> str:
    import base64

    data = base64.b64encode(content.encode()).decode()
    segments = [
        msh(f"MDM^{event}", control_id),
        pid(nhs),
        "PV1|1|O||||||||ONC",
        f"TXA|1|{document_type}|TEXT|{authored}||||||||{number}||||doc.html|{status}",
    ]
    if event == "T02":
        segments.append(f"OBX|1|ED|DOC^{title}||^TEXT^HTML^Base64^{data}||||||F||{delay}")
    return join(*segments)


def siu(
    control_id: str = "SIU-1",
    *,
    event: str = "S12",
    placer: str = "APPT1",
    start: str = "202503150930",
    reason: str = "Follow-up",
    nhs: str = NHS,
) -> str:
    return join(
        msh(f"SIU^{event}", control_id),
        pid(nhs),
        f"SCH|{placer}||||||^{reason}^||||^^^{start}^202503151000",
        "NTE|||Bring your medication list",
        "PV1|||^^^^^^^^Oncology clinic",
        "RGS|",
        "AIP|||^Jones^Stuart^^^Dr|^Doctor",
    )
