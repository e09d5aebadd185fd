"""The 403, 404 and 500 pages: the site's navigation, the reason the server gave, and
nothing leaked (docs/security.md: no stack traces or settings to users; a 404 for another
team's patient says no more than "no such patient").

Django runs tests with DEBUG off, as production and the demo do; one test turns DEBUG on
first, as a development machine has it, to show that the demo turns it off again."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.template import loader
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from devtools.management.commands.demo import apply_demo_settings
from rms.errors import reason_for_people, server_error
from rms.models import Patient
from tests.rms.error_urls import LEAKY_DETAIL

NAV_LINKS = ('href="/worklists/"', 'href="/worklists/caseload/"')
LEAKS = ("Traceback", "SECRET_KEY", "DATABASES", "settings.py", "URLconf", "Resolver404")


def _assert_nothing_leaked(html: str) -> None:
    for leak in (*LEAKS, settings.SECRET_KEY):
        assert leak not in html, leak


@pytest.mark.django_db
def test_403_shows_the_reason_the_view_gave_with_the_navigation(client: Client, clinician) -> None:
    """A clinician (not a team admin) opening the alert yield: refused, told why, and given
    the way back (worklists/views.py raises "The alert yield is for team admins.")."""
    client.force_login(clinician)
    response = client.get(reverse("worklists:yield"))
    html = response.content.decode()

    assert response.status_code == 403
    assert "The alert yield is for team admins." in html
    assert "ask a team admin of your team to change your role" in html
    assert 'aria-label="Main"' in html  # the site's navigation bar
    for link in NAV_LINKS:
        assert link in html
    _assert_nothing_leaked(html)


@pytest.mark.django_db
def test_the_same_page_is_allowed_to_a_team_admin(client: Client, team_admin) -> None:
    client.force_login(team_admin)

    assert client.get(reverse("worklists:yield")).status_code == 200


@pytest.mark.django_db
def test_404_for_another_teams_patient_says_no_such_patient_and_nothing_more(
    client: Client, clinician, other_patient: Patient
) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_detail", args=[other_patient.public_id]))
    html = response.content.decode()

    assert response.status_code == 404
    assert "No such patient." in html
    assert other_patient.family_name not in html
    assert 'aria-label="Main"' in html
    for link in NAV_LINKS:
        assert link in html
    _assert_nothing_leaked(html)


@pytest.mark.django_db
def test_own_patient_is_allowed(client: Client, clinician, patient: Patient) -> None:
    client.force_login(clinician)

    response = client.get(reverse("rms:patient_detail", args=[patient.public_id]))

    assert response.status_code == 200


@pytest.mark.django_db
def test_404_for_an_address_that_matches_nothing_lists_no_urls(client: Client, clinician) -> None:
    client.force_login(clinician)
    response = client.get("/no-such-page/")
    html = response.content.decode()

    assert response.status_code == 404
    assert "There is no page at this address." in html
    assert "api/v1/" not in html  # Django's debug 404 lists the URL patterns
    _assert_nothing_leaked(html)


@pytest.mark.django_db
def test_404_renders_for_a_visitor_who_is_not_signed_in(client: Client) -> None:
    response = client.get("/no-such-page/")
    html = response.content.decode()

    assert response.status_code == 404
    assert "Page not found" in html
    assert "Log out" not in html
    _assert_nothing_leaked(html)


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.rms.error_urls")
def test_500_is_friendly_and_says_nothing_of_what_failed(clinician) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(clinician)
    response = client.get("/fails-for-test/")
    html = response.content.decode()

    assert response.status_code == 500
    assert "Something went wrong" in html
    for link in NAV_LINKS:
        assert link in html
    assert LEAKY_DETAIL not in html
    assert "RuntimeError" not in html
    _assert_nothing_leaked(html)


def test_500_renders_without_a_database_or_a_request_context() -> None:
    """No django_db mark: any query raises, and the handler would fall back to its bare
    page. The full page, with the site's name and links, shows that none was made."""
    response = server_error(RequestFactory().get("/anything/"))
    html = response.content.decode()

    assert response.status_code == 500
    assert settings.SITE_NAME in html
    assert "Something went wrong" in html
    for link in NAV_LINKS:
        assert link in html
    # Django's own contract for 500.html: rendered with no context at all.
    assert "Something went wrong" in loader.get_template("500.html").render()


def test_only_reasons_written_for_people_are_shown() -> None:
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    assert reason_for_people(Http404("No such patient.")) == "No such patient."
    assert reason_for_people(PermissionDenied()) == ""
    assert reason_for_people(Http404({"tried": [], "path": "x/"})) == ""
    assert reason_for_people(Http404("No Patient matches the given query.")) == ""
    assert reason_for_people(Http404("“/var/static/x.css” does not exist")) == ""


@pytest.mark.django_db
def test_the_demo_turns_debug_off_so_a_404_looks_like_productions(
    settings, client: Client, clinician
) -> None:
    """`make demo` runs with the development default (DEBUG on); the demo command turns it
    off unless DEBUG is set in the environment, so no clinician sees Django's debug page."""
    settings.DEBUG = True
    apply_demo_settings({})

    assert settings.DEBUG is False
    assert settings.RMS_REQUIRE_2FA is False
    client.force_login(clinician)
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html
    assert 'aria-label="Main"' in html
    _assert_nothing_leaked(html)


def test_the_demo_keeps_debug_when_the_environment_sets_it(settings) -> None:
    settings.DEBUG = True

    apply_demo_settings({"DEBUG": "true"})

    assert settings.DEBUG is True


@pytest.mark.django_db
def test_a_form_posted_with_a_stale_token_gets_the_403_page_with_what_to_do(clinician) -> None:
    """Django's CSRF protection refuses the post; the page keeps the navigation and says
    nothing was saved and how to go on, without Django's technical reason."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    response = client.post(reverse("rms:patient_create"), {"given_name": "Arthur"})
    html = response.content.decode()

    assert response.status_code == 403
    assert "reload the page and submit it again" in html
    assert "change your role" not in html  # not a question of role
    assert 'aria-label="Main"' in html
    assert "CSRF token" not in html and "CSRF cookie" not in html  # Django's reasons
    _assert_nothing_leaked(html)
