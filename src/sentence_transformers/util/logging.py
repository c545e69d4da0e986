"""LoggingHandler: log records written through tqdm, so they don't break progress bars."""

from __future__ import annotations

import logging

import tqdm


class LoggingHandler(logging.Handler):
    """A logging handler that prints with ``tqdm.write`` (the 2.x examples install it on the root logger)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record."""
        try:
            tqdm.tqdm.write(self.format(record))
            self.flush()
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
