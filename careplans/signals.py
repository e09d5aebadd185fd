"""What the care plans ask of the apps above them (the PKB bridge answers), so that they
import none of them.

Sent with ``sender`` the model class; a receiver's return value is its answer.
"""

from __future__ import annotations

from django.dispatch import Signal

# Which patients a questionnaire can be sent to through a patient portal: each receiver
# returns a queryset of patient ids (a ``values("patient_id")`` query, usable as a subquery).
# The PKB bridge answers with the patients it shares (an active enrolment). No receiver: no
# patient can be sent one.
portal_patients = Signal()
