"""``manage.py pkb_conformance_pack DIR``: one message of every kind sent to PKB, for a fictional
patient, with each message's conformance check (docs/pkb.md, "Conformance pack")."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pkb_bridge.models import OutboundMessage
from tests.pkb_bridge.hl7.support import field, hl7apy_parse


def _nhs_number_is_valid(number: str) -> bool:
    """pkb-hl7-interface.md 11.1, Modulus 11, written out again here."""
    total = sum(int(number[i]) * (10 - i) for i in range(9))
    check = (11 - total % 11) % 11
    return check != 10 and check == int(number[9])


def _kind(message: str) -> str:
    """The outbox kind a message is (OutboundMessage.Kind): MSH-9.1^9.2, radiology apart."""
    msh = message.split("\r")[0]
    event = "^".join(field(msh, 9).split("^")[:2])
    return "ORU^R01^RAD" if event == "ORU^R01" and field(msh, 3) == "RADIOLOGY" else event


def test_it_writes_one_conforming_message_of_every_kind_for_a_fictional_patient(
    tmp_path: Path,
) -> None:
    """No database is used (this test has none). Every kind the outbox sends is there, each
    read by a second parser (hl7apy, v2.4), for a test-range NHS number (999 000 0000 to
    999 999 9999, never issued: section 11.1), and the report says each conforms."""
    call_command("pkb_conformance_pack", str(tmp_path))
    files = sorted(tmp_path.glob("*.hl7"))
    messages = {path.name: path.read_bytes().decode("utf-8") for path in files}
    assert {_kind(message) for message in messages.values()} == set(OutboundMessage.Kind.values)
    for name, message in messages.items():
        hl7apy_parse(message)  # reads as its v2.4 structure
        (pid,) = [line for line in message.split("\r") if line.startswith("PID|")]
        number = field(pid, 3).split("^")[0]
        assert number.startswith("999") and _nhs_number_is_valid(number), name
    report = (tmp_path / "report.txt").read_text(encoding="utf-8")
    for name in messages:
        assert f"{name}  " in report
    assert report.count("conforms") == len(messages) == 15
    assert "0 of 15 messages fail their profile." in report


def test_the_pack_shows_what_is_withheld_and_how_text_and_delays_go(tmp_path: Path) -> None:
    """Sections 8 and 9.2: the lab message leaves the withdrawn observation out, carries the
    delay on every OBX and sends the multi-line comment as FT."""
    call_command("pkb_conformance_pack", str(tmp_path))
    lab = (tmp_path / "03-oru-r01-lab.hl7").read_bytes().decode("utf-8")
    observations = [line for line in lab.split("\r") if line.startswith("OBX|")]
    assert [field(obx, 3).split("^")[0] for obx in observations] == ["PSA", "COM"]
    assert {field(obx, 13) for obx in observations} == {"7"}
    assert field(observations[1], 2) == "FT"
    withdrawal = (tmp_path / "10-mdm-t02-care-plan-withdrawal.hl7").read_bytes().decode()
    assert hl7apy_parse(withdrawal).txa.txa_2.to_er7() == "CP"


def test_a_configuration_that_makes_pkb_misread_a_message_fails_and_says_why(
    tmp_path: Path, settings
) -> None:
    """Section 4: MSH-3 RADIOLOGY makes PKB read an ORU^R01 as radiology. With the lab's
    sending application set to it, the lab messages break the radiology profile: the pack is
    still written, the report says which fail and why, and the command fails."""
    settings.PKB_SENDING_APPLICATION = "RADIOLOGY"
    with pytest.raises(CommandError, match="do not conform"):
        call_command("pkb_conformance_pack", str(tmp_path))
    report = (tmp_path / "report.txt").read_text(encoding="utf-8")
    assert "03-oru-r01-lab.hl7  ORU^R01 radiology  FAILS" in report
    assert len(list(tmp_path.glob("*.hl7"))) == 15
