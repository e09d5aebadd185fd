"""The sandbox's FHIR side: PKB's FHIR API as far as the RMS uses it. Local use only.

- ``POST /oauth/token``: OAuth2 client credentials (client id and secret by HTTP Basic or in
  the form); issues bearer tokens that expire after ``token_ttl_s``.
- ``POST /fhir/Questionnaire/<id>/$send-questionnaire-request``: records the request (a FHIR
  ``Parameters`` body naming the patient); 404 for an id the sandbox was told does not exist.
- ``GET /fhir/QuestionnaireResponse`` and ``GET /fhir/Observation``: searchsets of what a test
  queued, filtered by ``_lastUpdated=gt…`` and paged by ``_count``.

Every FHIR call needs a valid bearer token (401 otherwise). Tests queue the resources PKB
will return through the control endpoints (``/_sandbox/fhir/...``) or ``queue`` directly.
What PKB really answers is not public: the shapes here are the RMS's assumptions
(docs/pkb.md, "FHIR API"), kept in one place so they are easy to change.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

TOKEN_PATH = "/oauth/token"  # noqa: S105  (a path)
FHIR_PREFIX = "/fhir/"
SEND_OPERATION = "$send-questionnaire-request"
SEARCHABLE = ("QuestionnaireResponse", "Observation")
DEFAULT_PAGE = 100

Reply = tuple[int, dict[str, Any], list[tuple[str, str]]]


def outcome(code: str, text: str) -> dict[str, Any]:
    """A FHIR OperationOutcome with one error issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def _parse_instant(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FhirSandbox:
    """The FHIR state: clients, tokens, requests received and resources queued for search."""

    def __init__(
        self,
        *,
        client_id: str = "sandbox",
        client_secret: str = "sandbox",  # noqa: S107  (a local stand-in's default)
        token_ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_s = token_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._requests: list[dict[str, Any]] = []
        self._resources: dict[str, list[dict[str, Any]]] = {name: [] for name in SEARCHABLE}
        self._questionnaires: set[str] | None = None  # None: any id exists
        self.tokens_issued = 0

    # -- test controls -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._requests.clear()
            for queued in self._resources.values():
                queued.clear()
            self._questionnaires = None
            self.tokens_issued = 0

    def set_questionnaires(self, ids: list[str] | None) -> None:
        """The questionnaire ids that exist (None: accept any id)."""
        with self._lock:
            self._questionnaires = None if ids is None else {str(i) for i in ids}

    def queue(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Add a QuestionnaireResponse or Observation for searches to return. An id and
        ``meta.lastUpdated`` (now) are filled in when missing. Returns the stored resource."""
        kind = resource.get("resourceType")
        if kind not in SEARCHABLE:
            raise ValueError(f"resourceType must be one of {', '.join(SEARCHABLE)}")
        stored = copy.deepcopy(resource)
        stored.setdefault("id", str(uuid.uuid4()))
        meta = stored.setdefault("meta", {})
        if "lastUpdated" not in meta:
            meta["lastUpdated"] = datetime.fromtimestamp(self._clock(), tz=UTC).isoformat(
                timespec="milliseconds"
            )
        with self._lock:
            self._resources[kind].append(stored)
        return stored

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._requests)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": copy.deepcopy(self._requests),
                "queued": {kind: len(items) for kind, items in self._resources.items()},
                "tokens_issued": self.tokens_issued,
            }

    def requests_for(self, nhs_number: str) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r.get("nhs_number") == nhs_number]

    # -- the API -------------------------------------------------------------------------------

    def token(self, body: bytes, authorization: str) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (binascii.Error, ValueError):
                decoded = ":"
            user, _, password = decoded.partition(":")
            client_id, client_secret = unquote(user), unquote(password)
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        if not (id_ok and secret_ok):
            return 401, {"error": "invalid_client"}, [("WWW-Authenticate", 'Basic realm="PKB"')]
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, []
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = self._clock() + self.token_ttl_s
            self.tokens_issued += 1
        payload = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl_s),
        }
        if form.get("scope"):
            payload["scope"] = form["scope"]
        return 200, payload, []

    def authorised(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
        return expiry is not None and expiry > self._clock()

    def handle(self, method: str, path: str, query: str, body: bytes, authorization: str) -> Reply:
        """One FHIR request (``path`` below ``/fhir/``)."""
        if not self.authorised(authorization):
            return (
                401,
                outcome("login", "Missing, invalid or expired bearer token"),
                [("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
        parts = [unquote(p) for p in path.removeprefix(FHIR_PREFIX).strip("/").split("/")]
        if (
            method == "POST"
            and len(parts) == 3
            and parts[0] == "Questionnaire"
            and parts[2] == SEND_OPERATION
        ):
            return self._send_request(parts[1], body)
        if method == "GET" and len(parts) == 1 and parts[0] in SEARCHABLE:
            return self._search(parts[0], parse_qs(query))
        return 404, outcome("not-supported", f"{method} {path} is not supported"), []

    def _send_request(self, questionnaire_id: str, body: bytes) -> Reply:
        with self._lock:
            known = self._questionnaires
        if known is not None and questionnaire_id not in known:
            return 404, outcome("not-found", f"Questionnaire/{questionnaire_id} not found"), []
        try:
            parameters = json.loads(body or b"{}")
        except ValueError:
            return 400, outcome("structure", "The body is not JSON"), []
        nhs_number = _patient_identifier(parameters)
        if nhs_number is None:
            return (
                400,
                outcome("required", "A Parameters resource naming the patient is required"),
                [],
            )
        request_id = str(uuid.uuid4())
        record = {
            "id": request_id,
            "questionnaire_id": questionnaire_id,
            "nhs_number": nhs_number,
            "parameters": parameters,
            "received_at": datetime.fromtimestamp(self._clock(), tz=UTC).isoformat(),
        }
        with self._lock:
            self._requests.append(record)
        return (
            200,
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "requestId", "valueString": request_id}],
            },
            [],
        )

    def _search(self, kind: str, query: dict[str, list[str]]) -> Reply:
        after: datetime | None = None
        for value in query.get("_lastUpdated", []):
            if not value.startswith("gt"):
                return 400, outcome("not-supported", "Only _lastUpdated=gt… is supported"), []
            after = _parse_instant(value[2:])
            if after is None:
                return 400, outcome("value", f"Bad _lastUpdated {value!r}"), []
        try:
            count = int(query.get("_count", [DEFAULT_PAGE])[0])
            offset = int(query.get("_offset", ["0"])[0])
        except ValueError:
            return 400, outcome("value", "_count and _offset must be whole numbers"), []
        with self._lock:
            items = copy.deepcopy(self._resources[kind])
        if after is not None:
            items = [
                item
                for item in items
                if (moment := _parse_instant(item["meta"]["lastUpdated"])) is not None
                and moment > after
            ]
        items.sort(key=lambda item: item["meta"]["lastUpdated"])
        page = items[offset : offset + max(count, 1)]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(items),
            "link": [],
            "entry": [{"fullUrl": f"{kind}/{item['id']}", "resource": item} for item in page],
        }
        if offset + len(page) < len(items):
            params = [f"_count={count}", f"_offset={offset + len(page)}"]
            if after is not None:
                params.append(f"_lastUpdated=gt{after.isoformat()}".replace("+", "%2B"))
            bundle["link"].append(
                {"relation": "next", "url": f"{FHIR_PREFIX}{kind}?{'&'.join(params)}"}
            )
        return 200, bundle, []


def _patient_identifier(parameters: Any) -> str | None:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        return None
    for parameter in parameters.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == "patient":
            identifier = parameter.get("valueIdentifier") or {}
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if isinstance(value, str) and value:
                return value
    return None
