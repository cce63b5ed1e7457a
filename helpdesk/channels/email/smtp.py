"""Hand messages to the SMTP server, reusing one connection per process."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app

_connection: smtplib.SMTP | None = None


def _connect() -> smtplib.SMTP:
    config = current_app.config
    client = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=30)
    if config["SMTP_STARTTLS"]:
        client.starttls(context=ssl.create_default_context())
    if config["SMTP_USER"]:
        client.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
    return client


def close() -> None:
    """Close the process's SMTP connection, if any."""
    global _connection
    if _connection is not None:
        try:
            _connection.quit()
        except (smtplib.SMTPException, OSError):
            pass
        _connection = None


def send(message: EmailMessage, recipients: list[str]) -> None:
    """Send ``message`` to ``recipients``; reconnect once if the old connection died."""
    global _connection
    for attempt in (1, 2):
        if _connection is None:
            _connection = _connect()
        try:
            _connection.send_message(message, to_addrs=recipients)
            return
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPSenderRefused, OSError):
            close()
            if attempt == 2:
                raise
