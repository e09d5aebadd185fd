"""``manage.py demo``: the whole product on one machine, for trying it out (``make demo``).

Starts the local PKB sandbox (it stands in for Patients Know Best), a background delivery loop
(what Celery beat and a worker do in production: sweep, then dispatch), opts a few demo
patients in so the sandbox has something to show, and serves the web application. Refuses to
run in production: the demo logins are public.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from devtools.sandbox import SandboxServer, SandboxState
from devtools.sandbox.fhir import FhirSandbox
from pkb_bridge import compose, services
from pkb_bridge.models import ReleasePolicy
from rms import selectors

logger = logging.getLogger("pkb_bridge")

DEMO_OPT_INS = 3
# The demo's patients are fictional: one with a consent record (demo_care) shares on it; one
# without shares on this statement; one who declined or withdrew is not shared.
DEMO_ATTESTATION = "Demonstration data: a fictional patient, consent stated for the demo"


def apply_demo_settings(environ: Mapping[str, str]) -> None:
    """What the demo changes in the settings, unless the environment says otherwise."""
    if "RMS_REQUIRE_2FA" not in environ:
        # The demo logins are public: the password alone, unless RMS_REQUIRE_2FA says so.
        settings.RMS_REQUIRE_2FA = False
    if "DEBUG" not in environ:
        # A clinician trying the demo sees the pages production shows (403, 404, 500 with the
        # navigation), never Django's debug page. WhiteNoise serves the static files.
        settings.DEBUG = False


class Command(BaseCommand):
    help = "Run the demo: the PKB sandbox, a delivery loop and the web application."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--loop-interval", type=float, default=2.0, help="seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo does not run with DJANGO_ENV=production.")
        apply_demo_settings(os.environ)
        sandbox = self._start_sandbox()
        self._prepare_demo()
        stop = threading.Event()
        loop = threading.Thread(
            target=self._deliver_forever,
            args=(stop, options["loop_interval"]),
            name="pkb-delivery",
            daemon=True,
        )
        loop.start()
        base = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Remote Monitoring System: {base}  (log in as cns.uro / demo-password-1)",
                    f"PKB sandbox (what patients would see in PKB): {sandbox.base_url}/",
                    f"Delivery view for administrators: {base}pkb/delivery/ (log in as admin)",
                    "",
                ]
            )
        )
        try:
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)
        finally:
            stop.set()
            loop.join(10)
            sandbox.stop()

    def _start_sandbox(self) -> SandboxServer:
        url = urlparse(settings.PKB_URL)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise CommandError(
                f"PKB_URL points at {url.hostname}; the demo uses the local sandbox."
            )
        data = Path(settings.VAR_DIR) / "pkb-sandbox.json"
        sandbox = SandboxServer(
            username=settings.PKB_USERNAME,
            password=settings.PKB_PASSWORD,
            host="127.0.0.1",
            port=url.port or 7443,
            state=SandboxState(
                data_path=str(data),
                processing_id=settings.PKB_PROCESSING_ID,
                delay_field=compose.delay_field(),
            ),
            fhir=FhirSandbox(
                client_id=settings.PKB_FHIR_CLIENT_ID, client_secret=settings.PKB_FHIR_CLIENT_SECRET
            ),
        )
        try:
            sandbox.start()
        except OSError as exc:
            raise CommandError(f"The PKB sandbox cannot listen on port {url.port}: {exc}") from exc
        return sandbox

    def _prepare_demo(self) -> None:
        """A hold policy for radiology in URO (to show publication control) and a few
        patients already shared. Idempotent."""
        clinician = User.objects.filter(username="cns.uro").first()
        if clinician is None:
            self.stdout.write("No demo data: run `manage.py load_demo` first.")
            return
        team = selectors.team_list(user=clinician).filter(code="URO").first()
        if team is None:
            return
        ReleasePolicy.objects.get_or_create(
            team=team,
            category=ReleasePolicy.Category.RADIOLOGY,
            defaults={"mode": ReleasePolicy.Mode.HOLD, "auto_release_days": 7},
        )
        shared = 0
        for patient in selectors.patient_list(user=clinician, team_code="URO"):
            if shared >= DEMO_OPT_INS:
                break
            if (
                services.opt_in_refusal(patient)
                or services.consent_refusal(patient, DEMO_ATTESTATION)[1]
            ):
                continue
            services.enrolment_opt_in(
                patient=patient, actor=clinician, team=team, attestation=DEMO_ATTESTATION
            )
            shared += 1

    def _deliver_forever(self, stop: threading.Event, interval: float) -> None:
        from pkb_bridge.fhir import client_from_settings
        from pkb_bridge.fhir import services as fhir_services

        transport = services.transport_from_settings()
        # The demo always uses PKB's FHIR side (against the sandbox): questionnaires out,
        # responses and patient-entered data in, whatever PKB_FHIR_ENABLED says.
        fhir_client = client_from_settings()
        try:
            while not stop.is_set():
                try:
                    services.messages_requeue_stuck()
                    services.publications_auto_release_notify()
                    services.publications_auto_release()
                    for enrolment_id in services.invitations_due():
                        services.invitation_send(enrolment_id=enrolment_id)
                    services.dispatch(transport=transport, budget_s=interval * 5)
                    fhir_services.questionnaire_requests_send(client=fhir_client)
                    fhir_services.poll(client=fhir_client)
                except Exception:
                    logger.exception("Demo delivery loop failed; trying again")
                finally:
                    close_old_connections()
                stop.wait(interval)
        finally:
            transport.close()
            fhir_client.close()
