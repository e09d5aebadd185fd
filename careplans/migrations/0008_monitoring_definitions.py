"""The follow-up pathways' rules as the published definitions give them, and two new pathways.

Data only. The seeded rules of the four pathways (found on each pathway by the name 0002 gave
them) take the definitions below and a ``code`` naming what they detect; rules a team added or
renamed are left alone. Rules and schedule steps a pathway lacks are added, and the pathways for
focal therapy and hormone therapy are created. Plans already started keep their own copies (a
plan is customised for its patient): their copies of the seeded rules get only their ``code``.

Sources (the project's clinical reference, section 5, and docs/clinical-safety/reference-cases.md):
- AUA 2007 (Cookson et al., J Urol 2007;177:540-545): recurrence after prostatectomy is PSA
  >= 0.2 ng/mL confirmed by a second >= 0.2. EAU: persistent PSA is >= 0.1 ng/mL 4-8 weeks
  after surgery; PSA-DT of 1 year or less is high risk (EAU BCR risk groups).
- Phoenix (Roach et al., IJROBP 2006;65:965-974): nadir + 2 ng/mL, at call; EAU: failure within
  18 months of radiotherapy is high risk.
- MSKCC doubling time (Pound et al. 1999): all values of the episode, at least 3 over 3 months.
- D'Amico et al., NEJM 2004;351:125-135: PSA velocity above 2.0 ng/mL a year; Connolly et al.
  2007: the regression method.
- Stuttgart definition after HIFU (Blana et al. 2009): nadir + 1.2 ng/mL.
- PCWG3 (Scher et al., JCO 2016;34:1402-1418): >= 25% and >= 2 ng/mL above nadir, confirmed >= 3
  weeks later, with castrate testosterone (< 50 ng/dL = 1.7 nmol/L).
- NICE NG151 1.8: CEA at least 6-monthly for 3 years, CT chest/abdomen/pelvis twice in 3 years
  (12 and 24 months), colonoscopy at 1 year. ASCO 2013 (Meyerhardt et al.): a raised CEA is
  repeated and, if confirmed, investigated. Shinkins et al. (FACS, 2017-2018): a rise over the
  patient's own baseline. A 30% rise from 1.0 to 1.3 ug/L is assay noise: sustained rises of
  more than 0.5 ug/L replace the percentage rise.
"""

from django.db import migrations

URGENT, HIGH, NORMAL = 1, 2, 3

EAU_PSA_SCHEDULE = [
    ("PSA", "PSA", 0, 6, 3),
    ("PSA", "PSA", 6, 36, 6),
    ("PSA", "PSA", 36, None, 12),
]

