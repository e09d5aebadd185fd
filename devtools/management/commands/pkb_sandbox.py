"""``manage.py pkb_sandbox --port P``: a local stand-in for PKB's HL7 endpoint. Local use only.

Serves ``/services/hl7`` (SOAP over HTTP, or HTTPS with ``--certfile``/``--keyfile``) with Basic
auth, PKB's FHIR API at ``/fhir/`` with an OAuth2 token endpoint at ``/oauth/token``, a
patient view at ``/`` and fault controls at ``/_sandbox/`` for loopback clients. It never
uses the RMS database: it stands in for PKB. ``--data FILE`` keeps its records across restarts.
"""

from __future__ import annotations

import contextlib
import signal
import ssl
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.sandbox import SandboxServer, SandboxState
from devtools.sandbox.fhir import FhirSandbox


class Command(BaseCommand):
    help = "Run a local stand-in for Patients Know Best's HL7 endpoint (for demos and tests)."
    requires_system_checks: list[str] = []  # it reads no settings and no database

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (loopback)")
        parser.add_argument("--port", type=int, default=7443, help="TCP port (PKB uses 7443)")
        parser.add_argument("--username", default="sandbox", help="Basic auth user name")
        parser.add_argument("--password", default="sandbox", help="Basic auth password")
        parser.add_argument("--data", help="JSON file to keep records in across restarts")
        parser.add_argument(
            "--processing-id", default="P", help="MSH-11 the sandbox accepts (PKB: P)"
        )
        parser.add_argument(
            "--delay-field",
            choices=["OBX-13", "OBR-13"],
            default="OBX-13",
            help="Where result delays (days) are read from",
        )
        parser.add_argument(
            "--nhs-status-checking",
            action="store_true",
            help="Quarantine messages whose NHS number status is 02 or 03 (still AA)",
        )
        parser.add_argument(
            "--fhir-client-id", default="sandbox", help="OAuth2 client id of the FHIR API"
        )
        parser.add_argument(
            "--fhir-client-secret", default="sandbox", help="OAuth2 client secret of the FHIR API"
        )
        parser.add_argument("--certfile", help="PEM certificate chain: serve HTTPS")
        parser.add_argument("--keyfile", help="PEM private key of --certfile")

    def handle(self, *args: Any, **options: Any) -> None:
        """Serve until interrupted; writes nothing but its own --data file."""
        context = None
        if options["certfile"] or options["keyfile"]:
            if not (options["certfile"] and options["keyfile"]):
                raise CommandError("--certfile and --keyfile go together.")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                context.load_cert_chain(options["certfile"], options["keyfile"])
            except (OSError, ssl.SSLError) as exc:
                raise CommandError(f"TLS could not be set up: {exc}") from exc
        try:
            state = SandboxState(
                data_path=options["data"],
                processing_id=options["processing_id"],
                delay_field=options["delay_field"],
                nhs_status_checking=options["nhs_status_checking"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        server = SandboxServer(
            host=options["host"],
            port=options["port"],
            username=options["username"],
            password=options["password"],
            state=state,
            ssl_context=context,
            fhir=FhirSandbox(
                client_id=options["fhir_client_id"], client_secret=options["fhir_client_secret"]
            ),
        )
        try:
            server.start()
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread (tests)
                signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(
            f"PKB sandbox: HL7 endpoint {server.url}; FHIR API {server.base_url}/fhir/; "
            f"records at {server.base_url}/; "
            "local use only. Ctrl-C to stop."
        )
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.stop()
