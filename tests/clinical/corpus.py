"""The clinical reference corpus: worked cases, as data, from the published definitions.

Each case in ``tests/clinical/cases/*.toml`` is a patient's series of results on a follow-up
pathway with the outcome worked out by hand from the cited source (never from our code). The
contract between the cases and the code (the pathways, the causes raised and their exact
semantics) is the clinical vocabulary below; this module reads the cases into frozen
dataclasses and refuses any case that does not follow it, naming the case.

Pure Python (no Django): ``python -m tests.clinical.corpus --markdown`` prints the table kept
in ``docs/clinical-safety/reference-cases.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

CASES_DIR = Path(__file__).resolve().parent / "cases"


@dataclass(frozen=True)
class Pathway:
    """A pathway of the vocabulary: the tests it schedules, the tests its rules read, its alerts."""

    scheduled: frozenset[str]
    tests: frozenset[str]
    alerts: frozenset[str]


PATHWAYS: Mapping[str, Pathway] = MappingProxyType(
    {
        "prostate-post-prostatectomy": Pathway(
            scheduled=frozenset({"PSA"}),
            tests=frozenset({"PSA"}),
            alerts=frozenset(
                {"psa_persistence", "bcr_post_rp", "psa_doubling_time", "psa_consecutive_rises"}
            ),
        ),
        "prostate-post-radiotherapy": Pathway(
            scheduled=frozenset({"PSA"}),
            tests=frozenset({"PSA"}),
            alerts=frozenset({"phoenix_failure", "early_phoenix_failure", "psa_doubling_time"}),
        ),
        "prostate-active-surveillance": Pathway(
            scheduled=frozenset({"PSA", "MRI"}),
            tests=frozenset({"PSA", "MRI"}),
            alerts=frozenset({"psa_doubling_time", "psa_velocity"}),
        ),
        "prostate-focal-therapy": Pathway(
            scheduled=frozenset({"PSA"}),
            tests=frozenset({"PSA"}),
            alerts=frozenset({"focal_therapy_failure"}),
        ),
        "prostate-hormone-therapy": Pathway(
            scheduled=frozenset({"PSA", "TESTOSTERONE"}),
            tests=frozenset({"PSA", "TESTOSTERONE"}),
            alerts=frozenset({"castration_resistant_progression", "testosterone_not_castrate"}),
        ),
        "colorectal-cea": Pathway(
            scheduled=frozenset({"CEA", "CT_CAP", "COLONOSCOPY"}),
            tests=frozenset({"CEA", "CT_CAP", "COLONOSCOPY", "ALP", "BILI", "ALT"}),
            alerts=frozenset(
                {
                    "cea_raised_confirmed",
                    "cea_rise_above_baseline",
                    "cea_sustained_rise",
                    "alp_high",
                    "bilirubin_high",
                    "alt_high",
                }
            ),
        ),
    }
)

ALERT_CAUSES = frozenset().union(*(p.alerts for p in PATHWAYS.values()))
# Causes that wait for a confirming value on a separate sample ("repeat test by DATE").
CONFIRMED_CAUSES = frozenset(
    {"bcr_post_rp", "castration_resistant_progression", "cea_raised_confirmed"}
)
REVIEW_CAUSES = frozenset({"unreadable_value", "unit_unreconcilable", "radiology_report"})
TEST_CODES = frozenset().union(*(p.tests for p in PATHWAYS.values()))
EVENT_KINDS = frozenset(
    {"salvage_radiotherapy", "hormone_therapy_start", "hormone_therapy_stop", "further_surgery"}
)
VALUE_TYPES = frozenset({"NM", "SN", "ST", "TX"})
RESULT_STATUSES = frozenset({"F", "C", "D"})

CASE_KEYS = frozenset(
    {
        "id",
        "title",
        "source",
        "reasoning",
        "pathway",
        "anchor",
        "plan_started",
        "today",
        "events",
        "results",
        "expect",
    }
)
CASE_REQUIRED = frozenset({"id", "title", "source", "reasoning", "pathway", "anchor", "expect"})
RESULT_KEYS = frozenset(
    {"test", "at", "value", "units", "type", "flag", "status", "same_sample_as", "report"}
)
RESULT_REQUIRED = frozenset({"test", "at", "value", "units"})
EVENT_KEYS = frozenset({"kind", "on"})
EXPECT_KEYS = frozenset({"alerts", "awaiting", "review", "repeat_by", "next_due", "overdue"})
EXPECT_REQUIRED = frozenset({"alerts", "awaiting"})


class CaseError(ValueError):
    """A case file that does not follow the schema or the vocabulary."""


@dataclass(frozen=True)
class Result:
    """One OBX as the lab sends it: ``value`` is OBX-5 exactly as sent."""

    test: str
    at: dt.datetime | dt.date
    value: str
    units: str
    type: str | None = None
    flag: str | None = None
    status: str | None = None
    same_sample_as: int | None = None
    report: str | None = None

    @property
    def on(self) -> dt.date:
        return self.at.date() if isinstance(self.at, dt.datetime) else self.at


@dataclass(frozen=True)
class Event:
    """A treatment event recorded on the plan; it starts a new episode for the rules."""

    kind: str
    on: dt.date


@dataclass(frozen=True)
class Expect:
    """The outcome worked out from the source: causes raised, awaiting and due dates."""

    alerts: tuple[str, ...]
    awaiting: tuple[str, ...]
    review: tuple[str, ...] | None = None
    repeat_by: dt.date | None = None
    next_due: Mapping[str, dt.date] | None = None
    overdue: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Case:
    """One worked case. ``plan_started`` and ``today`` are resolved to their defaults."""

    id: str
    title: str
    source: str
    reasoning: str
    pathway: str
    anchor: dt.date
    plan_started: dt.date
    today: dt.date
    events: tuple[Event, ...]
    results: tuple[Result, ...]
    expect: Expect
    file: str


def _fail(case_id: str, message: str) -> CaseError:
    return CaseError(f"case {case_id!r}: {message}")


def _keys(case_id: str, where: str, table: Any, allowed: frozenset[str], required: frozenset[str]):
    if not isinstance(table, dict):
        raise _fail(case_id, f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(case_id, f"unknown key(s) in {where}: {', '.join(unknown)}")
    missing = sorted(required - set(table))
    if missing:
        raise _fail(case_id, f"missing key(s) in {where}: {', '.join(missing)}")


def _text(case_id: str, where: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(case_id, f"{where} must be a string, not {value!r}")
    if not empty and not value.strip():
        raise _fail(case_id, f"{where} must not be empty")
    return value


def _date(case_id: str, where: str, value: Any) -> dt.date:
    if not isinstance(value, str):
        raise _fail(case_id, f'{where} must be a date written as "YYYY-MM-DD", not {value!r}')
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(case_id, f"{where} is not a date (YYYY-MM-DD): {value!r}") from None


def _moment(case_id: str, where: str, value: Any) -> dt.datetime | dt.date:
    """A collection time: a date, or a date and a time (no time zone: local to the lab)."""
    if isinstance(value, str) and "T" in value:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _fail(case_id, f"{where} is not a date-time: {value!r}") from None
        if moment.tzinfo is not None:
            raise _fail(case_id, f"{where} must not carry a time zone: {value!r}")
        return moment
    return _date(case_id, where, value)


def _causes(case_id: str, where: str, value: Any, allowed: frozenset[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _fail(case_id, f"{where} must be a list of cause names")
    unknown = [c for c in value if c not in allowed]
    if unknown:
        raise _fail(case_id, f"{where} names cause(s) not in the vocabulary here: {unknown}")
    if len(set(value)) != len(value):
        raise _fail(case_id, f"{where} names a cause twice")
    return tuple(value)


def _result(case_id: str, index: int, raw: Any, pathway: Pathway, earlier: list[Result]) -> Result:
    where = f"results[{index}]"
    _keys(case_id, where, raw, RESULT_KEYS, RESULT_REQUIRED)
    test = _text(case_id, f"{where}.test", raw["test"])
    if test not in pathway.tests:
        raise _fail(case_id, f"{where}.test {test!r} is not a test of this pathway")
    value_type = raw.get("type")
    if value_type is not None and value_type not in VALUE_TYPES:
        raise _fail(case_id, f"{where}.type must be one of {sorted(VALUE_TYPES)}")
    status = raw.get("status")
    if status is not None and status not in RESULT_STATUSES:
        raise _fail(case_id, f"{where}.status must be one of {sorted(RESULT_STATUSES)}")
    same = raw.get("same_sample_as")
    result = Result(
        test=test,
        at=_moment(case_id, f"{where}.at", raw["at"]),
        value=_text(case_id, f"{where}.value", raw["value"], empty=True),
        units=_text(case_id, f"{where}.units", raw["units"], empty=True),
        type=value_type,
        flag=None if raw.get("flag") is None else _text(case_id, f"{where}.flag", raw["flag"]),
        status=status,
        same_sample_as=same,
        report=None if "report" not in raw else _text(case_id, f"{where}.report", raw["report"]),
    )
    if same is not None:
        if not isinstance(same, int) or isinstance(same, bool) or not 0 <= same < index:
            raise _fail(case_id, f"{where}.same_sample_as must be the index of an earlier result")
        original = earlier[same]
        if (original.test, original.at) != (result.test, result.at):
            raise _fail(
                case_id, f"{where}.same_sample_as names a result of another test or collection time"
            )
    return result


def _expect(case_id: str, raw: Any, pathway: Pathway) -> Expect:
    _keys(case_id, "expect", raw, EXPECT_KEYS, EXPECT_REQUIRED)
    alerts = _causes(case_id, "expect.alerts", raw["alerts"], pathway.alerts)
    awaiting = _causes(
        case_id, "expect.awaiting", raw["awaiting"], pathway.alerts & CONFIRMED_CAUSES
    )
    review = None
    if "review" in raw:
        review = _causes(case_id, "expect.review", raw["review"], REVIEW_CAUSES)
    repeat_by = None
    if "repeat_by" in raw:
        repeat_by = _date(case_id, "expect.repeat_by", raw["repeat_by"])
    if awaiting and repeat_by is None:
        raise _fail(case_id, "a case awaiting confirmation must say repeat_by")
    if repeat_by is not None and not awaiting:
        raise _fail(case_id, "repeat_by is given but nothing is awaiting confirmation")
    next_due = None
    if "next_due" in raw:
        table = raw["next_due"]
        if not isinstance(table, dict):
            raise _fail(case_id, "expect.next_due must be a table of test = date")
        for test in table:
            if test not in pathway.scheduled:
                raise _fail(case_id, f"expect.next_due names {test!r}, not scheduled here")
        next_due = MappingProxyType(
            {t: _date(case_id, f"expect.next_due.{t}", v) for t, v in table.items()}
        )
    overdue = None
    if "overdue" in raw:
        overdue = raw["overdue"]
        if not isinstance(overdue, list) or any(t not in pathway.scheduled for t in overdue):
            raise _fail(case_id, "expect.overdue must list tests scheduled on this pathway")
        overdue = tuple(overdue)
    return Expect(alerts, awaiting, review, repeat_by, next_due, overdue)


def case_from_toml(raw: Any, *, file: str) -> Case:
    """One case from its TOML table; raises CaseError naming the case when it is malformed."""
    case_id = raw.get("id", "?") if isinstance(raw, dict) else "?"
    if not isinstance(case_id, str) or not case_id.strip():
        raise CaseError(f"{file}: a case without an id")
    _keys(case_id, "the case", raw, CASE_KEYS, CASE_REQUIRED)
    pathway_code = raw["pathway"]
    if pathway_code not in PATHWAYS:
        raise _fail(case_id, f"unknown pathway {pathway_code!r}")
    pathway = PATHWAYS[pathway_code]
    anchor = _date(case_id, "anchor", raw["anchor"])
    plan_started = anchor
    if "plan_started" in raw:
        plan_started = _date(case_id, "plan_started", raw["plan_started"])
    events: list[Event] = []
    raw_events = raw.get("events", [])
    if not isinstance(raw_events, list):
        raise _fail(case_id, "events must be a list")
    for index, event in enumerate(raw_events):
        _keys(case_id, f"events[{index}]", event, EVENT_KEYS, EVENT_KEYS)
        if event["kind"] not in EVENT_KINDS:
            raise _fail(case_id, f"events[{index}].kind {event['kind']!r} is not an event kind")
        on = _date(case_id, f"events[{index}].on", event["on"])
        if on < anchor:
            raise _fail(case_id, f"events[{index}] is before the anchor")
        events.append(Event(event["kind"], on))
    results: list[Result] = []
    raw_results = raw.get("results", [])
    if not isinstance(raw_results, list):
        raise _fail(case_id, "results must be a list")
    for index, item in enumerate(raw_results):
        results.append(_result(case_id, index, item, pathway, results))
    if "today" in raw:
        today = _date(case_id, "today", raw["today"])
    elif results:
        today = max(r.on for r in results) + dt.timedelta(days=1)
    else:
        raise _fail(case_id, "a case without results must say today")
    return Case(
        id=case_id,
        title=_text(case_id, "title", raw["title"]),
        source=_text(case_id, "source", raw["source"]),
        reasoning=_text(case_id, "reasoning", raw["reasoning"]),
        pathway=pathway_code,
        anchor=anchor,
        plan_started=plan_started,
        today=today,
        events=tuple(events),
        results=tuple(results),
        expect=_expect(case_id, raw["expect"], pathway),
        file=file,
    )


def load_file(path: Path) -> list[Case]:
    """The cases of one file, in the file's order."""
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise CaseError(f"{path.name}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"case"})
    if unknown:
        raise CaseError(f"{path.name}: unknown top-level key(s): {', '.join(unknown)}")
    return [case_from_toml(raw, file=path.name) for raw in data.get("case", [])]


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    """Every case of every file, files in name order; ids must be unique across the corpus."""
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        for case in load_file(path):
            if case.id in seen:
                raise CaseError(f"case {case.id!r}: id used twice ({seen[case.id]}, {path.name})")
            seen[case.id] = path.name
            cases.append(case)
    return cases


HOW_TO_READ = """\
## How to read a case

A case gives the pathway, the anchor (treatment date), any treatment events, and the results in
the order the lab sends them, each with OBX-5 exactly as sent. `alerts` is the set of alert
causes raised over the whole series (an alert stays raised once raised; order does not matter);
`awaiting` the causes still waiting for a confirming sample after the last result, with
`repeat_by`; `review` (when given) the set of review causes; `next_due` the next due date of
each test named; `overdue` (when given) exactly the tests overdue on `today` (default: the day
after the last result). The semantics are those of the clinical vocabulary
([vocabulary.md](vocabulary.md): pathways, causes,
episodes, censored values, same-sample duplicates, the schedule grid). Where the vocabulary
made a choice the source leaves open, the case's reasoning says so.
"""


SOURCES_SECTION = """\
## Which published definitions were followed where the sources disagree

- **Biochemical recurrence after prostatectomy: AUA, not NCCN.** The AUA 2007 guideline
  (Cookson MS et al., J Urol 2007;177:540-545) defines recurrence as PSA >= 0.2 ng/mL confirmed
  by a second value >= 0.2 ng/mL; NCCN also counts failure to become undetectable or a rise on
  two or more measurements. We follow AUA for `bcr_post_rp`, the EAU guideline for persistent
  PSA (>= 0.1 ng/mL at 4-8 weeks, `psa_persistence`) and take NCCN's "rising PSA" as a separate,
  lower-priority run-of-rises rule (`psa_consecutive_rises`: three rises in a row, each more than
  0.05 ng/mL, a size chosen so that assay noise at the detection limit raises nothing).
- **PSA doubling time: the MSKCC all-values fit, not Svatek's last-segment fit.** The MSKCC
  method fits ln(PSA) against time by least squares over all qualifying values of the current
  episode (at least three values over at least three months; after prostatectomy values >= 0.2
  ng/mL; after radiotherapy from the nadir). Svatek et al. (Urology 2006) argue for fitting only
  the straight (exponential) last segment. We follow MSKCC because it is the method of the
  widely used MSKCC calculator, and because a last-segment fit discards a rising episode when
  one value dips, which misses recurrences (case `rp-dt-04`); r-squared is shown to the
  clinician but never decides an alert.
- **Doubling-time thresholds.** After radical treatment: "PSA-DT <= 1 year" (EAU BCR risk
  groups, Van den Broeck et al., Eur Urol 2019), inclusive. On active surveillance PRIAS says
  "PSA-DT < 3 years"; the vocabulary uses "3 years or less".
- **Failure after radiotherapy: Phoenix at call.** Roach et al. (IJROBP 2006;65:965-974): nadir
  + 2 ng/mL, dated at call and not backdated, no confirmation; "early" failure (< 18 months from
  the end of radiotherapy) is the EAU high-risk feature and is raised with it.
- **After HIFU or focal therapy: Stuttgart.** There is no agreed definition; the Stuttgart
  definition (Blana et al. 2009, nadir + 1.2 ng/mL) is the one most used and is followed.
- **Castration resistance: PCWG3.** Scher et al. (JCO 2016;34:1402-1418): >= 25% and >= 2 ng/mL
  above the nadir, confirmed >= 3 weeks later, with castrate testosterone (< 1.7 nmol/L).
- **CEA: a confirmed cut-off and the patient's own values.** ASCO 2013 (Meyerhardt et al.,
  J Clin Oncol 2013;31:4465-4470) and ESMO (Argiles et al., Ann Oncol 2020;31:1291-1305) repeat
  a raised CEA (>= 5 ug/L) and investigate it if confirmed. The FACS analyses (Shinkins et al.,
  PLoS One 2017;12:e0171810: a single 5 ug/L cut-off misses half of recurrences; Br J Surg
  2018;105:658-662: trends over the patient's own values are more accurate) support also
  raising a rise over the post-operative baseline; the sizes (+2.5 ug/L over the baseline, two
  rises of more than 0.5 ug/L) are the vocabulary's choices, and a pre-operative CEA never sets
  the baseline.
- **Liver tests.** ALP > 130 U/L and bilirubin > 21 umol/L are the UK harmonised upper limits
  (Pathology Harmony); ALT > 50 U/L is a usual UK laboratory limit chosen by the vocabulary.
- **Schedules.** EAU (3, 6, 12 months, 6-monthly to 3 years, then yearly) after radical
  prostate treatment; NICE NG131 table 2 on active surveillance; NICE NG151 1.8 after colorectal
  surgery (CEA 6-monthly for 3 years, CT at 12 and 24 months, colonoscopy at 1 year). Where a
  source gives a range (NG131 "every 3-4 months") the shorter interval is used.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(cases: list[Case]) -> str:
    """The reference-cases document: how to regenerate it, the sources followed, every case."""
    lines = [
        "# Clinical reference cases",
        "",
        "Worked cases from the published definitions, kept as data in `tests/clinical/cases/`",
        "(one file per pathway, `general.toml` for text values, duplicates, units, anchors,",
        "episodes and schedules). Each case's outcome was worked out by hand from its source, not",
        "from the code. This file is generated: after changing a case run",
        "`python -m tests.clinical.corpus --markdown > docs/clinical-safety/reference-cases.md`",
        "(a test fails while it is out of date).",
        "",
        HOW_TO_READ,
        SOURCES_SECTION,
        f"## Cases ({len(cases)})",
        "",
        "| Id | Title | Pathway | Expected alerts | Source |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        alerts = ", ".join(f"`{a}`" for a in case.expect.alerts) or "none"
        extra = []
        if case.expect.awaiting:
            extra.append("awaiting " + ", ".join(f"`{a}`" for a in case.expect.awaiting))
        if case.expect.review:
            extra.append("review " + ", ".join(f"`{a}`" for a in case.expect.review))
        if case.expect.overdue:
            extra.append("overdue " + ", ".join(case.expect.overdue))
        if extra:
            alerts += "; " + "; ".join(extra)
        lines.append(
            f"| `{case.id}` | {_cell(case.title)} | {case.pathway} | {alerts} "
            f"| {_cell(case.source)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", action="store_true", help="print the reference-cases table")
    args = parser.parse_args(argv)
    cases = load_cases()
    if args.markdown:
        sys.stdout.write(markdown(cases))
    else:
        sys.stdout.write(f"{len(cases)} cases\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
