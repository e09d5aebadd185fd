"""What the "Share with PKB" message says, from what the opt-in queued and PKB accepted."""

from __future__ import annotations

from pkb_bridge.presenters import share_words
from pkb_bridge.selectors import ShareCounts


def counts(items: int, delivered: int, pending: int, held: int = 0) -> ShareCounts:
    return ShareCounts(
        registrations=1, items=items, delivered=delivered, pending=pending, held=held
    )


def test_a_share_still_waiting_says_what_was_queued_and_that_it_is_sent_in_the_background():
    assert share_words(counts(12, 0, 13)) == (
        "Shared with Patients Know Best: queued 1 registration and 12 messages of the record; "
        "they are sent to PKB in the background, registration first."
    )


def test_a_share_delivered_at_once_says_everything_was_delivered():
    assert share_words(counts(12, 13, 0)) == (
        "Shared with Patients Know Best: queued 1 registration and 12 messages of the record; "
        "all 13 delivered to PKB."
    )


def test_a_share_partly_delivered_says_how_many_are_left_and_what_is_held():
    assert share_words(counts(1, 1, 1, held=1)) == (
        "Shared with Patients Know Best: queued 1 registration and 1 message of the record; "
        "1 delivered to PKB, 1 still to send; 1 item held for review."
    )


def test_a_patient_with_no_record_yet_has_the_registration_alone():
    assert share_words(counts(0, 1, 0, held=3)) == (
        "Shared with Patients Know Best: queued 1 registration and 0 messages of the record; "
        "delivered to PKB; 3 items held for review."
    )
