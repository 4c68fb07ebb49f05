"""No secret is ever printed or logged: credentials in URIs and the values of credential variables are masked.

A tracking URI such as ``http://user:password@host`` (MLflow's basic auth), a PostgreSQL URL of an Optuna
storage, or a token in ``MLFLOW_TRACKING_TOKEN`` may appear in an error message of MLflow, SQLAlchemy or
synthtrust itself. :class:`RedactFilter` masks them in every log record the command line emits, and
:func:`redact` is what any code that shows a URI calls.
"""

from __future__ import annotations

import logging
import os
import re

#: ``scheme://user:password@`` (or ``scheme://token@``) in any text
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s?#]*@")  # up to the authority's last @
#: environment variables whose values are secrets wherever they show up
SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN", "PGPASSWORD", "DATABRICKS_TOKEN")
MASK = "***"


def redact(text: str) -> str:
    """``text`` with URI credentials and the values of :data:`SECRET_VARIABLES` masked."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:  # a 1-3 character "secret" would mask ordinary words
            text = text.replace(value, MASK)
    return text


class RedactFilter(logging.Filter):
    """Masks secrets in a record's formatted message and traceback before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install() -> None:
    """Mask secrets in every log record this process creates, whichever logger or handler it goes through
    (MLflow's loggers have handlers of their own): the record factory formats and redacts each message."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return
    mask = RedactFilter()

    def redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        mask.filter(record)
        return record

    redacting_factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)
