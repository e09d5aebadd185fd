"""Which patient a message is about, and whether we can be sure.

Filing a result against the wrong person is the worst thing the feed can do, so matching
errs towards holding a message for a person to look at:

1. A valid NHS number that is ours matches, if the message's date of birth and family name
   agree with the record. If they do not, the message is held for review as a possible wrong
   patient, unless the MRN in the same message points at the same patient (two independent
   identifiers agreeing: the name or date of birth has changed, which the PAS then corrects).
2. Otherwise the MRN matches, under the same check of date of birth and family name; an MRN
   whose patient has a different NHS number from the message is a conflict, held for review.
3. An NHS number that fails the Modulus 11 check matches nothing: held, with the reason.
4. Nothing matching: the message is held as unmatched.
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from rms import nhs_number
from rms.models import Patient


class MatchStatus(enum.StrEnum):
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    REVIEW = "review"


@dataclass(frozen=True)
class Identity:
    """What a message says about its patient."""

    nhs_number: str = ""
    mrn: str = ""
    family_name: str = ""
    date_of_birth: dt.date | None = None


@dataclass(frozen=True)
class Match:
    status: MatchStatus
    patient: Patient | None = None
    reason: str = ""


def _fold(name: str) -> str:
    # After NFKD an accent is a combining mark, which is not a letter, so keeping letters
    # drops accents. Keeping ASCII only would not do: it turns every name in another script
    # (Greek, Arabic, Chinese...) into "", and any two such names would be "the same".
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())


def same_name(a: str, b: str) -> bool:
    """Family names compared as a person would: case, accents, spaces, hyphens and
    apostrophes ignored (O'Brien = OBRIEN, Zoë = ZOE, Strauß = STRAUSS)."""
    return _fold(a) == _fold(b)


def _disagreements(patient: Patient, identity: Identity) -> list[str]:
    problems = []
    if identity.date_of_birth and identity.date_of_birth != patient.date_of_birth:
        problems.append("date of birth")
    if identity.family_name and not same_name(identity.family_name, patient.family_name):
        problems.append("family name")
    return problems


def _possible_wrong_patient(identifier: str, problems: list[str]) -> str:
    verb = "differs" if len(problems) == 1 else "differ"
    return (
        f"Possible wrong patient: {identifier} matches a patient whose "
        f"{' and '.join(problems)} {verb} from the message."
    )


def candidates_filter(identities: Iterable[Identity]) -> Q:
    """One query's filter for the patients ``match_patient`` would look at for any of
    ``identities`` (to match many messages' patients at once: ``rms.inbound.history``)."""
    identities = list(identities)
    numbers = {nhs_number.normalise(i.nhs_number) for i in identities if i.nhs_number}
    mrns = {i.mrn for i in identities if i.mrn}
    return Q(nhs_number__in=numbers - {""}) | Q(mrn__in=mrns)


def match_patient(identity: Identity, *, candidates: Iterable[Patient] | None = None) -> Match:
    """Find the patient a message is about, by the rules in the module docstring.
    ``candidates``: patients already read with ``candidates_filter`` (among them those with the
    identity's NHS number or MRN), instead of a query of its own."""
    number = nhs_number.normalise(identity.nhs_number)
    if number and not nhs_number.is_valid(number):
        return Match(
            MatchStatus.UNMATCHED,
            reason=f"The NHS number is not valid ({nhs_number.invalid_reason(number)}).",
        )
    if candidates is not None:
        found = [
            p
            for p in candidates
            if (number and p.nhs_number == number) or (identity.mrn and p.mrn == identity.mrn)
        ][:2]
    elif number or identity.mrn:
        # One query for both identifiers (this runs for every inbound message).
        query = Q(pk__in=[])
        if number:
            query |= Q(nhs_number=number)
        if identity.mrn:
            query |= Q(mrn=identity.mrn)
        found = list(Patient.objects.filter(query)[:2])
    else:
        found = []
    by_number = next((p for p in found if number and p.nhs_number == number), None)
    by_mrn = next((p for p in found if identity.mrn and p.mrn == identity.mrn), None)

    if by_number is not None:
        if by_mrn is not None and by_mrn.pk != by_number.pk:
            return Match(
                MatchStatus.REVIEW,
                reason="The NHS number and the MRN belong to two different patients.",
            )
        problems = _disagreements(by_number, identity)
        if problems and by_mrn is None:
            return Match(
                MatchStatus.REVIEW,
                patient=by_number,
                reason=_possible_wrong_patient("the NHS number", problems),
            )
        return Match(MatchStatus.MATCHED, patient=by_number)

    if by_mrn is not None:
        if number and by_mrn.nhs_number and by_mrn.nhs_number != number:
            return Match(
                MatchStatus.REVIEW,
                patient=by_mrn,
                reason="The MRN matches a patient with a different NHS number.",
            )
        problems = _disagreements(by_mrn, identity)
        if problems:
            return Match(
                MatchStatus.REVIEW,
                patient=by_mrn,
                reason=_possible_wrong_patient("the MRN", problems),
            )
        return Match(MatchStatus.MATCHED, patient=by_mrn)

    return Match(MatchStatus.UNMATCHED, reason="No patient with this NHS number or MRN.")
