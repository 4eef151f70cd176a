"""The SMTP notifier: tells organizers by e-mail about conflicts and failures, and the
administrators (``[smtp] admin``) about the faults behind a failure.

An extension plugin (``roomsync.plugins`` entry point ``smtp-notifier``). It is configured once
through ``roomsync_configure`` from the ``[smtp]`` table and does nothing without one; a
notification for the administrators goes to the ``admin`` addresses only, never to an
organizer, and without them is left to the log notifier. A mail
server that is down or refuses the login must never stop a sync cycle, so delivery failures are
logged as warnings (naming the server, never the password) and not raised.

Each mail has a plain-text and an HTML part (multipart/alternative) in the recipient's language,
rendered by :mod:`roomsync.notify.render` from the ``[notify]`` table: an organizer's own
language, else ``[notify] language``, which is also the administrators'.
"""

from __future__ import annotations

import email.policy
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from roomsync.config import NotifyConfig, Settings, SmtpConfig
from roomsync.errors import ConfigError, ConfigProblem
from roomsync.hookspecs import hookimpl
from roomsync.notify.message import Audience, Notification
from roomsync.notify.render import MailTemplateError, Renderer

logger = logging.getLogger(__name__)

KIND_HEADER = "X-Roomsync-Kind"
# Line breaks and ASCII spaces only: the no-break space of French punctuation stays.
_ASCII_SPACE = " \t\r\n\f\v"
_LINE_SPACE = re.compile(f"[{_ASCII_SPACE}]+")
_UNFOLDED_HEADERS = email.policy.default.clone(max_line_length=998)  # RFC 5322's limit
RESERVATION_HEADER = "X-Roomsync-Reservation"


def _one_line(text: str) -> str:
    """Headers must not carry line breaks (header injection, and the email package refuses them)."""
    return " ".join(_LINE_SPACE.split(text.strip(_ASCII_SPACE)))


def _error_name(exc: BaseException) -> str:
    """The error class, with the network error smtplib wrapped (it reports a time-out as a disconnect)."""
    name = type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, smtplib.SMTPException) and isinstance(cause, OSError):
        return f"{name} ({type(cause).__name__})"
    return name


class SmtpNotifier:
    """Sends each notification as one e-mail (text and HTML) over a fresh connection.

    A connection per message keeps the notifier free of shared state between threads and of
    connections that the server dropped while idle; notifications are rare.
    """

    def __init__(self, config: SmtpConfig | None = None, renderer: Renderer | None = None) -> None:
        self.config = config
        self.renderer = renderer or Renderer()

    def configure(self, config: SmtpConfig | None, renderer: Renderer | None = None) -> None:
        self.config = config
        self.renderer = renderer or Renderer()

    def recipients(self, notification: Notification) -> list[str]:
        """The organizer, or every administrator address (none when ``admin`` is not set)."""
        if notification.audience is Audience.ADMINISTRATORS:
            return list(self.config.admin) if self.config is not None else []
        return [notification.recipient] if notification.recipient else []

    def build_message(self, notification: Notification) -> EmailMessage:
        """The e-mail for a notification; the reservation id is in a header and in the text."""
        if self.config is None:
            raise ValueError("the SMTP notifier is not configured")
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = ", ".join(self.recipients(notification))
        mail = self.renderer.render(notification)
        message["Subject"] = _one_line(mail.subject)
        message["Date"] = formatdate(localtime=True)
        domain = self.config.sender.rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message[KIND_HEADER] = notification.kind.value
        if notification.reservation_id is not None:
            message[RESERVATION_HEADER] = _one_line(notification.reservation_id)
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        # After the parts: making the mail multipart moves every Content- header into them.
        message["Content-Language"] = mail.language.value
        # The parts are encoded (quoted-printable, short lines); the headers are left unfolded:
        # Python's folding of encoded words loses or doubles the space next to them.
        message.policy = _UNFOLDED_HEADERS
        return message

    def send(self, notification: Notification) -> bool:
        """Deliver one notification; ``False`` (and a warning in the log) when it could not be."""
        config = self.config
        recipients = self.recipients(notification)
        if config is None or not recipients:
            return False
        where = f"{config.host}:{config.port}"
        password = ""
        if config.username is not None:
            if config.password is None:
                logger.warning(
                    "cannot send e-mail to %s through %s: smtp.username is set but smtp.password is not",
                    ", ".join(recipients),
                    where,
                )
                return False
            try:
                password = config.password.reveal().get_secret_value()
            except ConfigError as exc:
                logger.warning(
                    "cannot send e-mail to %s through %s: smtp.password: %s",
                    ", ".join(recipients),
                    where,
                    exc,
                )
                return False
        try:
            message = self.build_message(notification)
            self._deliver(config, message, password)
        except MailTemplateError as exc:
            logger.warning("cannot send e-mail to %s: %s", ", ".join(recipients), exc)
            return False
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            # OSError covers refused connections, time-outs and TLS failures. A server may echo
            # what it was sent, so the password is masked in its answer as well.
            detail = str(exc)
            if password:
                detail = detail.replace(password, "***")
            logger.warning(
                "cannot send e-mail to %s through %s: %s: %s",
                ", ".join(recipients),
                where,
                _error_name(exc),
                detail,
            )
            return False
        return True

    @staticmethod
    def _deliver(config: SmtpConfig, message: EmailMessage, password: str) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if config.ssl:
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with client:
            client.ehlo()
            if config.starttls and not config.ssl:
                client.starttls(context=context)
                client.ehlo()
            if config.username is not None:
                client.login(config.username, password)
            client.send_message(message)


notifier = SmtpNotifier()
"""The instance behind the hooks; tests and embedding code may configure it directly."""


def renderer_for(settings: Settings) -> Renderer:
    """The renderer of ``[notify]``: its default language, its override folder (relative to the
    configuration file)."""
    config: NotifyConfig = settings.notify
    folder = config.templates
    if folder is not None and not folder.is_absolute() and settings.source is not None:
        folder = Path(settings.source).parent / folder
    return Renderer(config.language, folder)


@hookimpl
def roomsync_configure(settings: Settings) -> None:
    notifier.configure(settings.smtp, renderer_for(settings))


@hookimpl
def roomsync_config_problems(settings: Settings) -> list[ConfigProblem]:
    """A ``[notify] templates`` folder that is missing, or holds a template that does not parse."""
    file = str(settings.source) if settings.source else None
    return [
        ConfigProblem(problem.message, key=problem.key, file=file)
        for problem in renderer_for(settings).problems()
    ]


@hookimpl
def roomsync_notify(notification: Notification) -> None:
    notifier.send(notification)
