"""The demo's mailbox: an email backend that keeps every email it is given in a folder, one
``.eml`` file each, and the reader behind the demo's "Emails sent" page.

The demo sends real emails (the PKB invitation above all) to fictional patients, so it must
not send them anywhere; it keeps them where someone trying the product can read them. Never
configured in production: ``manage.py demo`` turns it on, unless ``EMAIL_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage as ParsedMessage
from pathlib import Path
from typing import Any, cast

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

BACKEND = "rms.ops.mailbox.MailboxBackend"
# The newest first; the page shows no more than this.
READ_LIMIT = 200


class MailboxBackend(BaseEmailBackend):
    """Writes each message whole (headers, text and HTML parts) to ``directory``."""

    def __init__(self, *args: Any, directory: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not directory:
            raise ValueError("The mailbox email backend needs OPTIONS['directory'].")
        self.directory = Path(directory)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            # A time-ordered name, unique across the demo's threads and processes.
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(message.message().as_bytes())
            sent += 1
        return sent


@dataclass(frozen=True)
class StoredEmail:
    """One kept email, as the page shows it."""

    key: str
    subject: str
    sender: str
    to: str
    sent_at: dt.datetime | None
    text: str
    html: str


def _part(message: ParsedMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def _read(path: Path) -> StoredEmail:
    # With the default policy the parser makes email.message.EmailMessage objects.
    message = cast(
        ParsedMessage,
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default),
    )
    date = message["Date"]
    return StoredEmail(
        key=path.stem,
        subject=str(message["Subject"] or ""),
        sender=str(message["From"] or ""),
        to=", ".join(str(message[h]) for h in ("To", "Cc") if message[h]),
        sent_at=date.datetime if date is not None and hasattr(date, "datetime") else None,
        text=_part(message, "plain"),
        html=_part(message, "html"),
    )


def mailbox_read(*, directory: str, limit: int = READ_LIMIT) -> list[StoredEmail]:
    """The kept emails, newest first (none when the folder does not exist yet)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.eml"), reverse=True)[:limit]
    return [_read(path) for path in paths]
