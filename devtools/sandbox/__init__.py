"""A local stand-in for PKB's HL7 endpoint, for ``make demo`` and for tests. Local use only.

``SandboxServer`` answers SOAP-wrapped HL7 v2 at ``/services/hl7`` the way PKB does (Basic auth,
ACK in the SOAP response, AR with PKB's texts where PKB would refuse), keeps what it accepted in
a ``SandboxState`` (in memory, optionally a JSON file), injects faults on request and shows each
record as the patient would see it. It never touches the RMS database: it is PKB, not us.

    with SandboxServer(username="u", password="p") as pkb:   # port 0: a free port
        PkbTransport(pkb.url, "u", "p", connect_timeout_s=2, deadline_s=5).send(message)
        pkb.state.messages()
"""

from __future__ import annotations

from devtools.sandbox.faults import FaultError, Faults, FaultSettings
from devtools.sandbox.server import HL7_PATH, SandboxServer, soap_fault, soap_response
from devtools.sandbox.state import Answer, InFlight, SandboxState

__all__ = [
    "HL7_PATH",
    "Answer",
    "FaultError",
    "FaultSettings",
    "Faults",
    "InFlight",
    "SandboxServer",
    "SandboxState",
    "soap_fault",
    "soap_response",
]
