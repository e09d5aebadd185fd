"""Who may send what: the inbound feed's trust boundaries (docs/security.md, "Trust boundaries").

- ``MLLP_SENDERS`` names each sending system (MSH-3^MSH-4) and where its messages may come
  from: a network, a verified TLS client certificate's common name, or an API account. A
  message whose MSH-3/MSH-4 is not allowed from where it came is refused (``AR``) and kept,
  marked ``SenderCheck.NOT_ALLOWED``. Empty: any sender (development; production only with
  ``MLLP_ALLOW_ANY_SENDER=true``).
- ``MLLP_PAS_SENDERS`` names the PAS: only its ADT messages change demographics; another
  sender's are refused (``AR``), marked ``SenderCheck.NOT_PAS``.
- A result is changed only by the sender that filed it (``rms.services.results``); a message
  that would change or add to another sender's result is held for review, marked
  ``SenderCheck.OTHER_SENDER``.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from rms.env import Sender
from rms.hl7.errors import ErrorCode, Hl7Error
from rms.models import InboundMessage

logger = logging.getLogger("rms.inbound")
SenderCheck = InboundMessage.SenderCheck


@dataclass(frozen=True)
class Origin:
    """Where a message came from: the source address, and the verified TLS client
    certificate's common name (MLLP over TLS) or the API account's username (HTTP)."""

    address: str = ""
    client_cert_cn: str | None = None
    username: str | None = None

    @property
    def credential(self) -> str:
        """As stored on the message (``InboundMessage.credential``)."""
        if self.username is not None:
            return f"user:{self.username}"[:200]
        if self.client_cert_cn is not None:
            return f"cn:{self.client_cert_cn}"[:200]
        return ""

    @classmethod
    def of(cls, message: InboundMessage) -> Origin:
        """The origin a stored message came from."""
        kind, _, name = message.credential.partition(":")
        return cls(
            address=message.peer,
            client_cert_cn=name if kind == "cn" else None,
            username=name if kind == "user" else None,
        )

    def describe(self) -> str:
        if self.username is not None:
            return f"API account {self.username}"
        if self.client_cert_cn is not None:
            return f"{self.address} (certificate {self.client_cert_cn})"
        return self.address or "an unknown address"


class SenderRefused(Hl7Error):
    """A message refused because of who sent it: ``AR``, kept with the reason."""

    default_ack_code = "AR"
    default_hl7_code = ErrorCode.APPLICATION_INTERNAL_ERROR

    def __init__(self, reason: str, *, check: str) -> None:
        super().__init__(reason, field="MSH-3")
        self.check = check


def any_sender() -> bool:
    """No ``MLLP_SENDERS``: every sender is taken at its word (MSH-3/MSH-4)."""
    return not settings.MLLP_SENDERS


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _admits(sender: Sender, origin: Origin) -> bool:
    if sender.username is not None:
        return origin.username == sender.username
    if origin.username is not None:
        return False  # an API account is only ever matched by name, not by its address
    if sender.common_name is not None:
        # Only a certificate the listener verified has a CN here: a plain connection never
        # matches a cn: entry.
        return origin.client_cert_cn == sender.common_name
    address = _address(origin.address)
    return address is not None and sender.network is not None and address in sender.network


def check_origin(application: str, facility: str, origin: Origin) -> None:
    """Raise ``SenderRefused`` unless ``MLLP_SENDERS`` allows MSH-3 ``application`` and MSH-4
    ``facility`` from ``origin`` (any is allowed while it is empty)."""
    if any_sender():
        return
    named = [
        s for s in settings.MLLP_SENDERS if (s.application, s.facility) == (application, facility)
    ]
    if any(_admits(sender, origin) for sender in named):
        return
    logger.warning(
        "Inbound message claiming %.40s^%.40s refused: not allowed from %s",
        application,
        facility,
        origin.describe(),
    )
    if named:
        reason = (
            f"Sender {application[:40]}^{facility[:40]} is not allowed to send from "
            f"{origin.describe()[:80]}; the message is kept and not filed."
        )
    else:
        reason = (
            f"Sender {application[:40]}^{facility[:40]} is not a sending system this service "
            "accepts (MLLP_SENDERS); the message is kept and not filed."
        )
    raise SenderRefused(reason, check=SenderCheck.NOT_ALLOWED)


def is_pas(application: str, facility: str) -> bool:
    """Whether MSH-3 ``application`` and MSH-4 ``facility`` are the PAS, whose ADT messages
    change demographics. With no ``MLLP_PAS_SENDERS``: any sender while ``MLLP_SENDERS`` is
    empty too (development), none once it is set."""
    if not settings.MLLP_PAS_SENDERS:
        return any_sender()
    return any(
        (s.application, s.facility) == (application, facility) for s in settings.MLLP_PAS_SENDERS
    )


def check_demographics_sender(application: str, facility: str) -> None:
    """Raise ``SenderRefused`` unless the sender is the PAS (``is_pas``)."""
    if is_pas(application, facility):
        return
    logger.warning(
        "Inbound demographics from %.40s^%.40s refused: not a PAS sender", application, facility
    )
    raise SenderRefused(
        f"Demographic updates are accepted only from the PAS (MLLP_PAS_SENDERS); "
        f"{application[:40]}^{facility[:40]} is not one. The message is kept and not filed.",
        check=SenderCheck.NOT_PAS,
    )


def check_listener_may_start() -> None:
    """In production the listener does not start without ``MLLP_SENDERS`` unless
    ``MLLP_ALLOW_ANY_SENDER=true`` says so on purpose; then it warns."""
    if not any_sender():
        if not settings.MLLP_PAS_SENDERS:
            logger.warning(
                "MLLP_PAS_SENDERS is empty: demographic updates (ADT) from every sender are refused"
            )
        return
    if settings.PRODUCTION and not settings.MLLP_ALLOW_ANY_SENDER:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start the MLLP listener: MLLP_SENDERS must name "
            'the sending systems and where they send from (docs/security.md, "Trust '
            'boundaries"), or MLLP_ALLOW_ANY_SENDER=true must accept any sender on purpose.'
        )
    if settings.PRODUCTION:
        logger.warning(
            "MLLP_ALLOW_ANY_SENDER=true: any host that reaches the listener may file results "
            "under any sending system's name"
        )
