"""The patient view: what a patient would see in PKB, delays and escaping included."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from tests.devtools.sandbox.conftest import post_hl7, request
from tests.devtools.sandbox.messages import (
    NHS,
    OTHER_NHS,
    a28,
    dg1,
    mdm,
    obx,
    oru,
    siu,
)

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
FORM = "application/x-www-form-urlencoded"
BASIC = "Basic " + base64.b64encode(b"sandbox:sandbox").decode()  # FhirSandbox's defaults


def page(sandbox, path: str) -> tuple[int, str]:
    status, _, body = request(sandbox, "GET", path)
    return status, body.decode()


def test_the_index_lists_records_with_the_nhs_number_shown_3_3_4(sandbox):
    post_hl7(sandbox, a28(email="jane@example.org"))
    post_hl7(sandbox, a28("A28-2", nhs=OTHER_NHS, given="Ann", family="Jones"))

    status, html = page(sandbox, "/")

    assert status == 200
    assert "943 476 5919" in html
    assert f'href="/patients/{NHS}"' in html
    assert "Mrs Jane Smith" in html
    assert "Invited" in html
    assert "Not invited" in html


def test_the_index_says_when_there_are_no_records(sandbox):
    assert "No records yet" in page(sandbox, "/")[1]


def test_an_unknown_record_is_a_404(sandbox):
    status, html = page(sandbox, f"/patients/{NHS}")

    assert status == 404
    assert "no such record" in html


def test_the_record_page_shows_everything_pkb_would(sandbox):
    post_hl7(sandbox, a28(dg1=dg1(1, "363406005", "Malignant tumour of colon")))
    post_hl7(sandbox, oru(observations=[obx(1, "CEA", "3.1"), obx(2, "CA125", "20", units="U/mL")]))
    report = [obx(1, "CT", "No evidence of recurrence.", value_type="TX", units="")]
    post_hl7(
        sandbox, oru("RAD-1", fon="RAD1", panel="CT chest", radiology=True, observations=report)
    )
    post_hl7(sandbox, mdm("MDM-1", content="Letter body"))
    post_hl7(sandbox, mdm("CP-1", document_type="CP", number="P1", title="My plan", content="v1"))
    post_hl7(sandbox, mdm("CP-2", document_type="CP", number="P1", title="My plan", content="v2"))
    post_hl7(sandbox, siu())

    status, html = page(sandbox, f"/patients/{NHS}")

    assert status == 200
    assert "Malignant tumour of colon" in html
    assert "<h3>Tumour markers</h3>" in html
    assert "3.1</td><td>ug/L" in html
    assert "20</td><td>U/mL" in html
    assert "CT chest" in html and "No evidence of recurrence." in html
    assert "Clinic letter" in html and "Letter body" in html
    assert "My plan" in html and "Latest of 2 version(s)" in html
    assert "v2" in html and "v1" not in html
    assert "Follow-up" in html and "Oncology clinic" in html and "Booked" in html


def test_deleted_results_and_documents_are_not_shown(sandbox):
    post_hl7(sandbox, a28())
    post_hl7(sandbox, oru(observations=[obx(1, "CEA", "3.1")]))
    post_hl7(sandbox, oru("ORU-DEL", status="R", observations=[]))
    post_hl7(sandbox, mdm("MDM-1", content="Letter body"))
    post_hl7(sandbox, mdm("MDM-2", event="T11"))

    html = page(sandbox, f"/patients/{NHS}")[1]

    assert "CEA" not in html
    assert "Letter body" not in html


def test_a_delayed_result_shows_only_when_it_will_be_available_until_then(sandbox, clock):
    post_hl7(sandbox, a28())
    # Taken 1 March 09:00 UTC with a 14-day delay: available on 15 March.
    post_hl7(sandbox, oru(observations=[obx(1, "CEA", "3.1", delay="14")]))
    post_hl7(sandbox, mdm("MDM-1", content="Secret letter", delay="3"))

    clock.now = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    html = page(sandbox, f"/patients/{NHS}")[1]
    assert "Result available on 15 March 2025" in html
    assert "CEA" in html  # the patient sees which test it is
    assert "3.1" not in html
    assert "Secret letter" in html  # a 3-day delay from 1 March has passed

    clock.now = datetime(2025, 3, 15, 9, 0, 1, tzinfo=UTC)
    html = page(sandbox, f"/patients/{NHS}")[1]
    assert "Result available on" not in html
    assert "3.1</td>" in html


def test_a_delayed_document_is_hidden_until_its_day(sandbox, clock):
    post_hl7(sandbox, a28())
    post_hl7(sandbox, mdm("MDM-1", content="Secret letter", delay="10"))

    clock.now = datetime(2025, 3, 5, tzinfo=UTC)

    html = page(sandbox, f"/patients/{NHS}")[1]
    assert "Secret letter" not in html
    assert "Result available on 11 March 2025" in html
    assert "Clinic letter" in html


def test_every_value_is_escaped(sandbox):
    # \T\ is HL7's escape for "&"
    post_hl7(sandbox, a28(given="<script>alert(1)</script>", family='"Smith\\T\\Co"'))
    post_hl7(sandbox, mdm("MDM-1", content="<img src=x onerror=alert(2)>"))

    index = page(sandbox, "/")[1]
    record = page(sandbox, f"/patients/{NHS}")[1]

    for html in (index, record):
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&quot;Smith&amp;Co&quot;" in html
    # A document's HTML is rendered, made safe: an image that runs script is not kept at all.
    assert "<img" not in record
    assert "onerror" not in record


# PKB renders the HTML of a letter and of a care plan (reference: pkb-hl7-interface.md, MDM^T02
# "The content is HTML or PDF in OBX (ED)"; "HTML is preferred because it displays better on
# mobile"): the patient sees headings and paragraphs, not markup. What a message carries must
# still never run: scripts, event handlers, javascript: links, styles and frames are dropped.
LETTER = (
    '<h2>Your PSA result</h2><p onclick="steal()">Dear Mr Dent, your PSA is '
    "<strong>0.03</strong>.</p><ul><li>Next test in 3 months</li></ul>"
    "<script>alert(1)</script><style>p{display:none}</style>"
    '<iframe src="https://evil.example"></iframe>'
    '<a href="javascript:alert(3)">Click</a> <a href="https://www.nhs.uk/">NHS website</a>'
    "<p>Unclosed <em>emphasis"
)


def test_a_letters_html_is_shown_as_pkb_shows_it_and_nothing_in_it_runs(sandbox):
    post_hl7(sandbox, a28())
    post_hl7(sandbox, mdm("MDM-1", content=LETTER))

    html = page(sandbox, f"/patients/{NHS}")[1]

    assert "<h2>Your PSA result</h2>" in html
    assert "<p>Dear Mr Dent, your PSA is <strong>0.03</strong>.</p>" in html
    assert "<li>Next test in 3 months</li>" in html
    assert "&lt;p" not in html and "&lt;strong&gt;" not in html  # rendered, not escaped
    for unsafe in ("steal()", "alert(1)", "display:none", "<iframe", "evil.example",
                   "javascript:", "onclick"):  # fmt: skip
        assert unsafe not in html
    assert "<a>Click</a>" in html  # the link's text is kept, its javascript: address is not
    assert '<a href="https://www.nhs.uk/" rel="noopener noreferrer">NHS website</a>' in html
    assert "<p>Unclosed <em>emphasis</em></p></div>" in html  # balanced before the page goes on


def test_a_care_plans_html_is_rendered_safely_too(sandbox):
    post_hl7(sandbox, a28())
    content = '<p>Call us if <b>you pass blood</b></p><img src="x" onerror="alert(1)">'
    post_hl7(
        sandbox, mdm("CP-1", document_type="CP", number="P1", title="My plan", content=content)
    )

    html = page(sandbox, f"/patients/{NHS}")[1]

    assert "<p>Call us if <b>you pass blood</b></p>" in html
    assert "onerror" not in html and "<img" not in html


def test_the_questionnaires_pkb_was_asked_to_send_are_listed(sandbox):
    post_hl7(sandbox, a28())
    status, _, body = request(sandbox, "POST", "/oauth/token", b"grant_type=client_credentials",
                              {"Authorization": BASIC, "Content-Type": FORM})  # fmt: skip
    assert status == 200, body
    token = json.loads(body)["access_token"]
    ask = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "valueIdentifier": {"system": NHS_SYSTEM, "value": NHS}},
            {"name": "requestId", "valueString": "req-1"},
            {"name": "dueDate", "valueDate": "2025-03-20"},
        ],
    }
    status, _, _ = request(
        sandbox, "POST", "/fhir/Questionnaire/pkb-phq9/$send-questionnaire-request",
        json.dumps(ask).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
    )  # fmt: skip
    assert status == 200

    html = page(sandbox, f"/patients/{NHS}")[1]
    assert "Questionnaires to complete" in html
    assert "<td>pkb-phq9</td>" in html
    assert "<td>20 March 2025</td></tr>" in html


def test_a_record_with_no_questionnaire_requests_says_so(sandbox):
    post_hl7(sandbox, a28())
    html = page(sandbox, f"/patients/{NHS}")[1]
    assert "<h2>Questionnaires to complete</h2><p>None.</p>" in html
