"""Typed work-item keys render the stored keys of earlier releases (no stored row changes),
and a cause scope covers the items of one cause only."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from careplans.work_item_keys import (
    AwaitingKey,
    OverdueKey,
    RadiologyReviewKey,
    ResourceReviewKey,
)
from pkb_bridge.fhir.alerts import UnconfiguredKey
from pkb_bridge.work_items import RejectedMessageKey, StalledMessageKey
from worklists.keys import CauseScope, HeldInboundKey


@pytest.mark.parametrize(
    ("key", "stored"),
    [
        (HeldInboundKey(message_pk=12, attempt=2), "inbound:12:2"),
        (RejectedMessageKey(message_pk=7, attempt=3), "outbound:7:3"),
        (StalledMessageKey(message_pk=7, failures=5), "outbound:7:stalled:5"),
        (OverdueKey(plan_test_pk=4, due=dt.date(2026, 11, 10)), "overdue:4:2026-11-10"),
        (ResourceReviewKey(resource_pk=9, review_date=None), "resource_review:9:"),
        (
            RadiologyReviewKey(result_pk=3, version=2, digest="ab12", team_pk=5),
            "radiology:3:v2:ab12:team:5",
        ),
        (
            UnconfiguredKey(
                questionnaire_pk=1, updated_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
            ),
            "fhir:qconfig:1:2026-01-02T03:04:00+00:00",
        ),
    ],
)
def test_a_key_renders_the_stored_form_of_earlier_releases(key, stored) -> None:
    assert key.render() == stored


def test_a_scope_is_the_cause_and_its_leading_fields() -> None:
    assert RejectedMessageKey.scope(7) == CauseScope("outbound:7:")
    # A message's stalls are within its scope (a delivery closes both), another's are not.
    assert StalledMessageKey(message_pk=7, failures=5).render().startswith("outbound:7:")
    assert not RejectedMessageKey(message_pk=70, attempt=1).render().startswith("outbound:7:")
    assert HeldInboundKey.scope() == CauseScope("inbound:")


def test_only_the_owner_reads_its_key_back() -> None:
    stored = AwaitingKey(rule_pk=42, finding="psa:2026-11-10T09:00:00").render()
    assert AwaitingKey.rule_of(stored) == 42
    with pytest.raises(ValueError, match="Not an awaiting key"):
        AwaitingKey.rule_of(f"breach:42:{uuid.uuid4().hex}")


def test_a_scope_never_matches_every_item() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        CauseScope("")
    with pytest.raises(ValueError, match="ending in ':'"):
        CauseScope("outbound:7")
