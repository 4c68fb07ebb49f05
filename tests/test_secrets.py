"""No secret in any log line: URI credentials and credential variables are masked."""

from __future__ import annotations

import logging

import pytest

from synthtrust.secrets import RedactFilter, redact


def test_redact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")
    assert redact("at http://user:pa@ss@host:5000/api") == "at http://***@host:5000/api"
    assert redact("postgresql+psycopg://u:p@db/optuna and tok-123456") == "postgresql+psycopg://***@db/optuna and ***"
    assert redact("http://host/path?mail=a@b.c") == "http://host/path?mail=a@b.c"


def test_the_filter_masks_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test-secrets")
    caplog.handler.addFilter(RedactFilter())
    try:
        raise RuntimeError("cannot reach https://bob:hunter22@mlflow.example")
    except RuntimeError as exc:
        logger.exception("failed: %s", exc)
    assert "hunter22" not in caplog.text and "https://***@mlflow.example" in caplog.text


def test_install_masks_every_logger_even_with_its_own_handler(caplog: pytest.LogCaptureFixture) -> None:
    from synthtrust.secrets import install

    factory = logging.getLogRecordFactory()
    try:
        install()
        install()  # once is enough
        logging.getLogger("mlflow.test").warning("GET https://u:topsecret@tracking/api failed")
    finally:
        logging.setLogRecordFactory(factory)
    assert "topsecret" not in caplog.text and "https://***@tracking/api" in caplog.text
