"""Questionnaire definitions, answers, scores and alert rules: pure functions, no ORM.

The questionnaire is FHIR R4 ``Questionnaire`` JSON, checked with ``fhir.resources``. An answer
counts as a number in one of three ways (the first that applies):

1. the chosen ``answerOption`` carries the FHIR ``ordinalValue`` extension
   (``http://hl7.org/fhir/StructureDefinition/ordinalValue``, ``valueDecimal``), on the option
   itself or on its ``valueCoding`` — how every seeded instrument is written;
2. the option is a ``valueInteger`` (an answer chosen from 0 to 10, say);
3. the item is of type ``integer`` or ``decimal`` and the answer is the number itself.

The scoring definition (``Questionnaire.scoring``) is our own JSON::

    {"scores": [{"code": "total", "label": "PHQ-9 total", "items": ["1", ..., "9"],
                 "method": "sum" | "mean", "min_answered": 9, "max": 27}],
     "alerts": [{"score": "total", "op": ">=", "value": 15, "priority": "high",
                 "label": "Moderately severe or severe depression"},
                {"item": "9", "op": ">=", "value": 1, "priority": "urgent", "label": "..."},
                {"items": ["2", "3"], "op": ">=", "value": 7, "priority": "high", "label": "..."},
                {"item": "5", "op": "equals", "code": "yes", "priority": "normal", "label": "..."}]}

A score is not computed when fewer than ``min_answered`` of its items are answered (default:
all of them), so a half-completed form never looks like a low score. ``op`` is one of ``>=``,
``>``, ``<=``, ``<`` (numbers) or ``equals`` (a code). An ``items`` rule fires for each listed
item that meets it ("any concern rated 7 or more").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import pydantic
from django.core.exceptions import ValidationError
from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse as FhirQuestionnaireResponse,
)

ORDINAL_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
PRIORITIES = {"urgent": 1, "high": 2, "normal": 3, "low": 4}
NUMERIC_OPS = {">=", ">", "<=", "<"}
OPS = NUMERIC_OPS | {"equals"}
METHODS = {"sum", "mean"}
STATUSES = ("draft", "active", "retired", "unknown")


def _pydantic_reason(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "(resource)"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _as_object(data: Any, what: str) -> dict[str, Any]:
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ValidationError(f"The {what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"The {what} must be a JSON object.")
    return data


# ---------------------------------------------------------------------------
# The questionnaire
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    code: str
    display: str
    value: Decimal | None


@dataclass(frozen=True)
class Item:
    link_id: str
    text: str
    type: str
    required: bool
    options: tuple[Option, ...] = ()

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


def _ordinal(extensions: list[dict[str, Any]] | None) -> Decimal | None:
    for ext in extensions or []:
        if ext.get("url") == ORDINAL_VALUE_URL and ext.get("valueDecimal") is not None:
            return Decimal(str(ext["valueDecimal"]))
    return None


def _option(raw: dict[str, Any]) -> Option:
    if "valueCoding" in raw:
        coding = raw["valueCoding"] or {}
        value = _ordinal(raw.get("extension"))
        if value is None:
            value = _ordinal(coding.get("extension"))
        return Option(
            code=str(coding.get("code", "")),
            display=str(coding.get("display") or coding.get("code", "")),
            value=value,
        )
    if "valueInteger" in raw:
        number = int(raw["valueInteger"])
        return Option(code=str(number), display=str(number), value=Decimal(number))
    for key in ("valueString", "valueDate", "valueTime"):
        if key in raw:
            return Option(code=str(raw[key]), display=str(raw[key]), value=None)
    return Option(code="", display="", value=None)


def items_of(fhir: dict[str, Any]) -> list[Item]:
    """The answerable items of a questionnaire, in order (groups flattened; display items
    left out). Assumes the JSON has been validated."""
    found: list[Item] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for raw in items:
            kind = raw.get("type", "")
            if kind not in ("group", "display"):
                options = tuple(_option(o) for o in raw.get("answerOption") or [])
                found.append(
                    Item(
                        link_id=str(raw.get("linkId", "")),
                        text=str(raw.get("text", "")),
                        type=kind,
                        required=bool(raw.get("required", False)),
                        options=options,
                    )
                )
            walk(raw.get("item") or [])

    walk(fhir.get("item") or [])
    return found


def validate_questionnaire_json(data: Any) -> dict[str, Any]:
    """Check a FHIR R4 Questionnaire (a dict or JSON text); return it as a dict. Raises
    ValidationError naming the field path and the problem."""
    obj = _as_object(data, "questionnaire")
    if obj.get("resourceType") != "Questionnaire":
        raise ValidationError(
            f"resourceType: expected 'Questionnaire', got {obj.get('resourceType')!r}."
        )
    try:
        FhirQuestionnaire.model_validate(obj)
    except pydantic.ValidationError as exc:
        raise ValidationError(f"Not a valid FHIR Questionnaire: {_pydantic_reason(exc)}") from None
    # fhir.resources checks a code's form, not its value set: the required ones are checked here.
    if obj.get("status") not in STATUSES:
        raise ValidationError(f"status: must be one of {', '.join(STATUSES)}.")
    items = items_of(obj)
    if not items:
        raise ValidationError("item: the questionnaire has no answerable items.")
    seen: set[str] = set()
    for item in items:
        if item.link_id in seen:
            raise ValidationError(f"item.linkId: {item.link_id!r} is used twice.")
        seen.add(item.link_id)
        if item.type == "choice" and not item.options:
            raise ValidationError(f"item {item.link_id}: a choice item needs answerOption.")
        codes = [o.code for o in item.options]
        if len(codes) != len(set(codes)):
            raise ValidationError(f"item {item.link_id}: two answer options share a code.")
    return obj


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationError(f"Scoring: {message}")


def validate_scoring(scoring: Any, fhir: dict[str, Any]) -> dict[str, Any]:
    """Check a scoring definition against its (valid) questionnaire; return it as a dict.
    Raises ValidationError saying which score or rule is wrong and why."""
    obj = _as_object(scoring, "scoring definition")
    _require(set(obj) <= {"scores", "alerts"}, "only 'scores' and 'alerts' are allowed.")
    items = {item.link_id: item for item in items_of(fhir)}
    scores = obj.get("scores", [])
    alerts = obj.get("alerts", [])
    _require(isinstance(scores, list), "'scores' must be a list.")
    _require(isinstance(alerts, list), "'alerts' must be a list.")
    codes: set[str] = set()
    for n, score in enumerate(scores):
        where = f"scores[{n}]"
        _require(isinstance(score, dict), f"{where} must be an object.")
        code = score.get("code")
        _require(isinstance(code, str) and bool(code), f"{where}.code is required.")
        _require(code not in codes, f"{where}.code {code!r} is used twice.")
        codes.add(code)
        _require(
            isinstance(score.get("label"), str) and bool(score["label"]),
            f"{where}.label is required.",
        )
        links = score.get("items")
        _require(isinstance(links, list) and bool(links), f"{where}.items must list linkIds.")
        for link in links:
            _require(link in items, f"{where}.items: no item with linkId {link!r}.")
            item = items[link]
            numeric = item.type in ("integer", "decimal") or (
                bool(item.options) and all(o.value is not None for o in item.options)
            )
            _require(numeric, f"{where}.items: item {link!r} has no numeric answer value.")
        _require(
            score.get("method", "sum") in METHODS,
            f"{where}.method must be one of {sorted(METHODS)}.",
        )
        minimum = score.get("min_answered", len(links))
        _require(
            isinstance(minimum, int) and 1 <= minimum <= len(links),
            f"{where}.min_answered must be between 1 and {len(links)}.",
        )
    for n, rule in enumerate(alerts):
        where = f"alerts[{n}]"
        _require(isinstance(rule, dict), f"{where} must be an object.")
        targets = [k for k in ("score", "item", "items") if k in rule]
        _require(len(targets) == 1, f"{where} needs exactly one of score, item or items.")
        op = rule.get("op")
        _require(op in OPS, f"{where}.op must be one of {sorted(OPS)}.")
        _require(rule.get("priority") in PRIORITIES, f"{where}.priority must be one of "
                 f"{list(PRIORITIES)}.")  # fmt: skip
        _require(
            isinstance(rule.get("label"), str) and bool(rule["label"]),
            f"{where}.label is required.",
        )
        if op == "equals":
            _require(isinstance(rule.get("code"), str), f"{where}: 'equals' needs a code.")
            _require("score" not in rule, f"{where}: a score is compared with a number.")
        else:
            _require(
                isinstance(rule.get("value"), (int, float)) and not isinstance(rule["value"], bool),
                f"{where}.value must be a number.",
            )
        if "score" in rule:
            _require(rule["score"] in codes, f"{where}.score: no score {rule['score']!r}.")
        else:
            links = [rule["item"]] if "item" in rule else rule["items"]
            _require(isinstance(links, list) and bool(links), f"{where}.items must list linkIds.")
            for link in links:
                _require(link in items, f"{where}: no item with linkId {link!r}.")
                if op == "equals":
                    _require(
                        items[link].option(rule["code"]) is not None,
                        f"{where}: item {link!r} has no answer code {rule['code']!r}.",
                    )
    return obj


# ---------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    link_id: str
    text: str
    code: str
    display: str
    value: Decimal | None


def validate_response_json(data: Any, fhir: dict[str, Any]) -> dict[str, Answer]:
    """Check a FHIR R4 QuestionnaireResponse against its questionnaire; return the answers
    by linkId. Raises ValidationError for an invalid resource, an unknown item, an answer
    that is not one of the item's options, or a required item left out."""
    obj = _as_object(data, "questionnaire response")
    if obj.get("resourceType") != "QuestionnaireResponse":
        raise ValidationError(
            f"resourceType: expected 'QuestionnaireResponse', got {obj.get('resourceType')!r}."
        )
    try:
        FhirQuestionnaireResponse.model_validate(obj)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"Not a valid FHIR QuestionnaireResponse: {_pydantic_reason(exc)}"
        ) from None
    if obj.get("status") not in ("completed", "amended"):
        raise ValidationError(
            f"status: only a completed response is stored (got {obj.get('status')!r})."
        )
    items = {item.link_id: item for item in items_of(fhir)}
    answers: dict[str, Answer] = {}

    def walk(raw_items: list[dict[str, Any]]) -> None:
        for raw in raw_items:
            link = str(raw.get("linkId", ""))
            given = raw.get("answer") or []
            if given:
                item = items.get(link)
                if item is None:
                    raise ValidationError(f"item {link!r}: not an item of this questionnaire.")
                if link in answers or len(given) > 1:
                    raise ValidationError(f"item {link!r}: answered more than once.")
                answers[link] = _answer(item, given[0])
            walk(raw.get("item") or [])
            for answer in given:
                walk(answer.get("item") or [])

    walk(obj.get("item") or [])
    missing = [link for link, item in items.items() if item.required and link not in answers]
    if missing:
        raise ValidationError(f"Required items not answered: {', '.join(missing)}.")
    return answers


