"""Who and what the scale data set holds: its teams, their pathways and the number ranges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careplans.models import Priority, RuleType
from rms import nhs_number
from rms.models import TumourSite

MRN_PREFIX = "SCALE"
USERNAME_PREFIX = "scale."
# The first nine digits of the NHS numbers: 999 300 000 to 999 799 999 (the demo uses
# 999 1xx xxxx, the tests' factories 999 8xx xxxx and up, and the tests spell 999 000 xxxx).
NHS_FIRST = 999_300_000
NHS_LAST = 999_799_999
# Shares of patients with an open work item: a rising marker that breached one of their
# plan's rules (marker teams only), or a scheduled test that did not arrive.
RISING_SHARE = 0.03
ALERT_SHARE = 0.05
RP = "prostate-post-prostatectomy"
RT = "prostate-post-radiotherapy"
CEA_PATHWAY = "colorectal-cea"


@dataclass(frozen=True)
class ScaleTeam:
    code: str
    name: str
    tumour_site: str
    pv1_service_code: str
    marker: str  # the tumour marker followed ("" when none is)
    pathways: tuple[tuple[str, float], ...]  # (pathway code, share of the team's patients)
    diagnoses: tuple[tuple[str, str, tuple[str, ...]], ...]  # (SNOMED CT code, text, stages)
    female_share: float
    born_between: tuple[int, int]
    cns: str
    consultant: str
    location: str
    short: str


TEAMS: tuple[ScaleTeam, ...] = (
    ScaleTeam(
        code="URO",
        name="Urology cancer CNS team",
        tumour_site=TumourSite.PROSTATE,
        pv1_service_code="UROL",
        marker="PSA",
        pathways=((RP, 0.6), (RT, 0.4)),
        diagnoses=(
            (
                "399068003",
                "Malignant tumour of prostate",
                ("pT2 N0 M0, Gleason 3+4=7", "pT3a N0 M0, Gleason 4+3=7", "T2c N0 M0"),
            ),
        ),
        female_share=0.0,
        born_between=(1940, 1965),
        cns="Sister Joanna Reid, Urology CNS",
        consultant="Mr Tobias Grant, Consultant Urologist",
        location="Urology outpatients, Riverside Hospital",
        short="Urology",
    ),
    ScaleTeam(
        code="CRC",
        name="Colorectal cancer CNS team",
        tumour_site=TumourSite.COLORECTAL,
        pv1_service_code="COLO",
        marker="CEA",
        pathways=((CEA_PATHWAY, 1.0),),
        diagnoses=(
            ("363406005", "Malignant tumour of colon", ("pT3 N0 M0 (Dukes B)", "pT2 N0 M0")),
            ("363351006", "Malignant tumour of rectum", ("ypT2 N0 M0", "ypT3 N1b M0")),
        ),
        female_share=0.45,
        born_between=(1942, 1972),
        cns="Sister Amira Haddad, Colorectal CNS",
        consultant="Ms Fiona Dale, Consultant Colorectal Surgeon",
        location="Colorectal outpatients, Riverside Hospital",
        short="Colorectal",
    ),
    ScaleTeam(
        code="BRS",
        name="Breast cancer CNS team",
        tumour_site=TumourSite.BREAST,
        pv1_service_code="BRST",
        marker="",
        pathways=(("scale-breast-bloods", 1.0),),
        diagnoses=(("254837009", "Malignant tumour of breast", ("pT1c N0 M0", "pT2 N1 M0")),),
        female_share=0.99,
        born_between=(1945, 1980),
        cns="Sister Helen Marsh, Breast CNS",
        consultant="Miss Priya Nair, Consultant Breast Surgeon",
        location="Breast unit, Riverside Hospital",
        short="Breast",
    ),
    ScaleTeam(
        code="LNG",
        name="Lung cancer CNS team",
        tumour_site=TumourSite.LUNG,
        pv1_service_code="LUNG",
        marker="",
        pathways=(("scale-lung-bloods", 1.0),),
        diagnoses=(("363358000", "Malignant tumour of lung", ("pT1b N0 M0", "pT2a N0 M0")),),
        female_share=0.48,
        born_between=(1940, 1968),
        cns="Sister Grace Obi, Lung CNS",
        consultant="Dr Martin Hale, Consultant Respiratory Physician",
        location="Chest clinic, Riverside Hospital",
        short="Lung",
    ),
)

TREATMENTS = {
    RP: "robot-assisted radical prostatectomy",
    RT: "radical radiotherapy with hormone therapy",
    CEA_PATHWAY: "laparoscopic resection",
    "scale-breast-bloods": "wide local excision and adjuvant radiotherapy",
    "scale-lung-bloods": "lobectomy",
}

# The seeded pathways cover prostate and colorectal follow-up only. Breast and lung patients
# get a plan too, on one of these, made here and marked inactive so that no clinician is ever
# offered them: they are not clinical protocols, only something for plans to point at.
SYNTHETIC_SOURCE = (
    "Synthetic pathway made by manage.py load_scale for performance measurement; "
    "not a clinical protocol."
)
SYNTHETIC_PATHWAYS: dict[str, dict[str, Any]] = {
    code: {
        "name": f"{site.label} cancer: blood count monitoring (synthetic)",
        "tumour_site": site,
        "treatment": TREATMENTS[code],
        "schedule": ("HB", "Haemoglobin", 0, None, 3),
        "rule": {
            "name": "Haemoglobin below 100 g/L",
            "test_code": "HB",
            "rule_type": RuleType.ABSOLUTE_LIMIT,
            "params": {"threshold": "100", "direction": "below", "units": "g/L"},
            "priority": Priority.NORMAL,
        },
    }
    for code, site in (
        ("scale-breast-bloods", TumourSite.BREAST),
        ("scale-lung-bloods", TumourSite.LUNG),
    )
}


def scale_nhs_numbers(start: int, count: int) -> list[str]:
    """The NHS numbers of scale patients ``start`` to ``start + count - 1``: the valid numbers
    (Modulus 11) from 999 300 0000 up, in order, skipping nine-digit bodies with no check
    digit. Deterministic, so a later ``--append`` continues where a run stopped."""
    numbers: list[str] = []
    if count <= 0:
        return numbers
    seen = 0
    for body in range(NHS_FIRST, NHS_LAST + 1):
        check = nhs_number.check_digit(str(body))
        if check is None:
            continue
        if seen >= start:
            numbers.append(f"{body}{check}")
            if len(numbers) == count:
                return numbers
        seen += 1
    raise ValueError(f"The scale NHS number range holds fewer than {start + count} numbers.")
