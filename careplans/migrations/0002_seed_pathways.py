"""Seed the four published follow-up pathways (data only; the schema is in 0001).

Each pathway keeps a stable code (commands, the API and imports name it) and states its
published source. A pathway that already exists under its code is left alone, so a team's
edits in admin survive a re-run; reversing removes nothing (plans may already use them).

The data is written out here rather than imported from the app: a migration must give the
same result whenever it runs, whatever the code later says. Sources (the project's clinical
reference, section 5): EAU follow-up, the Phoenix and AUA definitions, the EAU BCR risk groups,
NICE NG131 active surveillance; and NICE NG151 for colorectal follow-up.
"""

from django.db import migrations

URGENT, HIGH, NORMAL = 1, 2, 3

EAU_SOURCE = (
    "EAU Prostate Cancer Guidelines, chapter 7 (Follow-up): PSA with history at 3, 6 and "
    "12 months after treatment, then every 6 months to 3 years, then once a year "
    "(https://uroweb.org/guidelines/prostate-cancer/chapter/followup; tabulated with NICE 2008 "
    "and NCCN in PMC2714251, table 2)."
)

# One PSA schedule after radical treatment (EAU): the 3-monthly phase gives the tests at 3 and 6
# months, the 6-monthly phase those at 12, 18 ... 36, then yearly for as long as the plan runs.
EAU_PSA_SCHEDULE = [
    ("PSA", "PSA", 0, 6, 3),
    ("PSA", "PSA", 6, 36, 6),
    ("PSA", "PSA", 36, None, 12),
]

