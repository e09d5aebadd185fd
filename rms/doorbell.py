"""A rate-limited doorbell for a Celery task that looks for work in the database.

The rows are the record; the ring only says "look now". A burst of writes is one ring now and
one at the end of the interval, not one each: publishing a task costs about as much CPU as
writing the row that needs it. The filer looks again after each batch, the PKB dispatcher
until nothing is due; the events' consumer only while its batch left due work it could not
reach (``rms.events.consume``). Either way a
row written after the task's last look is covered by a ring of its own, the trailing one at
the latest. A lost ring (Redis down, a crash) is made good by beat's sweep. In-process tasks
(the demo, the tests) ring at once: there is no worker to spare.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("rms.doorbell")


class Doorbell:
    def __init__(self, send: Callable[[], None], *, what: str, interval: float = 0.05) -> None:
        self.send = send
        self.what = what
        self.interval = interval
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._trailing: threading.Timer | None = None

    def ring(self) -> None:
        if self._trailing is not None:
            # A trailing ring is due and has not sent yet (it clears this before it sends),
            # so it will send after the caller's commit: nothing to do. Under a steady feed
            # nearly every ring ends here, without the lock or Celery's configuration (whose
            # lookup cost the listener more than the rest of a ring). In-process tasks never
            # leave a trailing ring.
            return
        from rms.celery import app

        if app.conf.task_always_eager:
            self.send()
            return
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait <= 0 and self._trailing is None:
                self._last = time.monotonic()
                now = True
            else:
                now = False
                if self._trailing is None:
                    self._trailing = threading.Timer(max(wait, 0.0), self._ring_trailing)
                    self._trailing.daemon = True
                    self._trailing.start()
        if now:
            self.send()

    def _ring_trailing(self) -> None:
        with self._lock:
            self._trailing = None
            self._last = time.monotonic()
        try:
            self.send()
        except Exception:
            # Redis down: the rows are the record, and beat's sweep finds them.
            logger.warning("The %s doorbell could not be rung; the sweep will look", self.what)
