"""The conclusion of a radiology report (rms.reports.conclusion), on the shapes real reports
take. Sources: the shared inbound samples' CRIS report (tests/fixtures/hl7; inline
"Conclusion:"),
the demo's CRIS-style reports (devtools.demo.texts), and the Royal College of Radiologists'
"Standards for interpretation and reporting of imaging investigations" (2018), which asks a
report to end in a conclusion/opinion (headed CONCLUSION, IMPRESSION, OPINION or SUMMARY by
local convention) and to be signed by the reporter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from devtools.demo import texts
from rms.hl7 import extract_results, parse, report_text
from rms.reports import CONCLUSION_MAX, conclusion

# The project's copies of the shared inbound samples.
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "hl7"


def test_the_sample_cris_report_is_summed_up_by_its_inline_conclusion():
    """The CRIS sample's three OBX lines, joined as filing joins them ("\\T\\" is "&")."""
    message = parse((SAMPLES / "oru_r01_radiology_report.hl7").read_text())
    (group,) = extract_results(message)
    assert conclusion(report_text(group)) == ("no evidence of local recurrence & no nodal disease.")


def test_a_ct_report_with_findings_then_conclusion():
    text = texts.ct_text(clinical="CEA rising.", comparison=dt.date(2026, 3, 1), recurrence=True)
    assert conclusion(text) == (
        "New liver lesions, highly suspicious for metastases. Suggest liver MRI and discussion "
        "at the colorectal MDT."
    )


def test_a_heading_on_its_own_line_in_capitals_with_a_numbered_list():
    text = (
        "CT CHEST ABDOMEN PELVIS\n"
        "CLINICAL HISTORY: Anterior resection 2025. Surveillance.\n"
        "FINDINGS:\n"
        "Stable 4 mm nodule right lower lobe.\n"
        "\n"
        "IMPRESSION:\n"
        "1. No evidence of recurrent or metastatic disease.\n"
        "2. Stable 4 mm right lower lobe nodule, likely benign.\n"
        "\n"
        "Reported by: Dr J Smith, Consultant Radiologist, 12/11/2026\n"
    )
    assert conclusion(text) == (
        "1. No evidence of recurrent or metastatic disease.\n"
        "2. Stable 4 mm right lower lobe nodule, likely benign."
    )


@pytest.mark.parametrize(
    "heading",
    ["OPINION: ", "Opinion\n", "summary: ", "Conclusions:\n", "Impression - ", "CONCLUSION\n"],
)
def test_every_usual_heading_in_any_case_inline_or_on_its_own_line(heading):
    text = f"Findings: small left pleural effusion.\n{heading}Small effusion only.\nComment: none."
    assert conclusion(text) == "Small effusion only."


def test_the_conclusion_ends_at_the_next_heading():
    text = (
        "Conclusion: PI-RADS 5 lesion left peripheral zone.\n"
        "Organ-confined appearances.\n"
        "Recommendation: MDT discussion.\n"
    )
    assert conclusion(text) == (
        "PI-RADS 5 lesion left peripheral zone.\nOrgan-confined appearances."
    )


def test_a_sign_off_line_after_the_conclusion_is_left_out():
    text = "CONCLUSION: No recurrence.\nDr A Patel, Consultant Radiologist\nGMC 1234567"
    assert conclusion(text) == "No recurrence."


def test_without_a_heading_the_last_paragraph_sums_the_report_up():
    text = (
        "MRI pelvis.\n"
        "Comparison is made with the study of March.\n"
        "\n"
        "The previously seen presacral soft tissue is smaller.\n"
        "No new lesion. Appearances in keeping with post-treatment change.\n"
        "\n"
        "Reported by Dr K Jones 02/12/2026\n"
    )
    assert conclusion(text) == (
        "The previously seen presacral soft tissue is smaller.\n"
        "No new lesion. Appearances in keeping with post-treatment change."
    )


def test_a_heading_with_no_text_after_it_is_passed_over():
    text = "Conclusion:\n\nFindings: normal colonoscopy to the caecum.\n\nNormal colonoscopy."
    assert conclusion(text) == "Normal colonoscopy."


def test_a_long_conclusion_is_cut_at_a_word_to_about_500_characters():
    long = "Multiple bilateral pulmonary nodules, the largest 12 mm, new since last study. " * 10
    result = conclusion(f"Findings: see below.\nConclusion: {long}")
    assert len(result) <= CONCLUSION_MAX == 500
    assert result.endswith("...")
    assert result.startswith("Multiple bilateral pulmonary nodules")
    assert long.startswith(result[:-3])  # cut at a word, nothing invented


def test_carriage_returns_and_extra_spaces_are_tidied():
    assert conclusion("FINDINGS:  clear\r\nCONCLUSION:   No  acute   abnormality.\r\n") == (
        "No acute abnormality."
    )


def test_an_empty_report_has_no_conclusion():
    assert conclusion("") == ""
    assert conclusion("\n \n") == ""


def test_a_word_that_begins_a_sentence_is_not_a_heading():
    """ "Summary of the findings is below" is text, not a heading (more than four words)."""
    text = "Summary of the findings is given below in full.\n\nNo bone metastases."
    assert conclusion(text) == "No bone metastases."