# pathway code -> [(name in 0002 or None for a new rule, definition)]
RULES = {
    "prostate-post-prostatectomy": [
        (
            None,
            {
                "code": "psa_persistence",
                "name": "PSA 0.1 ug/L or more 4 to 8 weeks after surgery (persistent PSA)",
                "test_code": "PSA",
                "rule_type": "absolute_limit",
                "params": {"threshold": "0.1", "units": "ug/L", "from_day": 28, "until_day": 56},
                "priority": HIGH,
                "description": (
                    "EAU Prostate Cancer Guidelines (follow-up; biochemical recurrence): PSA "
                    "persistence is a PSA of 0.1 ng/mL or more 4 to 8 weeks after radical "
                    "prostatectomy, distinct from biochemical recurrence. The latest PSA of the "
                    "window is judged."
                ),
            },
        ),
        (
            "PSA at or above 0.2 ug/L, confirmed (biochemical recurrence)",
            {
                "code": "bcr_post_rp",
                "name": "PSA at or above 0.2 ug/L, confirmed (biochemical recurrence)",
                "test_code": "PSA",
                "rule_type": "absolute_limit",
                "params": {
                    "threshold": "0.2",
                    "confirmations": 2,
                    "repeat_after_days": 42,
                    "units": "ug/L",
                },
                "priority": HIGH,
                "description": (
                    "AUA 2007 (Cookson et al., J Urol 2007;177:540-545): biochemical recurrence "
                    "after radical prostatectomy is PSA >= 0.2 ng/mL confirmed by a second value "
                    ">= 0.2 ng/mL on a separate sample. A first value >= 0.2 asks for a repeat "
                    "within 6 weeks."
                ),
            },
        ),
        (
            "PSA rising on 3 consecutive results",
            {
                "code": "psa_consecutive_rises",
                "name": "PSA rising on 3 consecutive results",
                "test_code": "PSA",
                "rule_type": "consecutive_rises",
                "params": {"count": 3, "min_rise": "0.05", "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "A confirmed rising PSA is a sign of recurrence (EAU guidelines); NCCN counts "
                    "a rise on 2 or more measurements. Three rises in a row, each of more than "
                    "0.05 ug/L (smaller steps are assay noise near the detection limit), catch "
                    "a rise below 0.2 ug/L early. A fall, including to undetectable, ends a run."
                ),
            },
        ),
        (
            "PSA doubling time under 12 months",
            {
                "code": "psa_doubling_time",
                "name": "PSA doubling time 12 months or less",
                "test_code": "PSA",
                "rule_type": "doubling_time",
                "params": {"max_months": 12, "min_value": "0.2", "units": "ug/L"},
                "priority": URGENT,
                "description": (
                    "EAU biochemical recurrence risk groups after radical prostatectomy: a PSA "
                    "doubling time of 1 year or less is high risk. MSKCC method: ln(PSA) fitted "
                    "over all values of at least 0.2 ug/L of the episode (at least 3 over at "
                    "least 3 months)."
                ),
            },
        ),
    ],
    "prostate-post-radiotherapy": [
        (
            "PSA 2 ug/L or more above nadir (Phoenix)",
            {
                "code": "phoenix_failure",
                "name": "PSA 2 ug/L or more above nadir (Phoenix)",
                "test_code": "PSA",
                "rule_type": "rise_above_nadir",
                "params": {"rise": "2", "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "Phoenix definition of biochemical failure after radiotherapy (RTOG-ASTRO "
                    "consensus, Roach et al., IJROBP 2006;65:965-974): PSA nadir + 2 ng/mL, "
                    "dated at call."
                ),
            },
        ),
        (
            None,
            {
                "code": "early_phoenix_failure",
                "name": "Phoenix failure within 18 months of radiotherapy (early failure)",
                "test_code": "PSA",
                "rule_type": "rise_above_nadir",
                "params": {"rise": "2", "failure_within_months": 18, "units": "ug/L"},
                "priority": URGENT,
                "description": (
                    "EAU biochemical recurrence risk groups after radiotherapy: an interval to "
                    "biochemical failure of less than 18 months is a high-risk feature."
                ),
            },
        ),
        (
            "PSA doubling time under 12 months",
            {
                "code": "psa_doubling_time",
                "name": "PSA doubling time 12 months or less",
                "test_code": "PSA",
                "rule_type": "doubling_time",
                "params": {"max_months": 12, "from_nadir": True, "units": "ug/L"},
                "priority": URGENT,
                "description": (
                    "A PSA doubling time of 1 year or less marks a high-risk recurrence (EAU BCR "
                    "risk groups). MSKCC method over all values from the nadir (the start of "
                    "the current rise), at least 3 over at least 3 months."
                ),
            },
        ),
    ],
    "prostate-active-surveillance": [
        (
            "PSA doubling time under 3 years",
            {
                "code": "psa_doubling_time",
                "name": "PSA doubling time 3 years or less",
                "test_code": "PSA",
                "rule_type": "doubling_time",
                "params": {"max_months": 36, "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "A PSA doubling time under 3 years prompts re-biopsy in active surveillance "
                    "programmes (PRIAS); NICE NG131 asks for PSA kinetics to be reviewed. "
                    "MSKCC method over all values of the episode."
                ),
            },
        ),
        (
            None,
            {
                "code": "psa_velocity",
                "name": "PSA velocity more than 2 ug/L a year",
                "test_code": "PSA",
                "rule_type": "velocity",
                "params": {
                    "max_per_year": "2.0",
                    "window_months": 24,
                    "min_points": 3,
                    "min_span_months": 6,
                    "units": "ug/L",
                },
                "priority": NORMAL,
                "description": (
                    "D'Amico et al., NEJM 2004;351:125-135: PSA velocity above 2.0 ng/mL a year. "
                    "Least-squares slope over the last 24 months (Connolly et al. 2007)."
                ),
            },
        ),
    ],
    "colorectal-cea": [
        (
            "CEA at or above 5 ug/L, confirmed",
            {
                "code": "cea_raised_confirmed",
                "name": "CEA at or above 5 ug/L, confirmed",
                "test_code": "CEA",
                "rule_type": "absolute_limit",
                "params": {
                    "threshold": "5",
                    "confirmations": 2,
                    "repeat_after_months": 1,
                    "units": "ug/L",
                },
                "priority": HIGH,
                "description": (
                    "ASCO 2013 (Meyerhardt et al.) and ESMO: a raised CEA is repeated and, if "
                    "confirmed, investigated. 5 ug/L is a common upper reference limit; the "
                    "repeat is asked for within a month."
                ),
            },
        ),
        (
            None,
            {
                "code": "cea_rise_above_baseline",
                "name": "CEA 2.5 ug/L or more above the patient's post-operative baseline",
                "test_code": "CEA",
                "rule_type": "rise_above_nadir",
                "params": {"rise": "2.5", "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "Shinkins et al. (FACS trial analyses, 2017-2018): a rise over the patient's "
                    "own post-operative baseline detects recurrence better than one cut-off. The "
                    "baseline is the lowest CEA since surgery; values before surgery never count."
                ),
            },
        ),
        (
            None,
            {
                "code": "cea_sustained_rise",
                "name": "CEA rising on 2 consecutive results by more than 0.5 ug/L",
                "test_code": "CEA",
                "rule_type": "consecutive_rises",
                "params": {"count": 2, "min_rise": "0.5", "units": "ug/L"},
                "priority": NORMAL,
                "description": (
                    "A sustained rise of a meaningful size: a 30% rise from 1.0 to 1.3 ug/L is "
                    "assay noise, so each rise must be more than 0.5 ug/L."
                ),
            },
        ),
        (
            None,
            {
                "code": "alp_high",
                "name": "ALP above 130 U/L",
                "test_code": "ALP",
                "rule_type": "absolute_limit",
                "params": {"threshold": "130", "inclusive": False, "units": "U/L"},
                "priority": NORMAL,
                "description": (
                    "Liver function alongside CEA in colorectal follow-up (liver metastases): "
                    "the usual UK upper reference limit of ALP."
                ),
            },
        ),
        (
            None,
            {
                "code": "bilirubin_high",
                "name": "Bilirubin above 21 umol/L",
                "test_code": "BILI",
                "rule_type": "absolute_limit",
                "params": {"threshold": "21", "inclusive": False, "units": "umol/L"},
                "priority": NORMAL,
                "description": "The usual UK upper reference limit of total bilirubin.",
            },
        ),
        (
            None,
            {
                "code": "alt_high",
                "name": "ALT above 50 U/L",
                "test_code": "ALT",
                "rule_type": "absolute_limit",
                "params": {"threshold": "50", "inclusive": False, "units": "U/L"},
                "priority": NORMAL,
                "description": "The usual UK upper reference limit of ALT.",
            },
        ),
    ],
}

# Seeded rules retired from the templates: each cried wolf, and a rule above replaces it.
RETIRED = {
    "prostate-active-surveillance": ["PSA risen by 50% or more since the previous result"],
    "colorectal-cea": ["CEA risen by 30% or more since the previous result"],
}

SCHEDULE_ADDED = {
    "prostate-active-surveillance": [("MRI", "Prostate MRI", 0, 12, 12)],
    "colorectal-cea": [
        ("CT_CAP", "CT chest, abdomen and pelvis", 0, 24, 12),
        ("COLONOSCOPY", "Colonoscopy", 0, 12, 12),
    ],
}

NEW_PATHWAYS = [
    {
        "code": "prostate-focal-therapy",
        "name": "Prostate cancer after HIFU or focal therapy",
        "tumour_site": "prostate",
        "treatment": "High-intensity focused ultrasound (HIFU) or other focal therapy",
        "description": (
            "PSA follow-up after HIFU or focal therapy, on the EAU schedule (3, 6 and 12 months, "
            "6-monthly to 3 years, then yearly). There is no agreed definition of failure; the "
            "Stuttgart definition (Blana et al. 2009: PSA nadir + 1.2 ng/mL) is the one most "
            "used. The anchor date is the date of treatment."
        ),
        "schedule": EAU_PSA_SCHEDULE,
        "rules": [
            {
                "code": "focal_therapy_failure",
                "name": "PSA 1.2 ug/L or more above nadir (Stuttgart)",
                "test_code": "PSA",
                "rule_type": "rise_above_nadir",
                "params": {"rise": "1.2", "units": "ug/L"},
                "priority": HIGH,
                "description": "Stuttgart definition after HIFU (Blana et al. 2009): nadir + 1.2.",
            },
        ],
    },
    {
        "code": "prostate-hormone-therapy",
        "name": "Prostate cancer on hormone therapy",
        "tumour_site": "prostate",
        "treatment": "Androgen deprivation therapy",
        "description": (
            "PSA every 3 months and testosterone every 6 months on androgen deprivation. "
            "Castration-resistant progression by PCWG3 (Scher et al., JCO 2016;34:1402-1418): "
            "PSA at least 25% and at least 2 ng/mL above the nadir, confirmed by a second value "
            "3 or more weeks later, with castrate testosterone (below 50 ng/dL, 1.7 nmol/L). The "
            "anchor date is the start of androgen deprivation."
        ),
        "schedule": [
            ("PSA", "PSA", 0, None, 3),
            ("TESTOSTERONE", "Testosterone", 0, None, 6),
        ],
        "rules": [
            {
                "code": "castration_resistant_progression",
                "name": "Castration-resistant progression (PCWG3)",
                "test_code": "PSA",
                "rule_type": "castration_resistance",
                "params": {
                    "rise": "2",
                    "min_percent": "25",
                    "confirm_after_days": 21,
                    "repeat_after_days": 21,
                    "castrate_test": "TESTOSTERONE",
                    "castrate_below": "1.7",
                    "castrate_units": "nmol/L",
                    "castrate_within_days": 183,
                    "units": "ug/L",
                },
                "priority": URGENT,
                "description": "PCWG3 PSA progression with castrate testosterone.",
            },
            {
                "code": "testosterone_not_castrate",
                "name": "Testosterone not castrate (1.7 nmol/L or more)",
                "test_code": "TESTOSTERONE",
                "rule_type": "absolute_limit",
                "params": {"threshold": "1.7", "units": "nmol/L"},
                "priority": HIGH,
                "description": (
                    "Castrate testosterone is below 50 ng/dL (1.7 nmol/L) (PCWG3); a higher value "
                    "on androgen deprivation needs the treatment reviewed."
                ),
            },
        ],
    },
]


def forward(apps, schema_editor):
    Pathway = apps.get_model("careplans", "Pathway")
    ScheduleStep = apps.get_model("careplans", "ScheduleStep")
    Rule = apps.get_model("careplans", "Rule")
    for code, definitions in RULES.items():
        pathway = Pathway.objects.filter(code=code).first()
        if pathway is None:
            continue
        for old_name, data in definitions:
            if Rule.objects.filter(pathway=pathway, code=data["code"]).exists():
                continue
            seeded = (
                Rule.objects.filter(pathway=pathway, name=old_name).first() if old_name else None
            )
            if seeded is None:
                Rule.objects.create(pathway=pathway, **data)
            else:
                for field, value in data.items():
                    setattr(seeded, field, value)
                seeded.save()
            if old_name:
                # Plans keep their own values; their copies learn what they detect.
                Rule.objects.filter(plan__pathway=pathway, name=old_name, code="").update(
                    code=data["code"]
                )
        for name in RETIRED.get(code, []):
            Rule.objects.filter(pathway=pathway, name=name).update(active=False)
        for test_code, test_name, from_month, until_month, every in SCHEDULE_ADDED.get(code, []):
            if not ScheduleStep.objects.filter(pathway=pathway, test_code=test_code).exists():
                ScheduleStep.objects.create(
                    pathway=pathway,
                    test_code=test_code,
                    test_name=test_name,
                    from_month=from_month,
                    until_month=until_month,
                    every_months=every,
                )
    for data in NEW_PATHWAYS:
        if Pathway.objects.filter(code=data["code"]).exists():
            continue
        pathway = Pathway.objects.create(
            code=data["code"],
            name=data["name"],
            tumour_site=data["tumour_site"],
            treatment=data["treatment"],
            description=data["description"],
        )
        for test_code, test_name, from_month, until_month, every in data["schedule"]:
            ScheduleStep.objects.create(
                pathway=pathway,
                test_code=test_code,
                test_name=test_name,
                from_month=from_month,
                until_month=until_month,
                every_months=every,
            )
        for rule in data["rules"]:
            Rule.objects.create(pathway=pathway, **rule)


# The name the browser tests' re-seeding calls (tests/browser/conftest.py).
seed = forward


class Migration(migrations.Migration):
    dependencies = [
        ("careplans", "0007_monitoring_episodes_and_breaches"),
    ]

    operations = [
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
