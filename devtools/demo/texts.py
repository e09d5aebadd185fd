"""Report and letter text for the demo: radiology reports (multi-line, as CRIS sends them)
and clinic letters (HTML)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.html import escape, format_html

from devtools.demo.plans import Marker, long_date
from rms import nhs_number

RADIOLOGY_SERVICES = {
    "CTCAP": "CT chest, abdomen and pelvis with contrast",
    "MRPROS": "MRI prostate (multiparametric)",
    "MRPELV": "MRI pelvis (rectal staging)",
    "NMBONE": "Bone scan (whole body)",
}


def ct_text(*, clinical: str, comparison: dt.date | None, recurrence: bool) -> str:
    lines = [
        "CT CHEST, ABDOMEN AND PELVIS WITH CONTRAST",
        f"Clinical details: {clinical}",
        f"Comparison: CT {comparison:%d/%m/%Y}." if comparison else "Comparison: none available.",
        "",
        "Findings:",
        "Lungs clear; no pulmonary nodules. No mediastinal or hilar lymphadenopathy.",
    ]
    if recurrence:
        lines += [
            "Two new low-attenuation lesions in the right lobe of the liver (segments VII and "
            "VIII), measuring 14 mm and 9 mm, not present on the previous study.",
            "No ascites. No retroperitoneal lymphadenopathy.",
            "",
            "Conclusion: New liver lesions, highly suspicious for metastases. Suggest liver MRI "
            "and discussion at the colorectal MDT.",
        ]
    else:
        lines += [
            "Liver, spleen, pancreas and adrenals unremarkable. No lymphadenopathy. "
            "Post-surgical appearances only.",
            "",
            "Conclusion: No evidence of local recurrence or metastatic disease.",
        ]
    return "\n".join(lines)


def mri_prostate_text() -> str:
    return "\n".join(
        [
            "MRI PROSTATE (MULTIPARAMETRIC)",
            "Clinical details: Raised PSA. Staging.",
            "",
            "Findings:",
            "Prostate volume 42 mL. 14 mm lesion in the left peripheral zone at the mid gland, "
            "markedly restricted diffusion, early enhancement. PI-RADS 5.",
            "Capsule intact. Seminal vesicles clear. No pelvic lymphadenopathy. "
            "No suspicious bone lesions in the field of view.",
            "",
            "Conclusion: PI-RADS 5 left peripheral zone lesion; organ-confined appearances.",
        ]
    )


def mri_pelvis_text() -> str:
    return "\n".join(
        [
            "MRI PELVIS (RECTAL STAGING)",
            "Clinical details: Rectal adenocarcinoma on biopsy. Staging.",
            "",
            "Findings:",
            "Semi-circumferential tumour of the mid rectum, 8 cm from the anal verge, extending "
            "2 mm beyond the muscularis propria (T3a). Mesorectal fascia clear (CRM 6 mm).",
            "One 4 mm mesorectal node with smooth border. No extramural venous invasion.",
            "",
            "Conclusion: mrT3a N0, CRM clear, EMVI negative.",
        ]
    )


def bone_scan_text(*, clinical: str, recurrence: bool) -> str:
    finding = (
        "Focal increased uptake in the right ninth rib posteriorly and the L3 vertebral body, "
        "new since the previous study."
        if recurrence
        else "Symmetrical uptake throughout the skeleton. Degenerative uptake in both knees."
    )
    conclusion = (
        "Appearances suspicious for skeletal metastases. Suggest correlation with CT or PSMA "
        "PET-CT."
        if recurrence
        else "No scintigraphic evidence of skeletal metastases."
    )
    return "\n".join(
        [
            "BONE SCAN (WHOLE BODY, Tc-99m HDP)",
            f"Clinical details: {clinical}",
            "",
            "Findings:",
            finding,
            "",
            f"Conclusion: {conclusion}",
        ]
    )


# What the letter says about the latest marker value, by the state history.marker_state finds.
_MARKER_PLANS = {
    "stable": "This is reassuring. We will continue {} monitoring through the remote monitoring "
    "service and contact them if anything changes.",
    "watch": "The {} is now detectable at a low level. We will repeat it in three months and "
    "review the trend.",
    "rising": "The {} is rising. I have requested imaging and will discuss the results at the "
    "next MDT meeting; we will contact them with the outcome.",
}


def clinic_letter(
    *,
    patient: Mapping[str, Any],
    diagnosis: str,
    treatment: str,
    treated_on: dt.date,
    gp: str,
    clinician: str,
    face_to_face: bool,
    marker: str,
    latest: Marker | None,
    state: str,
) -> str:
    """A CNS clinic letter to the GP after a review. ``patient`` is the demographics dict."""
    pronoun = "His" if patient["sex"] == "M" else "Her"
    # format_html escapes every value; only the markup written here is kept as HTML.
    paragraphs = [
        format_html("Dear {},", gp.split(",")[0]),
        format_html(
            "<strong>Re: {} {} {}, born {}, NHS number {}</strong>",
            patient["title"],
            patient["given_name"],
            patient["family_name"].upper(),
            f"{patient['date_of_birth']:%d/%m/%Y}",
            nhs_number.display(patient["nhs_number"]),
        ),
        format_html(
            "<strong>Diagnosis:</strong> {}. Treated with {} in {}.",
            diagnosis,
            treatment,
            f"{treated_on:%B %Y}",
        ),
        format_html(
            "I reviewed {} {} {} today. No new urinary, bowel or bone symptoms; otherwise well.",
            patient["title"],
            patient["family_name"],
            "in clinic" if face_to_face else "by telephone",
        ),
    ]
    if latest is not None:
        paragraphs.append(
            format_html(
                "{} most recent {}, on {}, was {} ug/L.",
                pronoun,
                marker,
                long_date(latest.on),
                latest.text,
            )
        )
        paragraphs.append(format_html(_MARKER_PLANS[state], marker))
    paragraphs += [escape("Yours sincerely,"), escape(clinician)]
    return "\n".join(format_html("<p>{}</p>", p) for p in paragraphs)
