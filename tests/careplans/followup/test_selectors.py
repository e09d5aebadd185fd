from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from careplans.followup import selectors
from rms.models import Observation, Result
from tests.factories import ObservationFactory, PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _psa(patient, day, code="PSA", **kwargs):
    result = ResultFactory(patient=patient, observed_at=_at(day), **kwargs.pop("result", {}))
    kwargs.setdefault("value_numeric", Decimal("0.1"))
    return ObservationFactory(result=result, code=code, **kwargs)


def test_the_latest_result_counts_only_current_numeric_values_of_the_test(patient):
    wanted = _psa(patient, dt.date(2025, 1, 10), code="psa")
    _psa(patient, dt.date(2025, 2, 1), code="CEA")
    _psa(patient, dt.date(2025, 2, 2), result={"status": Result.Status.DELETED})
    _psa(patient, dt.date(2025, 2, 3), status=Observation.Status.CANCELLED)
    _psa(patient, dt.date(2025, 2, 4), superseded_at=_at(dt.date(2025, 2, 5)))
    _psa(patient, dt.date(2025, 2, 6), value_numeric=None, value_text="Haemolysed")
    _psa(PatientFactory(), dt.date(2025, 3, 1))

    assert selectors.latest_result_at(patient=patient, test_code="PSA") == wanted.observed_at


def test_results_before_the_anchor_day_do_not_count(patient):
    _psa(patient, dt.date(2025, 1, 9))
    on_the_day = _psa(patient, dt.date(2025, 1, 10))

    assert list(
        selectors.counting_observations(
            patient=patient, test_code="PSA", since=dt.date(2025, 1, 10)
        )
    ) == [on_the_day]
    assert (
        selectors.latest_result_at(patient=patient, test_code="PSA", since=dt.date(2025, 1, 11))
        is None
    )


def test_a_pathway_is_found_by_code_only_while_offered():
    assert selectors.pathway_get(code="colorectal-cea") is not None
    selectors.pathway_list().filter(code="colorectal-cea").update(active=False)
    assert selectors.pathway_get(code="colorectal-cea") is None
