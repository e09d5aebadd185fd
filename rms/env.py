"""Strict reading of settings from the environment.

django-environ does the parsing (URLs for databases and email, lists), but some of its
readers are lenient: ``Env.bool`` turns any unknown word into False, and a bad integer
surfaces as a bare ``ValueError``. A clinical service must not start half-configured, so
every reader here raises ``ImproperlyConfigured`` naming the variable and the bad value.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

SUPPORTED_DATABASE_ENGINES = {
    "django.db.backends.postgresql",
    "django.db.backends.sqlite3",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Sender:
    """One entry of ``MLLP_SENDERS`` or ``MLLP_PAS_SENDERS``: a sending system, named by its
    MSH-3 and MSH-4 exactly as its messages carry them (first components), and, in
    ``MLLP_SENDERS``, where its messages may come from: one network (``@10.12.0.0/16``), the
    common name of a verified TLS client certificate (``@cn:NAME``), or an API account
    (``@user:USERNAME``, for the HTTP inbound endpoint)."""

    application: str
    facility: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    common_name: str | None = None
    username: str | None = None

    @property
    def name(self) -> str:
        return f"{self.application}^{self.facility}"


def parse_sender(entry: str, *, with_origin: bool = True) -> Sender:
    """``MSH3^MSH4@ORIGIN`` (or ``MSH3^MSH4`` when ``with_origin`` is False); raises
    ``ValueError`` saying what is wrong."""
    name, at, origin = entry.strip().partition("@")
    application, caret, facility = name.partition("^")
    application, facility, origin = application.strip(), facility.strip(), origin.strip()
    if not caret or not application or "^" in facility:
        raise ValueError(f"{entry!r}: expected MSH-3^MSH-4 (e.g. WINPATH^RXX01)")
    if not with_origin:
        if at:
            raise ValueError(f"{entry!r}: expected MSH-3^MSH-4 with no @")
        return Sender(application, facility)
    if not origin:
        raise ValueError(
            f"{entry!r}: expected MSH-3^MSH-4@CIDR, MSH-3^MSH-4@cn:NAME or MSH-3^MSH-4@user:NAME"
        )
    kind, colon, value = origin.partition(":")
    if colon and kind in ("cn", "user"):
        if not value.strip():
            raise ValueError(f"{entry!r}: {kind}: needs a name")
        if kind == "cn":
            return Sender(application, facility, common_name=value.strip())
        return Sender(application, facility, username=value.strip())
    try:
        # strict: 10.12.0.1/16 (host bits set) is a typing mistake, refused rather than guessed.
        network = ipaddress.ip_network(origin)
    except ValueError:
        raise ValueError(
            f"{entry!r}: {origin!r} is not a network (CIDR such as 10.12.0.0/16), cn:NAME "
            "or user:NAME"
        ) from None
    return Sender(application, facility, network=network)


class Env:
    """Typed, strict readers over ``os.environ``; each takes the variable name and a default."""

    def __init__(self) -> None:
        self._env = environ.Env()

    @staticmethod
    def _raw(name: str) -> str | None:
        value = os.environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    @staticmethod
    def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"Environment variable {name}={value!r} is not valid: {expected}."
        )

    def string(self, name: str, *, default: str) -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def boolean(self, name: str, *, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self._fail(name, raw, "expected one of true/false, yes/no, on/off, 1/0")

    def integer(self, name: str, *, default: int, minimum: int = 0) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self._fail(name, raw, "expected a whole number") from None
        if value < minimum:
            raise self._fail(name, raw, f"expected a whole number of at least {minimum}")
        return value

    def number(self, name: str, *, default: float, minimum: float = 0.0) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self._fail(name, raw, "expected a number") from None
        if value < minimum:
            raise self._fail(name, raw, f"expected a number of at least {minimum}")
        return value

    def choice(self, name: str, choices: Sequence[str], *, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw not in choices:
            raise self._fail(name, raw, "expected one of " + ", ".join(choices))
        return raw

    def strings(self, name: str, *, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def senders(self, name: str, *, with_origin: bool = True) -> tuple[Sender, ...]:
        """Comma-separated ``MSH3^MSH4@ORIGIN`` entries (see ``parse_sender``); empty: none."""
        entries = self.strings(name, default=[])
        try:
            return tuple(parse_sender(entry, with_origin=with_origin) for entry in entries)
        except ValueError as exc:
            raise self._fail(name, self._raw(name) or "", str(exc)) from None

    def path(self, name: str, *, default: Path) -> Path:
        raw = self._raw(name)
        return default if raw is None else Path(raw)

    def db_url(self, name: str, *, default: str) -> dict[str, Any]:
        raw = self._raw(name) or default
        try:
            config = environ.Env.db_url_config(raw)
        except Exception as exc:  # django-environ raises several types for bad URLs
            raise self._fail(name, raw, f"expected a database URL ({exc})") from None
        if config.get("ENGINE") not in SUPPORTED_DATABASE_ENGINES:
            raise self._fail(name, raw, "expected a postgres:// or sqlite:/// URL")
        return dict(config)

    def email_url(self, name: str, *, default: str) -> dict[str, Any]:
        raw = self._raw(name) or default
        try:
            config = environ.Env.email_url_config(raw)
        except Exception as exc:
            raise self._fail(
                name, raw, f"expected an email URL such as smtp+tls://… ({exc})"
            ) from None
        if not config.get("EMAIL_BACKEND"):
            raise self._fail(name, raw, "expected an email URL such as smtp+tls://…")
        return dict(config)