def _answer(item: Item, raw: dict[str, Any]) -> Answer:
    if item.options:
        if "valueCoding" in raw:
            code = str((raw["valueCoding"] or {}).get("code", ""))
        elif "valueInteger" in raw:
            code = str(raw["valueInteger"])
        elif "valueString" in raw:
            code = str(raw["valueString"])
        else:
            raise ValidationError(f"item {item.link_id!r}: the answer must be one of its options.")
        option = item.option(code)
        if option is None:
            raise ValidationError(
                f"item {item.link_id!r}: {code!r} is not one of its answer options."
            )
        return Answer(item.link_id, item.text, option.code, option.display, option.value)
    if item.type in ("integer", "decimal"):
        key = "valueInteger" if item.type == "integer" else "valueDecimal"
        if key not in raw:
            raise ValidationError(f"item {item.link_id!r}: expected a {key}.")
        try:
            number = Decimal(str(raw[key]))
        except InvalidOperation:
            raise ValidationError(f"item {item.link_id!r}: not a number.") from None
        return Answer(item.link_id, item.text, str(number), str(number), number)
    values = [v for k, v in raw.items() if k.startswith("value")]
    text = str(values[0]) if values else ""
    return Answer(item.link_id, item.text, text, text, None)


# ---------------------------------------------------------------------------
# Scores and alerts
# ---------------------------------------------------------------------------
def _number(value: Decimal) -> int | float:
    if value == value.to_integral_value():
        return int(value)
    # Half up, as a person rounding by hand would: 77.25 is 77.3, not the banker's 77.2.
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def compute_scores(scoring: dict[str, Any], answers: dict[str, Answer]) -> dict[str, Any]:
    """Each score of the definition: ``{code: {label, value (None when too few items were
    answered), answered, of, max}}``. A mean is rounded to one decimal place."""
    out: dict[str, Any] = {}
    for score in scoring.get("scores", []):
        links = score["items"]
        values = [answers[link].value for link in links if link in answers]
        numbers = [v for v in values if v is not None]
        minimum = score.get("min_answered", len(links))
        value: int | float | None = None
        if len(numbers) >= minimum:
            total = sum(numbers, Decimal(0))
            if score.get("method", "sum") == "mean":
                total = total / len(numbers)
            value = _number(total)
        out[score["code"]] = {
            "label": score["label"],
            "value": value,
            "answered": len(numbers),
            "of": len(links),
            "max": score.get("max"),
        }
    return out


