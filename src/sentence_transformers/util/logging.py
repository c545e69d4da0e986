"""LoggingHandler (log records written through tqdm, so they don't break progress bars) and install_logger."""

from __future__ import annotations

import logging
from typing import Any

import tqdm

NOTICE = 25  # a level between INFO and WARNING, added by install_logger


class LoggingHandler(logging.Handler):
    """A logging handler that prints with ``tqdm.write`` (the 2.x examples install it on the root logger)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record."""
        try:
            tqdm.tqdm.write(self.format(record))
            self.flush()
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _notice(self: logging.Logger, message: str, *args: Any, **kwargs: Any) -> None:
    """``logger.notice(...)``: log at the NOTICE level."""
    if self.isEnabledFor(NOTICE):
        self._log(NOTICE, message, args, **kwargs)


def install_logger(
    given_logger: logging.Logger, level: int | str = logging.WARNING, fmt: str = "%(levelname)s:%(name)s:%(message)s"
) -> None:
    """Configure ``given_logger``: its level, a handler with format ``fmt``, and a NOTICE level (25) with
    ``Logger.notice``.

    Uses ``coloredlogs`` for colored output when it is installed, else a plain stream handler (added only once).
    """
    logging.addLevelName(NOTICE, "NOTICE")
    logging.Logger.notice = _notice  # type: ignore[attr-defined]
    try:
        import coloredlogs
    except ImportError:
        given_logger.setLevel(level)
        if not any(getattr(handler, "_sbert_installed", False) for handler in given_logger.handlers):
            handler = logging.StreamHandler()
            handler._sbert_installed = True  # type: ignore[attr-defined]
            given_logger.addHandler(handler)
        for handler in given_logger.handlers:
            if getattr(handler, "_sbert_installed", False):
                handler.setFormatter(logging.Formatter(fmt))
        return
    field_styles = {**coloredlogs.DEFAULT_FIELD_STYLES, "asctime": {}}
    level_styles = {
        **coloredlogs.DEFAULT_LEVEL_STYLES,
        "debug": {"color": "white", "faint": True},
        "notice": {"color": "cyan", "bold": True},
    }
    coloredlogs.install(
        logger=given_logger,
        level=level,
        use_chroot=False,
        fmt=fmt,
        level_styles=level_styles,
        field_styles=field_styles,
    )
