"""What the care plan and consent pages show: versions, and the comparison of two versions
section by section (a word-level inline diff made with ``difflib``). The templates escape every
piece of text; nothing here marks anything safe."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.utils import timezone

from careplans.models import CarePlanSection, CarePlanVersion, ConsentRecord, ConsentStatus

# Words, runs of spaces (line breaks included) and single punctuation marks: joining the
# tokens gives the text back, so the inline diff shows every character of both versions.
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


@dataclass(frozen=True)
class Segment:
    """A run of text of a diff: ``op`` is "equal", "insert" or "delete"."""

    op: str
    text: str


def inline_diff(before: str, after: str) -> list[Segment]:
    """``before`` turned into ``after`` as runs of kept, deleted and inserted text."""
    old, new = tokens(before), tokens(after)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    segments: list[Segment] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            segments.append(Segment("equal", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            segments.append(Segment("delete", "".join(old[i1:i2])))
        if j2 > j1:
            segments.append(Segment("insert", "".join(new[j1:j2])))
    return segments


@dataclass(frozen=True)
class SectionDiff:
    position: int
    heading_before: str
    heading_after: str
    heading: list[Segment]
    body: list[Segment]

    @property
    def changed(self) -> bool:
        return any(segment.op != "equal" for segment in (*self.heading, *self.body))

    @property
    def title(self) -> str:
        return self.heading_after or self.heading_before


def compare(before: CarePlanVersion, after: CarePlanVersion) -> list[SectionDiff]:
    """The two versions' sections side by side, matched by position (a section missing from
    one version compares with nothing)."""
    old: dict[int, CarePlanSection] = {s.position: s for s in before.sections.all()}
    new: dict[int, CarePlanSection] = {s.position: s for s in after.sections.all()}
    diffs = []
    for position in sorted(old.keys() | new.keys()):
        a, b = old.get(position), new.get(position)
        heading_a, heading_b = (a.heading if a else ""), (b.heading if b else "")
        body_a, body_b = (a.body if a else ""), (b.body if b else "")
        diffs.append(
            SectionDiff(
                position=position,
                heading_before=heading_a,
                heading_after=heading_b,
                heading=inline_diff(heading_a, heading_b),
                body=inline_diff(body_a, body_b),
            )
        )
    return diffs


class VersionPresenter:
    def __init__(self, version: CarePlanVersion) -> None:
        self.version = version

    @property
    def number(self) -> int:
        return self.version.number

    @property
    def author(self) -> str:
        author = self.version.author
        return author.get_full_name() or author.username

    @property
    def saved_at(self) -> str:
        return f"{timezone.localtime(self.version.created_at):%d %b %Y %H:%M}"

    @property
    def note(self) -> str:
        return self.version.note


class ConsentPresenter:
    def __init__(self, record: ConsentRecord) -> None:
        self.record = record

    @property
    def public_id(self) -> str:
        return str(self.record.public_id)

    @property
    def topic(self) -> str:
        return self.record.topic

    @property
    def status(self) -> str:
        return self.record.get_status_display()

    @property
    def status_class(self) -> str:
        return f"consent-{self.record.status}"

    @property
    def method(self) -> str:
        return self.record.get_method_display()

    @property
    def given_at(self) -> str:
        return f"{timezone.localtime(self.record.given_at):%d %b %Y %H:%M}"

    @property
    def information(self) -> str:
        parts = [self.record.information_given]
        if self.record.resource is not None:
            parts.append(self.record.resource.title)
        return " · ".join(p for p in parts if p)

    @property
    def recorded_by(self) -> str:
        user = self.record.recorded_by
        return user.get_full_name() or user.username

    @property
    def note(self) -> str:
        return self.record.note

    @property
    def is_withdrawn(self) -> bool:
        return hasattr(self.record, "withdrawal") and self.record.withdrawal is not None

    @property
    def can_withdraw(self) -> bool:
        return self.record.status == ConsentStatus.GIVEN and not self.is_withdrawn
