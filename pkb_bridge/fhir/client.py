"""A client of PKB's FHIR API: OAuth2 client credentials (Authlib over httpx), the token kept
and fetched again before it expires or when PKB refuses it, TLS verified, every call bounded
by a timeout.

One error type, ``FhirError``, marked permanent or transient as the HL7 transport's errors are:
no answer, a timeout, a 5xx, 408 or 429 is transient (try again later, nothing lost); any other
4xx is PKB refusing what we sent (permanent, with PKB's OperationOutcome text). A refused token
request (wrong client id or secret) is permanent too: retrying will not fix credentials.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from django.conf import settings

# Authlib 1.9 announces that a later release will move from httpx to its fork httpx2; the
# pinned httpx works, so the announcement is not repeated on every start. Revisit when
# upgrading Authlib.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

logger = logging.getLogger("pkb_bridge")

FHIR_JSON = "application/fhir+json"
SEND_OPERATION = "$send-questionnaire-request"
_TRANSIENT_STATUS = frozenset({408, 425, 429})
# Pages of a search followed at most (a safety stop, far above any real poll).
MAX_PAGES = 100


class FhirError(Exception):
    """A FHIR call failed. ``permanent``: PKB refused what we sent (do not retry as is)."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


def outcome_text(payload: Any) -> str:
    """The words of a FHIR OperationOutcome (diagnostics, else details.text, else code)."""
    if not isinstance(payload, dict):
        return ""
    if payload.get("resourceType") != "OperationOutcome":
        error = payload.get("error_description") or payload.get("error")
        return str(error) if error else ""
    words = []
    for issue in payload.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        raw_details = issue.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        text = issue.get("diagnostics") or details.get("text") or issue.get("code")
        if text:
            words.append(str(text))
    return "; ".join(words)


def _error_for(response: httpx.Response) -> FhirError:
    try:
        said = outcome_text(response.json())
    except ValueError:
        said = ""
    said = said or response.text[:300].strip() or response.reason_phrase
    status = response.status_code
    permanent = 400 <= status < 500 and status not in _TRANSIENT_STATUS
    return FhirError(f"PKB answered HTTP {status}: {said}", permanent=permanent, status=status)


class FhirClient:
    """PKB's FHIR API at ``base_url`` (``…/fhir``), as one OAuth2 client. Thread-safe: calls
    are serialised (one connection, one token)."""

    def __init__(
        self,
        *,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str = "",
        token_auth_method: str = "client_secret_basic",  # noqa: S107  (a method name)
        timeout_s: float = 30.0,
        verify: bool = True,
        ca_bundle: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.token_url = token_url
        # TLS verification is on unless switched off explicitly; a CA bundle replaces the
        # system's roots (a Trust proxy that re-signs).
        verification: bool | str = (ca_bundle or True) if verify else False
        self._session = OAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            scope=scope or None,
            token_endpoint=token_url,
            token_endpoint_auth_method=token_auth_method,
            grant_type="client_credentials",
            timeout=httpx.Timeout(timeout_s),
            verify=verification,
            headers={"Accept": FHIR_JSON},
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- tokens -----------------------------------------------------------------------------

    def _fetch_token(self) -> None:
        try:
            self._session.fetch_token(self.token_url, grant_type="client_credentials")
        except OAuthError as exc:
            raise FhirError(
                f"PKB refused the token request: {exc.error} {exc.description or ''}".strip(),
                permanent=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise FhirError(f"PKB's token endpoint did not answer: {exc}", permanent=False) from exc
        except ValueError as exc:  # a 4xx/5xx whose body is not a token (HTML, text)
            raise FhirError(f"PKB's token endpoint answered badly: {exc}", permanent=False) from exc

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call with a live token; a 401 fetches a new token and tries once more (PKB may
        have revoked or expired it early)."""
        with self._lock:
            for attempt in (1, 2):
                if not self._session.token or attempt == 2:
                    self._fetch_token()
                try:
                    response = self._session.request(method, url, **kwargs)
                except OAuthError as exc:  # the automatic refresh was refused
                    raise FhirError(
                        f"PKB refused the token request: {exc}", permanent=True
                    ) from exc
                except httpx.HTTPError as exc:
                    raise FhirError(f"PKB did not answer: {exc}", permanent=False) from exc
                if response.status_code != 401:
                    break
            if response.status_code >= 400:
                raise _error_for(response)
            return response

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            payload = response.json()
        except ValueError as exc:
            raise FhirError("PKB's answer is not JSON", permanent=False) from exc
        if not isinstance(payload, dict):
            raise FhirError("PKB's answer is not a FHIR resource", permanent=False)
        return payload

    # -- operations --------------------------------------------------------------------------

    def send_questionnaire_request(
        self, *, questionnaire_id: str, parameters: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        """``POST Questionnaire/<id>/$send-questionnaire-request``: (PKB's answer, the
        Location header if any)."""
        url = urljoin(
            self.base_url, f"Questionnaire/{quote(questionnaire_id, safe='')}/{SEND_OPERATION}"
        )
        response = self._request("POST", url, json=parameters, headers={"Content-Type": FHIR_JSON})
        return self._json(response), response.headers.get("Location", "")

    def search(self, resource_type: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Every resource of a search, following the Bundle's ``next`` links."""
        url: str | None = urljoin(self.base_url, resource_type)
        query: dict[str, str] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            bundle = self._json(self._request("GET", url, params=query))
            if bundle.get("resourceType") != "Bundle":
                raise FhirError("PKB's search answer is not a Bundle", permanent=False)
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
                    yield resource
            url, query = _next_link(bundle, self.base_url), None
        logger.warning("FHIR search of %s stopped after %s pages", resource_type, MAX_PAGES)


def _next_link(bundle: dict[str, Any], base_url: str) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return urljoin(base_url, str(link["url"]))
    return None


def client_from_settings() -> FhirClient:
    return FhirClient(
        base_url=settings.PKB_FHIR_URL,
        token_url=settings.PKB_FHIR_TOKEN_URL,
        client_id=settings.PKB_FHIR_CLIENT_ID,
        client_secret=settings.PKB_FHIR_CLIENT_SECRET,
        scope=settings.PKB_FHIR_SCOPE,
        token_auth_method=settings.PKB_FHIR_TOKEN_AUTH_METHOD,
        timeout_s=settings.PKB_FHIR_TIMEOUT_S,
        verify=settings.PKB_VERIFY_TLS,
        ca_bundle=settings.PKB_CA_BUNDLE or None,
    )