def _compare(left: Decimal, op: str, right: Decimal) -> bool:
    return {
        ">=": left >= right,
        ">": left > right,
        "<=": left <= right,
        "<": left < right,
    }[op]


def _shown(op: str) -> str:
    return {">=": "≥", "<=": "≤"}.get(op, op)


@dataclass
class Fired:
    label: str
    priority: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:-") + "…"


# The answers that say a patient has thought of harming themself: PHQ-9 item 9 ("Thoughts
# that you would be better off dead or of hurting yourself"), any answer above "Not at all".
# Kroenke K, Spitzer RL, Williams JB. J Gen Intern Med 2001;16:606-613 (item 9 needs a
# clinician's assessment of suicide risk whatever the total); NICE NG225 (self-harm: assess
# without delay). Their work items sort above everything else on the worklist.
SELF_HARM_ITEMS = frozenset({("phq-9", "9")})


def is_self_harm_answer(questionnaire_code: str, fired: Fired) -> bool:
    """True when ``fired`` is an alert on a self-harm item's answer."""
    item = fired.details.get("item")
    return item is not None and (questionnaire_code, str(item)) in SELF_HARM_ITEMS


def evaluate_alerts(
    scoring: dict[str, Any],
    scores: dict[str, Any],
    answers: dict[str, Answer],
    *,
    title: str,
) -> list[Fired]:
    """The alert rules that fire on these scores and answers, each with a reason that names
    the score or the answer, e.g. "PHQ-9 total 17 (≥ 15)"."""
    fired: list[Fired] = []
    for rule in scoring.get("alerts", []):
        op = rule["op"]
        priority = PRIORITIES[rule["priority"]]
        if "score" in rule:
            score = scores.get(rule["score"]) or {}
            value = score.get("value")
            if value is None:
                continue
            if _compare(Decimal(str(value)), op, Decimal(str(rule["value"]))):
                fired.append(
                    Fired(
                        label=rule["label"],
                        priority=priority,
                        reason=f"{score['label']} {value} ({_shown(op)} {rule['value']})",
                        details={"score": rule["score"], "value": value},
                    )
                )
            continue
        links = [rule["item"]] if "item" in rule else rule["items"]
        for link in links:
            answer = answers.get(link)
            if answer is None:
                continue
            if op == "equals":
                hit = answer.code == rule["code"]
                threshold = f"= {rule['code']}"
            else:
                hit = answer.value is not None and _compare(
                    answer.value, op, Decimal(str(rule["value"]))
                )
                threshold = f"{_shown(op)} {rule['value']}"
            if hit:
                fired.append(
                    Fired(
                        label=rule["label"],
                        priority=priority,
                        reason=(
                            f"item {link} '{_short(answer.text)}' answered "
                            f"'{answer.display}' ({threshold})"
                        ),
                        details={"item": link, "code": answer.code},
                    )
                )
    return fired
