"""The API docs page (/api/docs/) works offline: Swagger UI's assets are pinned and bundled
(drf-spectacular-sidecar) and served by this site; the page names no other host."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def _asset_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_the_docs_page_references_only_this_sites_static_files(client: Client, clinician) -> None:
    """Offline use: every script, stylesheet and icon of the page is a local URL (no
    scheme, no host) and each is served here with its content."""
    client.force_login(clinician)
    response = client.get(reverse("api-docs"))
    html = response.content.decode()

    assert response.status_code == 200
    assert not re.search(r"https?://", html), "the page names another host"
    urls = _asset_urls(html)
    scripts = [u for u in urls if u.endswith(".js")]
    assert any("swagger-ui-bundle.js" in u for u in scripts)
    assert any(u.endswith("swagger-ui.css") for u in urls)
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        fetched = client.get(url)
        assert fetched.status_code == 200, url
        body = b"".join(fetched.streaming_content) if fetched.streaming else fetched.content
        assert body, url


def test_the_docs_start_up_script_names_no_other_host(client: Client, clinician) -> None:
    client.force_login(clinician)
    script = client.get(reverse("api-docs") + "?script")

    assert script.status_code == 200
    assert not re.search(r"https?://", script.content.decode())


def test_the_docs_page_is_refused_to_a_visitor_who_is_not_signed_in(client: Client) -> None:
    """SPECTACULAR_SETTINGS SERVE_PERMISSIONS: IsAuthenticated."""
    response = client.get(reverse("api-docs"))

    assert response.status_code in {302, 401, 403}
