"""gunicorn's configuration (docker/gunicorn_conf.py) trusts X-Forwarded-Proto only from a
TLS proxy the Trust says is there.

Source: gunicorn's settings reference, ``forwarded_allow_ips`` ("front-end's IPs from which
allowed to handle set secure headers", default ``127.0.0.1,::1``) and
``secure_scheme_headers``: a request from an allowed address with ``X-Forwarded-Proto:
https`` gets ``wsgi.url_scheme`` https, and Django then treats it as secure. Without a proxy
(``BEHIND_TLS_PROXY=false``) anything on the host could claim https that way.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from gunicorn.config import Config

CONF = Path(__file__).resolve().parents[3] / "docker" / "gunicorn_conf.py"


def gunicorn_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> Config:
    """gunicorn's Config with docker/gunicorn_conf.py applied, as gunicorn -c does."""
    for name in ("BEHIND_TLS_PROXY", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    values = runpy.run_path(str(CONF))
    config = Config()
    for name, value in values.items():
        if name in config.settings and value is not None:
            config.set(name, value)
    return config


def test_without_a_tls_proxy_no_address_may_claim_https(monkeypatch: pytest.MonkeyPatch) -> None:
    config = gunicorn_config(monkeypatch)
    assert config.forwarded_allow_ips == []
    assert config.secure_scheme_headers == {}

    config = gunicorn_config(monkeypatch, BEHIND_TLS_PROXY="false")
    assert config.forwarded_allow_ips == []


def test_behind_a_tls_proxy_only_its_addresses_are_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = gunicorn_config(monkeypatch, BEHIND_TLS_PROXY="true")
    assert config.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert config.secure_scheme_headers["X-FORWARDED-PROTO"] == "https"

    config = gunicorn_config(monkeypatch, BEHIND_TLS_PROXY="true", FORWARDED_ALLOW_IPS="10.12.0.5")
    assert config.forwarded_allow_ips == ["10.12.0.5"]
