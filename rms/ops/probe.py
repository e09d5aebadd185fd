"""``python -m rms.ops.probe [URL]``: the container health check of the web process.

Exits 0 when the URL (default ``http://127.0.0.1:8000/healthz``) answers 200, 1 otherwise.
It imports no Django: a health check runs every few seconds and must be cheap.

The request carries the headers the TLS proxy in front of the site would send, because the
site refuses anything else in production: ``Host`` is the first of ``ALLOWED_HOSTS`` (any
other host is a 400) and ``X-Forwarded-Proto: https`` (with ``BEHIND_TLS_PROXY=true``; plain
HTTP would be redirected to HTTPS).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"
TIMEOUT_S = 5.0


def host_header(allowed_hosts: str) -> str:
    """A host name Django accepts: the first of ALLOWED_HOSTS, as a name, not a pattern."""
    for entry in allowed_hosts.split(","):
        name = entry.strip().lstrip("*").lstrip(".")
        if name:
            return name
    return "localhost"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect means the proxy headers were not honoured: report it, do not follow it.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe(url: str = DEFAULT_URL, *, allowed_hosts: str = "") -> tuple[bool, str]:
    """Whether ``url`` answered 200, and what it answered."""
    if not url.startswith(("http://", "https://")):
        return False, f"not an http(s) URL: {url}"
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        headers={
            "Host": host_header(allowed_hosts),
            "X-Forwarded-Proto": "https",
            "X-Request-ID": "healthcheck-probe",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    ok, detail = probe(url, allowed_hosts=os.environ.get("ALLOWED_HOSTS", ""))
    print(f"{url}: {detail}", file=sys.stderr if not ok else sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
