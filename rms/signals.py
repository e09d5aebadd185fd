"""What the core record tells the other apps.

``rms`` imports none of ``pkb_bridge``, ``careplans`` or ``worklists``; when something happens
that they care about, a service here sends one of these signals. Results, appointments,
documents, demographics and diagnoses are told through domain events instead
(``rms.events``), consumed after commit. Receivers of a signal run inside the sender's
transaction (Django signals are synchronous), so a work item is committed together with the
change that caused it, or not at all. Each receiver is a one-line call of a service of its
own app.

Every signal is sent with ``sender`` = the model class and the keyword ``actor`` (the user or
system actor who made the change).
"""

from __future__ import annotations

from django.dispatch import Signal

# message=InboundMessage (held: patient not found, or a possible wrong patient)
inbound_held = Signal()
# message=InboundMessage (a message held or refused earlier was processed again and filed)
inbound_filed = Signal()
# patient_ids=list[int] (patients whose history an import filed, without the result signals):
# each receiver answers with the set of those it acts on, so the import counts and skips the rest
history_patients = Signal()
# patient=Patient, test_codes=set[str], result_ids=list[int], actor=User (a patient's imported
# history, sent once at the end of the import in a transaction of its own): each receiver
# answers with a dict of counts for the import's summary. Monitoring receives it.
history_imported = Signal()
# The same arguments, sent after history_imported (so monitoring has raised and held what it
# must first): the PKB bridge packs the history for a patient already shared.
history_publish = Signal()