PATHWAYS = [
    {
        "code": "prostate-post-prostatectomy",
        "name": "Prostate cancer after radical prostatectomy",
        "tumour_site": "prostate",
        "treatment": "Radical prostatectomy",
        "description": (
            "PSA follow-up after radical prostatectomy. Schedule: " + EAU_SOURCE + " "
            "Biochemical recurrence: PSA at or above 0.2 ug/L (0.2 ng/mL) confirmed by a second "
            "result at or above 0.2 (AUA definition; NCCN also counts a PSA rising on 2 or more "
            "measurements). A PSA doubling time of 1 year or less puts recurrence in the EAU "
            "high-risk group (EAU BCR risk groups, PubMed 36746348). The anchor date is the "
            "date of surgery."
        ),
        "schedule": EAU_PSA_SCHEDULE,
        "rules": [
            {
                "name": "PSA at or above 0.2 ug/L, confirmed (biochemical recurrence)",
                "test_code": "PSA",
                "rule_type": "absolute_limit",
                "params": {"threshold": "0.2", "confirmations": 2, "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "AUA definition of biochemical recurrence after radical prostatectomy: PSA "
                    ">= 0.2 ng/mL confirmed by a second value >= 0.2 ng/mL."
                ),
            },
            {
                "name": "PSA rising on 3 consecutive results",
                "test_code": "PSA",
                "rule_type": "consecutive_rises",
                "params": {"count": 3, "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "A confirmed rising PSA is considered a sign of recurrence (EAU guidelines, "
                    "chapter 7); NCCN counts a rise on 2 or more measurements. Three rises in a "
                    "row catches a rise below 0.2 ug/L early; a local choice the team may change."
                ),
            },
            {
                "name": "PSA doubling time under 12 months",
                "test_code": "PSA",
                "rule_type": "doubling_time",
                "params": {"max_months": 12, "min_value": "0.2", "units": "ug/L"},
                "priority": URGENT,
                "description": (
                    "EAU biochemical recurrence risk groups after radical prostatectomy: a PSA "
                    "doubling time of 1 year or less is high risk (PubMed 36746348; Tilki 2019). "
                    "Fitted over the latest run of rising results at or above 0.2 ug/L (the "
                    "recurrence threshold), not over noise near the detection limit, and only "
                    "over the latest rising run (Svatek 2006)."
                ),
            },
        ],
    },
    {
        "code": "prostate-post-radiotherapy",
        "name": "Prostate cancer after radical radiotherapy",
        "tumour_site": "prostate",
        "treatment": "Radical radiotherapy (with or without hormone therapy) or brachytherapy",
        "description": (
            "PSA follow-up after radical radiotherapy. Schedule: " + EAU_SOURCE + " "
            "Biochemical failure: the Phoenix definition (RTOG-ASTRO consensus, Roach et al., "
            "Int J Radiat Oncol Biol Phys 2006): a rise of 2 ug/L (2 ng/mL) or more above the "
            "nadir, the lowest PSA since treatment; the failure is dated when it is found, not "
            "backdated. The anchor date is the end of radiotherapy, and the nadir is looked "
            "for from that date. A short PSA doubling time carries a high risk of metastases "
            "(Stock et al., Brachytherapy 2008)."
        ),
        "schedule": EAU_PSA_SCHEDULE,
        "rules": [
            {
                "name": "PSA 2 ug/L or more above nadir (Phoenix)",
                "test_code": "PSA",
                "rule_type": "rise_above_nadir",
                # No anchor_at here: the monitoring service uses the plan's anchor date, so the
                # nadir is each patient's own lowest PSA since their treatment.
                "params": {"rise": "2", "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "Phoenix definition of biochemical failure after radiotherapy (RTOG-ASTRO "
                    "consensus, Roach et al. 2006): PSA nadir + 2 ng/mL."
                ),
            },
            {
                "name": "PSA doubling time under 12 months",
                "test_code": "PSA",
                "rule_type": "doubling_time",
                "params": {"max_months": 12, "min_value": "0.5", "units": "ug/L"},
                "priority": URGENT,
                "description": (
                    "Results below 0.5 ug/L are left out of the fit (a local choice: benign "
                    "bounces at low values after radiotherapy are common). "
                    "A PSA doubling time under 1 year marks a high-risk recurrence (EAU BCR "
                    "risk groups); after brachytherapy failure a doubling time under 3 months "
                    "meant no 10-year freedom from metastases (Stock et al. 2008). Fitted over "
                    "the latest run of rising results only (Svatek 2006)."
                ),
            },
        ],
    },
    {
        "code": "prostate-active-surveillance",
        "name": "Prostate cancer on active surveillance",
        "tumour_site": "prostate",
        "treatment": "Active surveillance",
        "description": (
            "PSA monitoring on active surveillance, after NICE NG131 (Prostate cancer: diagnosis "
            "and management, 2019; summarised at https://www.guidelines.co.uk/cancer/"
            "nice-prostate-cancer-guideline/250200.article): PSA every 3 to 4 months in year 1, "
            "every 3 to 6 months in years 2 to 4, and every 6 months from year 5. This pathway "
            "takes 3 months in year 1 and 6 months from year 2, which the team may change for "
            "a patient. The anchor date is the date active surveillance started. The PSA doubling time "
            "and percentage rise triggers are local choices to be set by the team: NG131 asks "
            "for a review of PSA kinetics but sets no number; a doubling time under 3 years is "
            "a trigger commonly used in active surveillance programmes."
        ),
        "schedule": [
            ("PSA", "PSA", 0, 12, 3),
            ("PSA", "PSA", 12, 48, 6),
            ("PSA", "PSA", 48, None, 6),
        ],
        "rules": [
            {
                "name": "PSA doubling time under 3 years",
                "test_code": "PSA",
                "rule_type": "doubling_time",
                "params": {"max_months": 36, "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "Local choice, to be set by the team: a PSA doubling time under 3 years is "
                    "a commonly used trigger for review on active surveillance. NICE NG131 asks "
                    "for PSA kinetics to be reviewed but gives no threshold."
                ),
            },
            {
                "name": "PSA risen by 50% or more since the previous result",
                "test_code": "PSA",
                "rule_type": "percentage_rise",
                "params": {"percent": 50, "against": "previous", "units": "ug/L"},
                "priority": NORMAL,
                "description": (
                    "Local choice, to be set by the team: a sharp rise between two results "
                    "prompts a clinician to look (repeat test, or bring the review forward)."
                ),
            },
        ],
    },
    {
        "code": "colorectal-cea",
        "name": "Colorectal cancer: CEA surveillance",
        "tumour_site": "colorectal",
        "treatment": "Curative-intent treatment (surgery with or without chemotherapy)",
        "description": (
            "CEA surveillance after curative treatment of colorectal cancer, from NICE NG151 "
            "(Colorectal cancer, 2020), recommendations 1.8 on follow-up "
            "(https://www.nice.org.uk/guidance/ng151): serum CEA at least every 6 months for "
            "the first 3 years, with CT as NG151 sets out (not scheduled here). Yearly CEA in "
            "years 4 and 5 is a local choice the team may change. The anchor date is the date "
            "of surgery (or the end of treatment). The CEA limit of 5 ug/L confirmed by a second "
            "result and the 30% rise are local choices, noted on each rule."
        ),
        "schedule": [
            ("CEA", "CEA", 0, 36, 6),
            ("CEA", "CEA", 36, 60, 12),
        ],
        "rules": [
            {
                "name": "CEA at or above 5 ug/L, confirmed",
                "test_code": "CEA",
                "rule_type": "absolute_limit",
                "params": {"threshold": "5", "confirmations": 2, "units": "ug/L"},
                "priority": HIGH,
                "description": (
                    "Local choice: 5 ug/L is a common upper reference limit for CEA; a "
                    "confirming second result avoids acting on one raised value (smoking, "
                    "inflammation). Set by the team."
                ),
            },
            {
                "name": "CEA risen by 30% or more since the previous result",
                "test_code": "CEA",
                "rule_type": "percentage_rise",
                "params": {"percent": 30, "against": "previous", "units": "ug/L"},
                "priority": NORMAL,
                "description": (
                    "Local choice, to be set by the team: a rising CEA within the reference "
                    "range can be the first sign of recurrence."
                ),
            },
        ],
    },
]


def seed(apps, schema_editor):
    Pathway = apps.get_model("careplans", "Pathway")
    ScheduleStep = apps.get_model("careplans", "ScheduleStep")
    Rule = apps.get_model("careplans", "Rule")
    for data in PATHWAYS:
        if Pathway.objects.filter(code=data["code"]).exists():
            continue
        pathway = Pathway.objects.create(
            code=data["code"],
            name=data["name"],
            tumour_site=data["tumour_site"],
            treatment=data["treatment"],
            description=data["description"],
        )
        for test_code, test_name, from_month, until_month, every_months in data["schedule"]:
            ScheduleStep.objects.create(
                pathway=pathway,
                test_code=test_code,
                test_name=test_name,
                from_month=from_month,
                until_month=until_month,
                every_months=every_months,
            )
        for rule in data["rules"]:
            Rule.objects.create(pathway=pathway, **rule)


class Migration(migrations.Migration):
    dependencies = [
        ("careplans", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
