"""``manage.py import_patients``: onboarding a caseload from CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from io import StringIO
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from rms import nhs_number
from rms.importing import COLUMNS
from rms.models import CaseloadEntry, Patient, Team
from tests.factories import PatientFactory

SAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "caseload.csv"


def nhs(n: int) -> str:
    """A valid NHS number in 999 500 0000 up, clear of the factories' and the sample's."""
    body = 0
    found = 0
    while True:
        check = nhs_number.check_digit(f"9995{body:05d}")
        if check is not None:
            if found == n:
                return f"9995{body:05d}{check}"
            found += 1
        body += 1


def row(n: int = 0, **values: str) -> dict[str, str]:
    base = {
        "nhs_number": nhs(n),
        "nhs_number_status": "01",
        "mrn": f"RXX70000{n:02d}",
        "title": "Mr",
        "given_name": "Alfred",
        "family_name": f"Testcase{n}",
        "date_of_birth": "1951-06-02",
        "sex": "M",
        "address": "1 Station Road, , Taunton, Somerset, TA1 1AA",
        "phone": "07700 900123",
        "email": "",
    }
    base.update(values)
    return base


def write_csv(
    tmp_path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS
) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "caseload.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def run(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_patients", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_refused(path: Path, *args: str) -> tuple[str, str]:
    """Run an import expected to refuse a row: (the printed report, the error)."""
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_patients", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue(), str(caught.value)


def test_it_imports_the_example_caseload(team: Team) -> None:
    out = run(SAMPLE, "--team", "URO")

    assert "Created: 8" in out
    assert "Refused: 0" in out
    on_caseload = Patient.objects.filter(
        caseload_entries__team=team, caseload_entries__ended_on__isnull=True
    )
    assert on_caseload.count() == 8
    first = Patient.objects.get(nhs_number="9990000018")
    assert (first.given_name, first.family_name) == ("Arthur", "Pemberton")
    assert first.date_of_birth == dt.date(1948, 2, 11)
    assert first.address_lines == [
        "14 Orchard Close",
        "Bishops Lydeard",
        "Taunton",
        "Somerset",
        "TA4 3AB",
    ]
    assert first.phone_mobile == "07700 900101"
    # Spaces in an NHS number are accepted and dropped.
    assert Patient.objects.filter(nhs_number="9990000034").exists()
    # A blank status means "present but not traced".
    assert Patient.objects.get(nhs_number="9990000050").nhs_number_status == "02"


def test_the_report_names_no_patient(team: Team) -> None:
    out = run(SAMPLE, "--team", "URO")

    for patient in Patient.objects.all():
        assert patient.family_name not in out
        assert patient.given_name not in out
        assert str(patient.nhs_number) not in out
        assert patient.date_of_birth.isoformat() not in out


def test_importing_the_same_file_twice_changes_nothing(team: Team) -> None:
    run(SAMPLE, "--team", "URO")
    updated_at = dict(Patient.objects.values_list("pk", "updated_at"))

    out = run(SAMPLE, "--team", "URO")

    assert "Created: 0" in out
    assert "Updated: 0" in out
    assert "Unchanged: 8" in out
    assert Patient.objects.count() == 8
    assert CaseloadEntry.objects.count() == 8
    assert dict(Patient.objects.values_list("pk", "updated_at")) == updated_at


def test_it_updates_a_known_patient_with_the_non_blank_values_and_adds_them_to_the_caseload(
    team: Team, other_team: Team, tmp_path: Path
) -> None:
    known = PatientFactory(
        nhs_number=nhs(0),
        nhs_number_status="01",
        title="Mr",
        family_name="Testcase0",
        date_of_birth=dt.date(1951, 6, 2),
        phone_mobile="07700 900999",
        email="before@example.com",
        teams=[other_team],
    )
    path = write_csv(
        tmp_path,
        [row(0, title="Dr", nhs_number_status="", phone="", email="", mrn="")],
    )

    out = run(path, "--team", "URO")

    assert "Updated: 1" in out
    known.refresh_from_db()
    assert known.title == "Dr"
    # Blank columns leave what was there.
    assert known.phone_mobile == "07700 900999"
    assert known.email == "before@example.com"
    assert known.nhs_number_status == "01"
    assert set(known.teams.values_list("code", flat=True)) == {"URO", "CRC"}


def test_a_known_patient_not_yet_on_the_caseload_counts_as_updated(
    team: Team, other_team: Team, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, [row(0)])
    run(path, "--team", "CRC")

    out = run(path, "--team", "URO")

    assert "Updated: 1" in out
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"nhs_number": "9990000019"},
            "line 2: nhs_number: This is not a valid NHS number: its check digit does not match.",
        ),
        ({"nhs_number": "99900"}, "line 2: nhs_number: An NHS number has 10 digits; this has 5."),
        ({"date_of_birth": "02/06/1951"}, "line 2: date_of_birth: Enter a real date as YYYY-MM-DD"),
        ({"date_of_birth": "1951-02-30"}, "line 2: date_of_birth: Enter a real date as YYYY-MM-DD"),
        ({"date_of_birth": "2099-01-01"}, "line 2: date_of_birth: The date of birth is in the"),
        ({"sex": "X"}, "line 2: sex: Use M, F or U."),
        ({"nhs_number_status": "09"}, "line 2: nhs_number_status: Use a two-digit status code"),
        ({"family_name": ""}, "line 2: family_name: This field is required for a new patient."),
        ({"email": "not-an-email"}, "line 2: email: Enter a valid email address."),
        (
            {"nhs_number": "", "nhs_number_status": "01"},
            "line 2: nhs_number_status: Status 01 (verified) needs an NHS number.",
        ),
    ],
)
def test_it_refuses_a_row_naming_the_field(
    team: Team, tmp_path: Path, values: dict[str, str], expected: str
) -> None:
    path = write_csv(tmp_path, [row(0, **values)])

    out, error = run_refused(path, "--team", "URO")

    assert expected in out
    assert "Refused: 1" in out
    assert "1 row(s) were refused" in error
    assert not Patient.objects.exists()


def test_it_refuses_an_mrn_that_belongs_to_another_patient(
    team: Team, other_team: Team, tmp_path: Path
) -> None:
    PatientFactory(mrn="RXX7000042", teams=[other_team])
    path = write_csv(tmp_path, [row(0, mrn="RXX7000042")])

    out, _ = run_refused(path, "--team", "URO")

    assert "line 2: mrn: A patient with this MRN is already registered." in out
    assert Patient.objects.count() == 1


def test_it_lists_every_problem_with_a_row(team: Team, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(0, sex="Q", date_of_birth="yesterday", given_name="")])

    out, _ = run_refused(path, "--team", "URO")

    assert "line 2: sex:" in out
    assert "line 2: date_of_birth:" in out
    assert "line 2: given_name: This field is required for a new patient." in out


def test_a_refused_row_changes_nothing_while_the_other_rows_import(
    team: Team, other_team: Team, tmp_path: Path
) -> None:
    PatientFactory(mrn="RXX7000042", teams=[other_team])
    known = PatientFactory(
        nhs_number=nhs(1),
        given_name="Keepme",
        family_name="Testcase1",
        date_of_birth=dt.date(1951, 6, 2),
        teams=[other_team],
    )
    path = write_csv(
        tmp_path,
        [
            row(0),
            # A new given name with an MRN that is someone else's: refused as a whole.
            row(1, given_name="Changed", mrn="RXX7000042"),
            row(2),
        ],
    )

    out, _ = run_refused(path, "--team", "URO")

    assert "Created: 2" in out
    assert "line 3: mrn:" in out
    known.refresh_from_db()
    assert known.given_name == "Keepme"
    assert not known.teams.filter(code="URO").exists()
    assert Patient.objects.filter(nhs_number__in=[nhs(0), nhs(2)]).count() == 2


def test_line_numbers_count_the_header_and_multi_line_values(team: Team, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [row(0, address="Flat 1\nQuay House, Watchet, TA23 0AQ"), row(1, sex="X")],
    )

    out, _ = run_refused(path, "--team", "URO")

    assert "line 4: sex:" in out


def test_it_refuses_a_row_with_the_wrong_number_of_values(team: Team, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(",".join(COLUMNS) + "\n" + nhs(0) + ",01\n", encoding="utf-8")

    out, _ = run_refused(path, "--team", "URO")

    assert "line 2: row: the row has 2 values; the header has 11" in out


def test_it_refuses_a_wrong_header_naming_the_columns(team: Team, tmp_path: Path) -> None:
    columns = (*(c for c in COLUMNS if c != "sex"), "gender")
    path = write_csv(tmp_path, [{**row(0), "gender": "M"}], columns=columns)

    with pytest.raises(CommandError) as caught:
        run(path, "--team", "URO")

    assert "missing column(s): sex" in str(caught.value)
    assert "unexpected column(s): gender" in str(caught.value)
    assert not Patient.objects.exists()


def test_the_columns_may_come_in_any_order(team: Team, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(0)], columns=tuple(reversed(COLUMNS)))

    out = run(path, "--team", "URO")

    assert "Created: 1" in out


def test_a_dry_run_reports_and_writes_nothing(team: Team) -> None:
    log_entries = LogEntry.objects.count()

    out = run(SAMPLE, "--team", "URO", "--dry-run")

    assert "Dry run: nothing was written." in out
    assert "Created: 8" in out
    assert not Patient.objects.exists()
    assert not CaseloadEntry.objects.exists()
    assert LogEntry.objects.count() == log_entries
    assert not User.objects.exists()


def test_a_dry_run_with_a_refused_row_still_fails(team: Team, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(0), row(1, sex="X")])

    out, error = run_refused(path, "--dry-run", "--team", "URO")

    assert "Created: 1" in out
    assert "would be refused" in error
    assert not Patient.objects.exists()


def test_it_refuses_an_unknown_team_naming_the_code(team: Team) -> None:
    with pytest.raises(CommandError, match="BRS"):
        run(SAMPLE, "--team", "BRS")

    assert not Patient.objects.exists()


def test_it_reads_utf8_with_a_byte_order_mark(team: Team, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(0, given_name="Zoë", family_name="Ó Súilleabháin")])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    out = run(path, "--team", "URO")

    assert "Created: 1" in out
    assert Patient.objects.get().given_name == "Zoë"


def test_it_refuses_a_file_that_is_not_utf8(team: Team, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(0, given_name="Zoë")])
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))

    with pytest.raises(CommandError, match="not UTF-8"):
        run(path, "--team", "URO")

    assert not Patient.objects.exists()


def test_it_refuses_a_missing_file(team: Team, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "nowhere.csv", "--team", "URO")


def test_a_row_whose_details_differ_from_another_teams_patient_is_refused(
    tmp_path, team, other_team
) -> None:
    stranger = PatientFactory(
        nhs_number="9990000018",
        family_name="Beeblebrox",
        date_of_birth=dt.date(1950, 1, 1),
        teams=[other_team],
    )
    path = tmp_path / "mistyped.csv"
    path.write_text(
        "nhs_number,nhs_number_status,mrn,title,given_name,family_name,date_of_birth,sex,address,phone,email\n"
        "9990000018,01,,Mr,Arthur,Dent,1952-03-11,M,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError):
        call_command("import_patients", str(path), "--team", team.code, stdout=io.StringIO())
    stranger.refresh_from_db()
    assert stranger.family_name == "Beeblebrox"
    assert not CaseloadEntry.objects.filter(patient=stranger, team=team).exists()
