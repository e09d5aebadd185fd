"""``manage.py mllp_listener --host H --port P``: receive HL7 v2 over MLLP (optionally TLS).

Each message is handed to ``rms.inbound.receive`` in its connection's thread (the ORM is
synchronous; ``rms.mllp.server``):
stored first, processed in one transaction, and acknowledged only after that commits. When
the database is unreachable the connection is closed without an acknowledgement, so the sender
keeps the message and sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rms.inbound.listener import build_listener
from rms.mllp import build_server_ssl_context

logger = logging.getLogger("rms.mllp")


class Command(BaseCommand):
    help = "Listen for HL7 v2 messages over MLLP and acknowledge each after it is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (0.0.0.0 for all)")
        parser.add_argument("--port", type=int, default=2575, help="TCP port (2575 is HL7's)")
        parser.add_argument("--certfile", help="PEM certificate chain: turns TLS on")
        parser.add_argument("--keyfile", help="PEM private key of --certfile")
        parser.add_argument("--cafile", help="CA bundle that client certificates must chain to")
        parser.add_argument(
            "--require-client-cert",
            action="store_true",
            help="Refuse senders without a client certificate issued by --cafile",
        )
        parser.add_argument(
            "--allow",
            action="append",
            default=None,
            metavar="CIDR",
            help="Source network allowed to connect (repeatable; default MLLP_ALLOWED_NETWORKS, "
            "or any source when that is empty)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=8,
            help="Messages processed at once across connections (each connection's thread "
            "keeps a database connection while it is busy)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ssl_context = None
        if options["certfile"] or options["keyfile"]:
            if not (options["certfile"] and options["keyfile"]):
                raise CommandError("--certfile and --keyfile go together.")
            try:
                ssl_context = build_server_ssl_context(
                    options["certfile"],
                    options["keyfile"],
                    cafile=options["cafile"],
                    require_client_cert=options["require_client_cert"],
                )
            except (OSError, ValueError) as exc:
                raise CommandError(f"TLS could not be set up: {exc}") from exc
        elif options["require_client_cert"] or options["cafile"]:
            raise CommandError("--cafile and --require-client-cert need --certfile and --keyfile.")
        networks = options["allow"] or settings.MLLP_ALLOWED_NETWORKS or None
        try:
            asyncio.run(self._serve(options, ssl_context, networks))
        except (ValueError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc

    async def _serve(self, options: dict[str, Any], ssl_context: Any, networks: Any) -> None:
        loop = asyncio.get_running_loop()
        server = build_listener(
            options["host"],
            options["port"],
            threads=options["threads"],
            ssl_context=ssl_context,
            allowed_networks=networks,
        )
        await server.start()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        self.stdout.write(
            f"MLLP listener on {options['host']}:{server.port}"
            f"{' (TLS)' if ssl_context else ''}; Ctrl-C to stop.",
        )
        self.stdout.flush()
        serving = asyncio.create_task(server.serve_forever())
        await stop.wait()
        logger.info("MLLP listener stopping: finishing messages in progress")
        await server.close()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
