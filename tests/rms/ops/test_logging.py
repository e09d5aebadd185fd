"""Production logs are JSON lines carrying the request id, and no patient identifiers."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.urls import reverse

from rms.ops.logging import JsonFormatter, RequestIdFilter, redact
from tests.factories import PatientFactory

ROOT = Path(__file__).resolve().parents[3]
STRONG_KEY = "k" * 20 + "-this-is-a-long-random-test-secret-key-0123456789"
# A valid NHS number (Modulus 11), as people write it and as it is stored.
NHS_SPACED = "943 476 5919"
NHS_DIGITS = "9434765919"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log record, formatted as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Except SQL with its parameters: settings keep django.db.backends at INFO, as here.
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_patient_page_is_logged_with_its_request_id_and_without_the_patient(
    client, clinician, team, captured
) -> None:
    patient = PatientFactory(
        teams=[team],
        nhs_number=NHS_DIGITS,
        given_name="Ebenezer",
        family_name="Quixotic",
        date_of_birth=dt.date(1947, 3, 29),
    )
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_detail", args=[patient.public_id]))
    assert response.status_code == 200
    assert NHS_SPACED.encode() in response.content  # the page shows it; the log must not
    search = client.get(reverse("rms:patient_list"), {"q": NHS_SPACED})
    assert search.status_code == 200

    text = captured.getvalue()
    records = lines(captured)
    access = [r for r in records if r["logger"] == "rms.request"]
    assert [r["path"] for r in access] == [
        f"/patients/{patient.public_id}/",
        "/patients/",  # the search term is in the query string, which is never logged
    ]
    assert access[0]["request_id"] == response["X-Request-ID"]
    assert access[1]["request_id"] == search["X-Request-ID"]
    assert access[0]["request_id"] != access[1]["request_id"]
    assert access[0]["status"] == 200 and access[0]["method"] == "GET"
    assert access[0]["user_id"] == clinician.pk
    for identifier in (
        NHS_DIGITS,
        NHS_SPACED,
        "943-476-5919",
        "Ebenezer",
        "Quixotic",
        "1947-03-29",
        "29/03/1947",
        "29 Mar 1947",
        "19470329",
    ):
        assert identifier not in text


def test_an_nhs_number_in_a_message_or_a_traceback_is_masked() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError(f"duplicate key (nhs_number)=({NHS_DIGITS})")
    except ValueError:
        record = logging.getLogger("rms.test").makeRecord(
            "rms.test",
            logging.ERROR,
            __file__,
            1,
            "Could not file the message for %s",
            (NHS_SPACED,),
            sys.exc_info(),
        )
    line = json.loads(formatter.format(record))
    assert line["message"] == "Could not file the message for [NHS number]"
    assert NHS_DIGITS not in line["exc"] and "[NHS number]" in line["exc"]
    assert "ValueError" in line["exc"]


def test_other_ten_digit_numbers_are_left_alone() -> None:
    # 1234567890 fails the Modulus 11 check; a Unix time is not an NHS number.
    assert redact("epoch 1234567890 took 12 ms") == "epoch 1234567890 took 12 ms"


def test_the_request_django_attaches_to_its_error_records_is_never_written(rf: RequestFactory):
    request = rf.post("/patients/new/", {"nhs_number": NHS_DIGITS, "family_name": "Quixotic"})
    record = logging.getLogger("django.request").makeRecord(
        "django.request",
        logging.ERROR,
        __file__,
        1,
        "Internal Server Error: %s",
        (request.path,),
        None,
        extra={"request": request, "status_code": 500},
    )
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "pid",
        "status_code",
    }
    assert "Quixotic" not in json.dumps(line)


@pytest.mark.django_db
def test_a_well_formed_request_id_from_the_proxy_is_kept_and_a_hostile_one_replaced(
    client,
) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "nginx-5f2b9c1e0a"})
    assert kept["X-Request-ID"] == "nginx-5f2b9c1e0a"
    replaced = client.get("/healthz", headers={"X-Request-ID": 'x"}\n{"level": "forged'})
    assert replaced["X-Request-ID"] != 'x"}\n{"level": "forged'
    assert len(replaced["X-Request-ID"]) == 32


def test_production_writes_json_lines_to_standard_error() -> None:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "PKB_"))
    }
    environment.update(
        DJANGO_ENV="production",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="rms.example.nhs.uk",
        PKB_URL="https://sandbox.patientsknowbest.com:7443/services/hl7",
        PKB_USERNAME="rms-trust",
        PKB_PASSWORD="issued-by-pkb",
    )
    script = (
        "import logging; logging.getLogger('rms.inbound').warning("
        f"'Could not match %s', '{NHS_SPACED}')"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING"
    assert line["logger"] == "rms.inbound"
    assert line["message"] == "Could not match [NHS number]"
    assert line["request_id"] == "-"


@pytest.mark.django_db
def test_djangos_own_line_for_a_refused_request_carries_the_request_id(
    client, clinician, other_patient, captured
) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_detail", args=[other_patient.public_id]))
    assert response.status_code == 404
    records = lines(captured)
    not_found = [r for r in records if r["logger"] == "django.request"]
    assert not_found and not_found[0]["request_id"] == response["X-Request-ID"]
    assert not_found[0]["status_code"] == 404
    # And the id does not outlive the request.
    logging.getLogger("rms.test").warning("after the request")
    assert lines(captured)[-1]["request_id"] == "-"
