"""The sandbox's patient view: what a patient would see in PKB, as plain HTML.

Every value from a message is escaped with ``h``: message content is untrusted text. The HTML
of a letter or a care plan is shown as PKB shows it, rendered, after ``sanitise_html`` has kept
only text-formatting elements (no script, no event handler, no style, no frame). Items whose
delay has not passed show only what PKB shows during a delay: that the item exists and when it
will be released. The questionnaires PKB was asked to send the patient are listed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from devtools.sandbox.rules import available_from, clinical_moment
from devtools.sandbox.sanitise import sanitise_html
from rms.nhs_number import display as display_nhs_number

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#212b32}"
    "table{border-collapse:collapse;margin-bottom:1rem}th,td{border:1px solid #d8dde0;"
    "padding:.3rem .6rem;text-align:left;vertical-align:top}.hidden{color:#4c6272;"
    "font-style:italic}.banner{background:#fff9c4;padding:.5rem 1rem;border:1px solid #ffeb3b}"
    "pre{white-space:pre-wrap;margin:0}.document{border-left:4px solid #d8dde0;"
    "padding:0 1rem;margin-bottom:1rem}"
)


def h(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        f"<title>{h(title)} - PKB sandbox</title><style>{_STYLE}</style></head><body>"
        '<p class="banner">PKB sandbox: a local stand-in for Patients Know Best, for '
        "development and demonstrations only. It is not PKB.</p>"
        f"{body}</body></html>"
    )


def _date(value: str) -> str:
    moment = clinical_moment(value)
    if moment is None:
        return ""
    if len(value) == 10:  # a bare date
        return f"{moment.day} {moment:%B %Y}"
    return f"{moment.day} {moment:%B %Y %H:%M}"


def _name(patient: dict[str, Any]) -> str:
    parts = (patient.get("title"), patient.get("given_name"), patient.get("family_name"))
    return " ".join(part for part in parts if part)


def render_index(patients: list[dict[str, Any]]) -> str:
    """``GET /``: every record the sandbox holds."""
    rows = []
    for patient in sorted(patients, key=lambda p: (p["family_name"], p["given_name"])):
        number = patient["nhs_number"]
        rows.append(
            f'<tr><td><a href="/patients/{h(quote(number, safe=""))}">'
            f"{h(display_nhs_number(number))}</a></td><td>{h(_name(patient))}</td>"
            f"<td>{'Yes' if patient['email'] else 'No'}</td>"
            f"<td>{'Invited' if patient['invited'] else 'Not invited'}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>NHS number</th><th>Name</th><th>Email on record</th>"
        f"<th>Registration</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No records yet: PKB creates a record when it receives an ADT^A28 or A31.</p>"
    )
    return _page("Records", f"<h1>Records</h1>{table}")


def _hidden(item: dict[str, Any], clinical_key: str, now: datetime) -> str | None:
    """The "available on" text if the item is still delayed, else None."""
    released = available_from(item.get(clinical_key, ""), int(item.get("delay_days") or 0))
    if released is not None and released > now:
        return f"Result available on {released.day} {released:%B %Y}"
    return None


def render_patient(
    patient: dict[str, Any], now: datetime, questionnaires: list[dict[str, Any]] | None = None
) -> str:
    """``GET /patients/<nhs_number>``: the record as the patient would see it at ``now``, with
    the questionnaire requests PKB received for them (``FhirSandbox.requests_for``)."""
    sections = [
        f"<h1>{h(_name(patient))}</h1>",
        _demographics(patient),
        _diagnoses(patient),
        _lab_results(patient, now),
        _radiology(patient, now),
        _documents(patient, now),
        _care_plans(patient, now),
        _appointments(patient),
        _questionnaires(questionnaires or []),
        '<p><a href="/">All records</a></p>',
    ]
    return _page(_name(patient) or "Record", "".join(sections))


def _demographics(patient: dict[str, Any]) -> str:
    address = patient.get("address") or {}
    rows = [
        ("NHS number", display_nhs_number(patient["nhs_number"])),
        ("Date of birth", _date(patient["date_of_birth"])),
        ("Sex", patient["sex"]),
        ("Address", ", ".join(v for v in address.values() if v)),
        ("Email", patient["email"]),
        ("Unconfirmed emails", ", ".join(patient["unconfirmed_emails"])),
        ("Invitation", "Sent " + _date(patient["invited_at"]) if patient["invited"] else "None"),
    ]
    body = "".join(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>" for k, v in rows)
    return f"<h2>About me</h2><table>{body}</table>"


def _diagnoses(patient: dict[str, Any]) -> str:
    items = patient["diagnoses"]
    if not items:
        return "<h2>Diagnoses</h2><p>None.</p>"
    rows = "".join(
        f"<tr><td>{h(d['text'])}</td><td>{h(d['code'])}</td><td>{h(_date(d['diagnosed_at']))}"
        "</td></tr>"
        for d in items
    )
    return (
        "<h2>Diagnoses</h2><table><thead><tr><th>Diagnosis</th><th>Code</th><th>Date</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _lab_results(patient: dict[str, Any], now: datetime) -> str:
    panels: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for results in patient["lab_results"].values():
        for item in results.values():
            if not item["deleted"]:
                panels[item["panel"]].append(item)
    if not panels:
        return "<h2>Test results</h2><p>None.</p>"
    out = ["<h2>Test results</h2>"]
    for panel in sorted(panels):
        rows = []
        for item in sorted(panels[panel], key=lambda i: (i["observed_at"], i["name"])):
            hidden = _hidden(item, "observed_at", now)
            if hidden is not None:
                value = f'<td colspan="3" class="hidden">{h(hidden)}</td>'
            else:
                shown = f"<pre>{h(item['value'])}</pre>" if item["is_report"] else h(item["value"])
                value = (
                    f"<td>{shown}</td><td>{h(item['units'])}</td>"
                    f"<td>{h(item['reference_range'])}</td>"
                )
            flag = " (corrected)" if item["corrected"] else ""
            rows.append(
                f"<tr><td>{h(item['name'])}{h(flag)}</td>{value}"
                f"<td>{h(_date(item['observed_at']))}</td></tr>"
            )
        out.append(
            f"<h3>{h(panel)}</h3><table><thead><tr><th>Test</th><th>Value</th><th>Units</th>"
            f"<th>Range</th><th>Taken</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return "".join(out)


def _radiology(patient: dict[str, Any], now: datetime) -> str:
    reports = [r for r in patient["radiology"].values() if not r["deleted"]]
    if not reports:
        return "<h2>Imaging</h2><p>None.</p>"
    out = ["<h2>Imaging</h2>"]
    for report in sorted(reports, key=lambda r: r["observed_at"]):
        hidden = _hidden(report, "observed_at", now)
        content = (
            f'<p class="hidden">{h(hidden)}</p>'
            if hidden is not None
            else f"<pre>{h(report['text'])}</pre>"
        )
        out.append(
            f"<h3>{h(report['title'])}</h3><p>{h(_date(report['observed_at']))}</p>{content}"
        )
    return "".join(out)


def _document_content(version: dict[str, Any]) -> str:
    if version["content_type"] == "pdf":
        return f"<p>PDF document, {h(version['size'])} bytes.</p>"
    if version["content_type"] == "html":
        # Rendered as PKB renders it, once made safe: never the message's markup as is.
        return f'<div class="document">{sanitise_html(version["text"])}</div>'
    return f"<pre>{h(version['text'])}</pre>"


def _documents(patient: dict[str, Any], now: datetime) -> str:
    documents = [d for d in patient["documents"].values() if not d["deleted"]]
    if not documents:
        return "<h2>Documents</h2><p>None.</p>"
    out = ["<h2>Documents</h2>"]
    for document in sorted(documents, key=lambda d: d["authored_at"]):
        hidden = _hidden(document, "authored_at", now)
        content = (
            f'<p class="hidden">{h(hidden)}</p>'
            if hidden is not None
            else _document_content(document)
        )
        out.append(
            f"<h3>{h(document['title'])}</h3><p>{h(document['type'])}, "
            f"{h(_date(document['authored_at']))}</p>{content}"
        )
    return "".join(out)


def _care_plans(patient: dict[str, Any], now: datetime) -> str:
    plans = list(patient["care_plans"].values())
    if not plans:
        return "<h2>Care plans</h2><p>None.</p>"
    out = ["<h2>Care plans</h2>"]
    for plan in plans:
        latest = plan["versions"][-1]
        hidden = _hidden(latest, "authored_at", now)
        content = (
            f'<p class="hidden">{h(hidden)}</p>'
            if hidden is not None
            else _document_content(latest)
        )
        count = len(plan["versions"])
        out.append(
            f"<h3>{h(plan['title'])}</h3><p>Latest of {h(count)} version(s), "
            f"{h(_date(latest['authored_at']))}</p>{content}"
        )
    return "".join(out)


_STATUS_TEXT = {"booked": "Booked", "cancelled": "Cancelled", "dna": "Did not attend"}


def _appointments(patient: dict[str, Any]) -> str:
    appointments = list(patient["appointments"].values())
    if not appointments:
        return "<h2>Appointments</h2><p>None.</p>"
    rows = "".join(
        f"<tr><td>{h(_date(a['start']))}</td><td>{h(a['reason'])}</td><td>{h(a['location'])}"
        f"</td><td>{h(a['clinician'])}</td><td>{h(_STATUS_TEXT.get(a['status'], a['status']))}"
        "</td></tr>"
        for a in sorted(appointments, key=lambda a: a["start"])
    )
    return (
        "<h2>Appointments</h2><table><thead><tr><th>When</th><th>What</th><th>Where</th>"
        f"<th>With</th><th>Status</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _due_date(request: dict[str, Any]) -> str:
    parameters = request.get("parameters") or {}
    for parameter in parameters.get("parameter") or [] if isinstance(parameters, dict) else []:
        if isinstance(parameter, dict) and parameter.get("name") == "dueDate":
            return _date(str(parameter.get("valueDate") or ""))
    return ""


def _questionnaires(requests: list[dict[str, Any]]) -> str:
    if not requests:
        return "<h2>Questionnaires to complete</h2><p>None.</p>"
    rows = "".join(
        f"<tr><td>{h(r['questionnaire_id'])}</td><td>{h(_date(r['received_at']))}</td>"
        f"<td>{h(_due_date(r))}</td></tr>"
        for r in sorted(requests, key=lambda r: r["received_at"])
    )
    return (
        '<h2>Questionnaires to complete</h2><table class="questionnaires"><thead><tr>'
        "<th>Questionnaire (PKB id)</th><th>Asked on</th><th>Due</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_not_found() -> str:
    return _page("Not found", "<h1>Not found</h1><p>There is no such record in the sandbox.</p>")
