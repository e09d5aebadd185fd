"""Structured logging: one JSON object a line, each with the request id, and no patient data.

``JsonFormatter`` is the production formatter (settings.LOGGING and gunicorn's own logger);
``RequestIdFilter`` stamps every record with the id of the request being served, and
``RequestIdMiddleware`` sets that id and writes one access line per request.

What keeps patient data out, in order of strength:
1. Our code logs public ids, never NHS numbers, names or dates of birth (docs/security rule).
2. The access line has the path only: query strings carry searches ("?q=943 476 5919").
3. The formatter writes a fixed set of fields: Django's ``django.request`` records carry the
   request itself (POST bodies, cookies) as ``extra``; those are never serialised.
4. Anything shaped like a valid NHS number is masked in every field, including tracebacks,
   because exception texts (a database constraint, PKB's rejection text) can quote one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponseBase

from rms import nhs_number

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# An id a trusted proxy (nginx's $request_id, a load balancer) passed on; anything else is
# replaced, so a client cannot write arbitrary text into our logs through the header.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Ten digits, optionally grouped 3-3-4 with spaces or hyphens, not part of a longer number.
_NHS_SHAPED = re.compile(r"(?<![\d])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d])")
NHS_NUMBER_MASK = "[NHS number]"

# Record attributes copied into the JSON line when a logger passes them as ``extra``.
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "user_id", "status_code")

# Probes and static files are logged at DEBUG: a probe every few seconds would drown the rest.
_QUIET_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/", "/favicon.ico")

access_logger = logging.getLogger("rms.request")


def current_request_id() -> str:
    """The id of the request being served in this thread or task, or "-" outside one."""
    return request_id_var.get()


def redact(text: str) -> str:
    """``text`` with every valid NHS number (Modulus 11) replaced by a mask. Other ten-digit
    numbers (timestamps, phone numbers) are left alone."""

    def mask(match: re.Match[str]) -> str:
        digits = "".join(match.groups())
        return NHS_NUMBER_MASK if nhs_number.is_valid(digits) else match.group(0)

    return _NHS_SHAPED.sub(mask, text)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (attach it to handlers, not loggers, so records
    from every logger pass through it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request id, the
    allowed extras and the traceback, each string passed through ``redact``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "pid": record.process,
        }
        for field in EXTRA_FIELDS:
            value = record.__dict__.get(field)
            if isinstance(value, bool | int | float):
                line[field] = value
            elif isinstance(value, str):
                line[field] = redact(value)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def _incoming_id(value: str | None) -> str | None:
    if value and _INCOMING_ID.match(value):
        return value
    return None


class RequestIdMiddleware:
    """Gives each request an id (the proxy's ``X-Request-ID`` when it is well formed, else a
    new one), returns it in the ``X-Request-ID`` response header, and logs one access line:
    method, path without the query string, status, duration and the user's id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = _incoming_id(request.headers.get("X-Request-ID")) or uuid.uuid4().hex
        # Not reset on the way out: Django logs 4xx and 5xx responses ("Not Found: ...") after
        # the last middleware returns. ``_request_finished`` clears it once the response closes.
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
        except BaseException:
            request_id_var.reset(token)
            raise
        response["X-Request-ID"] = request_id
        self._log(request, response, started)
        return response

    @staticmethod
    def _log(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
        path = request.path
        level = logging.DEBUG if path.startswith(_QUIET_PREFIXES) else logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        user = getattr(request, "user", None)  # absent when WhiteNoise answered first
        user_id = user.pk if user is not None and user.is_authenticated else None
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        access_logger.log(
            level,
            "%s %s %s %.1fms",
            request.method,
            path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": user_id,
            },
        )


def _request_finished(**kwargs: object) -> None:
    # The server closes the response in the thread that served it, after Django's own logging.
    request_id_var.set("-")


request_finished.connect(_request_finished, dispatch_uid="rms.ops.logging.request_finished")


class DemoteToDebug(logging.Filter):
    """Logs a logger's records below ``below`` at DEBUG instead, and drops them unless DEBUG
    is enabled. For lines that repeat another line or only say that a routine poll ran
    (``manage.py demo``: the delivery loop's HTTP calls and tasks, runserver's own access
    line beside ``rms.request``'s, Django's "Not Found" after the access line said 404)."""

    def __init__(self, below: int = logging.ERROR) -> None:
        super().__init__()
        self.below = below

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.below:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)
