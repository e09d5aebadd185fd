"""The inbound sample messages (copies of shared/samples/inbound) and small message builders."""

from __future__ import annotations

from pathlib import Path

from rms.hl7 import ParsedMessage, decode_message, parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7"
SAMPLE_NAMES = sorted(path.name for path in FIXTURES.glob("*.hl7"))


def sample_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sample_message(name: str) -> ParsedMessage:
    return parse(decode_message(sample_bytes(name)))


def message(*segments: str) -> str:
    """Segments joined with CR, as on the wire."""
    return "\r".join(segments) + "\r"


MSH_ORU = "MSH|^~\\&|WINPATH|RXX01|RMS|RXX|20261110141502||ORU^R01^ORU_R01|LAB1|P|2.4"
PID = "PID|1||9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan^James^^Mr||19580214|M"

# Seeds beyond the shared samples, so the fuzz tests reach the SIU and MDM extractors too.
SIU_S12 = message(
    "MSH|^~\\&|app|sender|HL7API|PKB|201303080949||SIU^S12|ABC0000000001|P|2.4",
    "PID|||9999999999^^^NHS^NH{status:01}||Smith^John^Joe^^Mr||19700101|M|||"
    "Flat name^1, The Road^London^London^SW1A 1AA^GBR||01234567890^PRN~07123456789^PRS|"
    "^NET^^john.smith@company.com~01234098765^WPN||||||||||||||||N|",
    "SCH|ID123||||||^checkup^||||^^^201411201231^201411201232|||||||||||||||",
    "NTE|||My comment \\.br\\ with a break|",
    "PV1|||^^^^^^^^health centre",
    "RGS|",
    "AIS|1||FU^Follow-up|202611201400|||20|MIN",
    "AIP|||^Jones^Stuart^James^^Dr|^Doctor",
)
MDM_T02 = message(
    "MSH|^~\\&|EPR|RXX01|RMS|RXX|20261115120000||MDM^T02^MDM_T02|DOC1|P|2.4",
    "EVN|T02|20261115120000",
    PID,
    "TXA|1|CL||20261114100000|C9^Registrar^Rita^^^Dr|||20261115090000|C1^Surgeon^Sam^^^Mr"
    "|||DOC-0001||||letter.pdf|AU",
    "OBX|1|ED|CL^Clinic letter^LOCAL||^APPLICATION^PDF^Base64^JVBERi0xLjQKJSVFT0YK||||||F",
    "OBX|2|TX|||A line~Another \\T\\ line",
)
