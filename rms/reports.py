"""The conclusion of a radiology (or endoscopy) report, for a work item, the timeline and the
virtual review: the part a clinician reads first.

Reports arrive as free text (CRIS sends a report's lines as OBX segments, joined in order).
Radiologists head the summing-up CONCLUSION, IMPRESSION, OPINION or SUMMARY (in any case, with
or without a colon, on a line of its own or before the text on the same line). The conclusion
is the text after the first such heading up to the next heading or the end; a report with no
such heading is summed up by its last paragraph (sign-off lines such as "Reported by ..."
left out). Pure: no database, no settings.
"""

from __future__ import annotations

import re

# About five lines of a work list: enough to act on, short enough to read at a glance.
CONCLUSION_MAX = 500

_CONCLUSION_WORDS = ("conclusion", "conclusions", "impression", "impressions", "opinion", "summary")

# A heading: a few words (letters, spaces, "/", "&", "-", brackets), then a colon (or a
# spaced dash) and the text on the same line ("Findings: ..."), or alone on a line.
_HEADING = re.compile(
    r"^\s*(?P<head>[A-Za-z][A-Za-z /&()\-]{0,40}?)\s*(?P<sep>:|\s-\s|$)\s*(?P<rest>.*)$"
)
# Lines that sign a report off rather than sum it up.
_SIGN_OFF = re.compile(
    r"^\s*(reported|dictated|verified|authori[sz]ed|typed|electronically signed|signed)\b"
    r"|^\s*(dr|prof)\.?\s+[A-Z]",
    re.IGNORECASE,
)


def conclusion(text: str, *, limit: int = CONCLUSION_MAX) -> str:
    """The report's conclusion (see the module's docstring), whitespace tidied, at most
    ``limit`` characters (cut at a word, with "..."); "" for an empty report."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _after_heading(lines)
    if found is None:
        found = _last_paragraph(lines)
    return _cut(_tidy(found), limit)


def _heading(line: str) -> tuple[str, str] | None:
    """(heading, text after it on the line) when ``line`` starts with a heading, else None.
    A heading is at most four words, followed by a colon ("Findings: ..."), or alone on its
    line when it is a conclusion word ("Impression") or in capitals ("FINDINGS"): "No
    ascites" on a line of its own is text."""
    match = _HEADING.match(line)
    if match is None:
        return None
    head = match.group("head").strip()
    words = head.split()
    if not words or len(words) > 4:
        return None
    if match.group("sep").strip():
        return head, match.group("rest")
    if head.casefold() in _CONCLUSION_WORDS or (head.isupper() and len(head) > 2):
        return head, ""
    return None


def _is_conclusion_heading(head: str) -> bool:
    return head.split()[0].casefold() in _CONCLUSION_WORDS


def _after_heading(lines: list[str]) -> list[str] | None:
    """The text after the first conclusion heading that has any, to the next heading (or a
    sign-off line, or the end); None when there is none."""
    for index, line in enumerate(lines):
        heading = _heading(line)
        if heading is None or not _is_conclusion_heading(heading[0]):
            continue
        body = [heading[1]]
        for following in lines[index + 1 :]:
            if _heading(following) is not None or _SIGN_OFF.match(following):
                break
            body.append(following)
        if any(part.strip() for part in body):
            return body
    return None


def _last_paragraph(lines: list[str]) -> list[str]:
    kept = [line for line in lines if not _SIGN_OFF.match(line)]
    paragraphs: list[list[str]] = [[]]
    for line in kept:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [paragraph for paragraph in paragraphs if paragraph]
    if not paragraphs:
        return []
    last = paragraphs[-1]
    heading = _heading(last[0])
    if heading is not None and len(last) > 1 and not heading[1].strip():
        # "Findings:" over its text: the text is the summing-up, not its heading.
        return last[1:]
    return last


def _tidy(lines: list[str]) -> str:
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "..."
