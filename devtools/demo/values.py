"""Laboratory values for the demo: tumour-marker series and routine bloods, as a lab prints them.

* PSA after radical prostatectomy: undetectable (<0.01 to 0.03 ug/L); a few rise slowly past
  0.2 ug/L (biochemical recurrence).
* PSA after radical radiotherapy: falls to a nadir over 18 to 24 months; a couple then rise
  by more than 2 ug/L above the nadir (the Phoenix definition of recurrence).
* CEA after colorectal surgery: mostly under 5 ug/L; a couple rise.
* FBC and U&E with units, reference ranges and H/L flags; eGFR by CKD-EPI 2021.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal

from devtools.demo.plans import ObservationPlan, months, weekday


def flag(value: float, low: float | None, high: float | None) -> str:
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return ""


def numeric(
    code: str,
    name: str,
    value: float,
    places: int,
    units: str,
    low: float | None,
    high: float | None,
    reference_range: str,
) -> ObservationPlan:
    text = f"{value:.{places}f}"
    return ObservationPlan(
        code=code,
        name=name,
        value_text=text,
        value_numeric=Decimal(text),
        units=units,
        reference_range=reference_range,
        abnormal_flag=flag(float(text), low, high),
    )


# ---------------------------------------------------------------------------
# Tumour markers
# ---------------------------------------------------------------------------


def sample_days(
    rng: random.Random, start: dt.date, treated: dt.date, anchor: dt.date
) -> list[dt.date]:
    """Pre-treatment baseline, then three-monthly for two years and six-monthly after, with
    the last sample a week to six weeks before ``anchor``."""
    days = [start]
    day = treated + dt.timedelta(days=rng.randint(35, 50))
    while day < anchor - dt.timedelta(days=45):
        days.append(weekday(day))
        step = 91 if (day - treated).days < 730 else 182
        day += dt.timedelta(days=step + rng.randint(-10, 10))
    days.append(weekday(anchor - dt.timedelta(days=rng.randint(7, 40))))
    return days


def psa_observation(value: float) -> ObservationPlan:
    if value < 0.01:
        # An undetectable PSA: the lab prints "<0.01"; the number is the detection limit.
        return ObservationPlan(
            code="PSA",
            name="PSA",
            value_text="<0.01",
            value_numeric=Decimal("0.01"),
            comparator="<",
            units="ug/L",
            reference_range="0.00-4.00",
        )
    return numeric("PSA", "PSA", value, 2, "ug/L", None, 4.0, "0.00-4.00")


def psa_after_prostatectomy(
    rng: random.Random, days: list[dt.date], treated: dt.date, rising: bool
) -> list[float]:
    values = [rng.uniform(5.0, 14.0)]  # pre-operative
    last = days[-1]
    onset = max(treated + months(9), last - months(rng.uniform(20, 28)))
    target = rng.uniform(0.25, 0.6)
    doubling = (last - onset).days / math.log2(target / 0.03)
    for day in days[1:]:
        if rising and day > onset:
            values.append(0.03 * 2 ** ((day - onset).days / doubling) * rng.uniform(0.95, 1.05))
        else:
            values.append(rng.choice((0.005, 0.005, 0.005, 0.005, 0.01, 0.02, 0.03)))
    return values


def psa_after_radiotherapy(
    rng: random.Random, days: list[dt.date], treated: dt.date, rising: bool
) -> list[float]:
    baseline = rng.uniform(6.0, 18.0)
    nadir = rng.uniform(0.1, 0.8)
    # Falls to within a few per cent of the nadir over 18 to 24 months.
    rate = 4.0 / rng.uniform(18, 24)
    last = days[-1]
    onset = max(treated + months(26), last - months(rng.uniform(14, 20)))
    target_rise = rng.uniform(2.4, 4.0)
    values = [baseline]
    for day in days[1:]:
        elapsed = (day - treated).days / 30.44
        value = nadir + (baseline - nadir) * math.exp(-rate * elapsed)
        if rising and day > onset:
            share = (day - onset).days / max(1, (last - onset).days)
            value = nadir + target_rise * share**1.6
        values.append(value * rng.uniform(0.93, 1.07))
    return values


def cea_after_surgery(rng: random.Random, days: list[dt.date], rising: bool) -> list[float]:
    values = [rng.uniform(2.0, 14.0)]  # pre-operative
    level = rng.uniform(1.0, 3.0)
    last = days[-1]
    onset = last - months(rng.uniform(10, 14))
    target = rng.uniform(9.0, 20.0)
    for day in days[1:]:
        value = level * rng.uniform(0.8, 1.25)
        if rising and day > onset:
            share = (day - onset).days / max(1, (last - onset).days)
            value = level + (target - level) * share**1.5
        values.append(max(0.5, value))
    return values


# ---------------------------------------------------------------------------
# Routine bloods
# ---------------------------------------------------------------------------


def egfr(creatinine: float, age: int, sex: str) -> float:
    """CKD-EPI 2021 (no ethnicity term), as UK labs report it."""
    scr = creatinine / 88.4
    kappa, alpha = (0.7, -0.241) if sex == "F" else (0.9, -0.302)
    return (
        142
        * min(scr / kappa, 1) ** alpha
        * max(scr / kappa, 1) ** -1.2
        * 0.9938**age
        * (1.012 if sex == "F" else 1)
    )


def bloods(
    rng: random.Random,
    *,
    day: dt.date,
    born: dt.date,
    sex: str,
    base: dict[str, float],
    post_operative: bool,
) -> tuple[list[ObservationPlan], list[ObservationPlan]]:
    female = sex == "F"
    hb = rng.gauss(base["hb"], 5) - (18 if post_operative else 0)
    hb_low, hb_high = (115, 165) if female else (130, 170)
    fbc = [
        numeric("HB", "Haemoglobin", hb, 0, "g/L", hb_low, hb_high, f"{hb_low}-{hb_high}"),
        numeric(
            "WBC", "White cell count", rng.gauss(base["wcc"], 0.9), 1, "10*9/L", 4, 11, "4.0-11.0"
        ),
        numeric("PLT", "Platelets", rng.gauss(base["plt"], 25), 0, "10*9/L", 150, 400, "150-400"),
    ]
    creatinine = max(40.0, rng.gauss(base["creat"], 6))
    cr_low, cr_high = (45, 84) if female else (59, 104)
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    gfr = egfr(creatinine, age, sex)
    if gfr >= 90:
        egfr_obs = ObservationPlan(
            code="EGFR",
            name="eGFR (CKD-EPI)",
            value_text=">90",
            value_numeric=Decimal(90),
            comparator=">",
            units="mL/min/1.73m2",
            reference_range=">60",
        )
    else:
        egfr_obs = numeric("EGFR", "eGFR (CKD-EPI)", gfr, 0, "mL/min/1.73m2", 60, None, ">60")
    ue = [
        numeric("NA", "Sodium", rng.gauss(139, 2), 0, "mmol/L", 133, 146, "133-146"),
        numeric("K", "Potassium", rng.gauss(4.3, 0.35), 1, "mmol/L", 3.5, 5.3, "3.5-5.3"),
        numeric(
            "CREA", "Creatinine", creatinine, 0, "umol/L", cr_low, cr_high, f"{cr_low}-{cr_high}"
        ),
        egfr_obs,
    ]
    return fbc, ue
