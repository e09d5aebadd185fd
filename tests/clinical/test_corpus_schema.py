"""The reference corpus is well formed and covers the whole clinical vocabulary.

The vocabulary (pathways, causes, test codes) is the contract between the worked cases and
the code; these tests do not run the cases through the code (the corpus runner does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clinical import corpus

DOC = Path(__file__).resolve().parents[2] / "docs" / "clinical-safety" / "reference-cases.md"


@pytest.fixture(scope="module")
def cases() -> list[corpus.Case]:
    return corpus.load_cases()


def test_the_corpus_holds_at_least_80_cases_with_unique_ids(cases):
    ids = [case.id for case in cases]
    assert len(ids) >= 80
    assert len(set(ids)) == len(ids)


def test_every_case_cites_its_source_and_says_its_reasoning(cases):
    for case in cases:
        assert case.source.strip(), case.id
        assert case.reasoning.strip(), case.id


def test_every_pathway_has_a_case_that_raises_an_alert(cases):
    for pathway in corpus.PATHWAYS:
        assert any(c.pathway == pathway and c.expect.alerts for c in cases), pathway


def test_every_cause_has_at_least_one_positive_case(cases):
    raised = set()
    for case in cases:
        raised.update(case.expect.alerts)
        raised.update(case.expect.review or ())
    assert raised >= corpus.ALERT_CAUSES | corpus.REVIEW_CAUSES, sorted(
        (corpus.ALERT_CAUSES | corpus.REVIEW_CAUSES) - raised
    )


def test_every_confirmed_cause_has_a_case_left_awaiting_confirmation(cases):
    awaiting = {cause for case in cases for cause in case.expect.awaiting}
    assert awaiting >= corpus.CONFIRMED_CAUSES


def test_every_alert_cause_has_a_case_that_does_not_raise_it(cases):
    """Each rule is checked on both sides: a case on its pathway where it stays quiet."""
    for pathway_code, pathway in corpus.PATHWAYS.items():
        on_pathway = [c for c in cases if c.pathway == pathway_code]
        for cause in pathway.alerts:
            assert any(cause not in c.expect.alerts for c in on_pathway), cause


def test_the_reference_cases_document_is_up_to_date(cases):
    """Regenerate with
    python -m tests.clinical.corpus --markdown > docs/clinical-safety/reference-cases.md
    """
    assert DOC.read_text(encoding="utf-8") == corpus.markdown(cases)


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cases.toml").write_text(text, encoding="utf-8")
    return tmp_path


GOOD = """
[[case]]
id = "x-01"
title = "t"
source = "s"
reasoning = "r"
pathway = "prostate-post-prostatectomy"
anchor = "2024-01-10"
results = [{test = "PSA", at = "2024-04-10", value = "<0.01", units = "ng/mL"}]
[case.expect]
alerts = []
awaiting = []
"""


def test_a_well_formed_case_loads_with_its_defaults(tmp_path):
    (case,) = corpus.load_cases(_write(tmp_path, GOOD))
    assert case.plan_started == case.anchor
    assert str(case.today) == "2024-04-11"
    assert case.results[0].value == "<0.01"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('title = "t"', 'title = "t"\ncolour = "red"'), "unknown key(s) in the case: colour"),
        (('anchor = "2024-01-10"', 'anchor = "2024-13-10"'), "anchor is not a date"),
        (("prostate-post-prostatectomy", "prostate-post-chemo"), "unknown pathway"),
        (('test = "PSA"', 'test = "CEA"'), "not a test of this pathway"),
        (('units = "ng/mL"', 'units = "ng/mL", colour = 1'), "unknown key(s) in results[0]"),
        (("alerts = []", 'alerts = ["phoenix_failure"]'), "not in the vocabulary here"),
        (("awaiting = []", 'awaiting = ["bcr_post_rp"]'), "must say repeat_by"),
        (('source = "s"', ""), "missing key(s) in the case: source"),
        (("alerts = []", 'alerts = []\nnext_due = {CEA = "2024-07-10"}'), "not scheduled here"),
        (('at = "2024-04-10"', 'at = "2024-04-10T25:00"'), "is not a date-time"),
        (('units = "ng/mL"', 'units = "ng/mL", same_sample_as = 0'), "same_sample_as must be"),
        (('units = "ng/mL"', 'units = "ng/mL", status = "X"'), "status must be one of"),
        (
            (
                'anchor = "2024-01-10"',
                'anchor = "2024-01-10"\nevents = [{kind = "chemo", on = "2024-02-01"}]',
            ),
            "is not an event kind",
        ),
        (("awaiting = []", 'awaiting = []\nrepeat_by = "2024-05-22"'), "nothing is awaiting"),
    ],
)
def test_a_malformed_case_is_refused_naming_the_case(tmp_path, change, message):
    old, new = change
    with pytest.raises(corpus.CaseError, match=r"x-01") as error:
        corpus.load_cases(_write(tmp_path, GOOD.replace(old, new, 1)))
    assert message in str(error.value)


def test_an_id_used_twice_is_refused(tmp_path):
    with pytest.raises(corpus.CaseError, match="id used twice"):
        corpus.load_cases(_write(tmp_path, GOOD + GOOD))
