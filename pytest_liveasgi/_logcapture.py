"""Collects what uvicorn logs from one thread while it starts or stops, for error messages.

The records still reach every other handler (pytest's capture, the user's own): the
collector only keeps a copy to put into a `StartupError` or shutdown error.
"""

from __future__ import annotations

import collections
import logging
import threading

UVICORN_ERROR_LOGGER = "uvicorn.error"


class ThreadLogCollector(logging.Handler):
    """Keeps the formatted WARNING+ records that one thread logs to 'uvicorn.error'."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread_id: int | None = None
        self._lines: list[str] = []
        self._lock_lines = threading.Lock()
        self._forward_to_last_resort = False
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        last_resort = logging.lastResort
        # Our handler would otherwise stop Python's last-resort stderr output for users
        # who configured no logging at all.
        if self._forward_to_last_resort and last_resort is not None and record.levelno >= last_resort.level:
            last_resort.handle(record)
        if record.thread != self.thread_id:
            return
        try:
            line = self.format(record)
        except Exception:  # a bad log call must not break the server
            line = record.getMessage()
        with self._lock_lines:
            self._lines.append(line)

    def take(self) -> str:
        with self._lock_lines:
            taken, self._lines = self._lines, []
        return "\n".join(taken)

    def attach(self) -> None:
        logger = logging.getLogger(UVICORN_ERROR_LOGGER)
        if self not in logger.handlers:
            self._forward_to_last_resort = not logger.hasHandlers()
            logger.addHandler(self)

    def detach(self) -> None:
        logging.getLogger(UVICORN_ERROR_LOGGER).removeHandler(self)


class ThreadLogFilter(logging.Filter):
    """Drops the records that one thread logs to one logger (for ``access_log=False``)."""

    def __init__(self, logger_name: str) -> None:
        super().__init__()
        self.logger_name = logger_name
        self.thread_id: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread_id

    def attach(self, thread_id: int) -> None:
        self.thread_id = thread_id
        logging.getLogger(self.logger_name).addFilter(self)

    def detach(self) -> None:
        logging.getLogger(self.logger_name).removeFilter(self)


class UvicornRecordFilter(logging.Filter):
    """Leaves out of the logs uvicorn's record of something this server reports itself.

    `drop_next(thing)` drops the next 'uvicorn.error' record whose exception
    (``exc_info``) or message object is `thing` (compared by identity: uvicorn logs
    the very exception the app raised, and a lifespan failure's very message). The
    app wrapper calls it right before uvicorn logs, with no await in between, so a few
    slots are enough; every other record passes untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: collections.deque[object] = collections.deque(maxlen=4)

    def drop_next(self, thing: object) -> None:
        self._pending.append(thing)

    def filter(self, record: logging.LogRecord) -> bool:
        pending = self._pending
        if not pending:
            return True
        logged = record.exc_info[1] if record.exc_info else None
        for thing in pending:
            if thing is logged or thing is record.msg:
                pending.remove(thing)
                return False
        return True

    def attach(self) -> None:
        logging.getLogger(UVICORN_ERROR_LOGGER).addFilter(self)

    def detach(self) -> None:
        logging.getLogger(UVICORN_ERROR_LOGGER).removeFilter(self)
        self._pending.clear()
