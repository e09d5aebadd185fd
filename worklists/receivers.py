"""Receivers of the core's signals about held inbound messages: each a one-line call of a
worklists service, inside the transaction of the change that caused it, so the work item is
committed with that change or not at all. Connected in ``WorklistsConfig.ready``. (The apps
above raise and close their own items: the PKB bridge and the care plans connect their own
receivers.)
"""

from __future__ import annotations

from typing import Any

from rms.services import system_user
from worklists import services


def inbound_held(sender: Any, *, message: Any, actor: Any = None, **kwargs: Any) -> None:
    services.work_item_raise_for_held_message(message=message, actor=actor or system_user())


def inbound_filed(sender: Any, *, message: Any, actor: Any = None, **kwargs: Any) -> None:
    services.work_items_close_for_filed_message(message=message, actor=actor or system_user())
