"""What happens in the PKB bridge that it, or an app above it, reacts to (the bridge raises
its own work items from these: ``pkb_bridge.receivers``).

Sent inside the transaction that records the event, with ``sender`` the model class.
"""

from __future__ import annotations

from django.dispatch import Signal

# message=OutboundMessage (PKB answered AR or AE, or the ACK named another message)
message_rejected = Signal()
# enrolment=Enrolment (PKB accepted the registration but no email is recorded)
onboarding_needed = Signal()
# enrolment=Enrolment (the invitation email failed every attempt)
invitation_failed = Signal()
# message=OutboundMessage (accepted by PKB after an earlier failure or a requeue)
message_delivered = Signal()
# message=OutboundMessage (failed PKB_STALL_AFTER_ATTEMPTS times in a row, or for
# PKB_STALL_AFTER_HOURS: still retried, but an administrator must look)
message_stalled = Signal()
# publication=Publication (a held item will be released automatically at its
# auto_release_at: the team reviews it first)
auto_release_due = Signal()
# publication=Publication (a held item whose automatic release was announced was released or
# kept held: the review is done)
auto_release_settled = Signal()
# enrolment=Enrolment (the patient's NHS number is no longer verified: their messages are
# held until it is)
nhs_number_unverified = Signal()
# enrolment=Enrolment (verified again: the held messages go)
nhs_number_verified = Signal()
# message=OutboundMessage, enrolment=Enrolment (PKB refused the patient's email: another
# PKB record has it; the registration or update is sent again without it)
registration_email_refused = Signal()
# (no arguments) the last stalled message was delivered or cancelled: nothing is stalled
stalls_cleared = Signal()
