"""The words of every notification: Jinja2 templates in German, French, Italian and English.

Each kind has two templates per language in ``templates/<language>/``: ``<kind>.txt``, the
plain-text part, which also holds the subject line in its ``subject`` block, and
``<kind>.html``, the HTML part, rendered with autoescape on (a title holding ``<b>`` is shown,
never interpreted). Both receive the notification's facts (listed in
:mod:`roomsync.notify.wording`) and ``reservation_id``, ``language`` and ``timezone``; the
``when`` filter writes an ISO 8601 time as people read it in that language. The ``not-written``
templates also receive ``problems``: its numbered ``problem_<n>`` facts as a list of
``{"code", "field", "value", "limit", "character", "participant", "occurrence"}`` (None where absent).

The language is the person's (:attr:`Notification.language`), else ``[notify] language``. An
installation replaces any template by a file of the same path in the ``[notify] templates``
folder; the shipped ones fill in for the rest. A template that is missing, does not parse or
uses a fact the notification does not have is a :class:`MailTemplateError` naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context

from roomsync.domain import Language
from roomsync.errors import ConfigProblem, Fault
from roomsync.notify.message import Audience, Notification, NotificationKind

DEFAULT_LANGUAGE = Language.DE

WEEKDAYS: dict[Language, tuple[str, ...]] = {
    Language.DE: ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    Language.FR: ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    Language.IT: ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    Language.EN: ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS: dict[Language, tuple[str, ...]] = {
    Language.DE: (
        "Januar", "Februar", "März", "April", "Mai", "Juni",
        "Juli", "August", "September", "Oktober", "November", "Dezember",
    ),
    Language.FR: (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    Language.IT: (
        "gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno",
        "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre",
    ),
    Language.EN: (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


class MailTemplateError(Exception):
    """A template is missing, broken or asks for a fact the notification lacks; names the file."""


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str
    language: Language


def when(iso: str, language: Language, timezone: str | None = None) -> str:
    """A time as people write it: "Montag, 7. Dezember 2026, 08:00", in ``timezone`` if given
    (the person's), else in the zone the ISO text carries (the reservation's)."""
    moment = datetime.fromisoformat(iso)
    if timezone and moment.tzinfo is not None:
        # An unknown zone, or a time at the very ends of the calendar: the reservation's zone.
        with suppress(ZoneInfoNotFoundError, ValueError, OverflowError):
            moment = moment.astimezone(ZoneInfo(timezone))
    day = WEEKDAYS[language][moment.weekday()]
    month = MONTHS[language][moment.month - 1]
    clock = f"{moment:%H:%M}"
    match language:
        case Language.DE:
            return f"{day}, {moment.day}. {month} {moment.year}, {clock} Uhr"
        case Language.FR:
            return f"{day} {moment.day} {month} {moment.year} à {clock}"
        case Language.IT:
            return f"{day} {moment.day} {month} {moment.year} alle {clock}"
        case Language.EN:
            return f"{day} {moment.day} {month} {moment.year}, {clock}"


@pass_context
def _when(context: Context, iso: Any, language: str | None = None, timezone: str | None = None) -> str:
    """``iso|when`` in the mail's language and the person's zone; ``iso|when(language, timezone)``
    where those are not in the context (a macro imported without it, so its output is escaped)."""
    if language is None:
        language, timezone = context["language"], context.get("timezone")
    return when(str(iso), Language(language), timezone)


PROBLEM_PARTS = ("field", "value", "limit", "character", "participant", "occurrence")
"""The numbered facts of one problem of a ``not-written`` notification, after its code."""


def numbered(facts: Mapping[str, Any], prefix: str, parts: Sequence[str]) -> list[dict[str, Any]]:
    """The numbered facts ``<prefix>_1``, ``<prefix>_1_<part>``, ``<prefix>_2``, ... as a list of
    ``{"code": ..., "<part>": ...}``, a part the notification lacks as None; up to the first gap."""
    found: list[dict[str, Any]] = []
    while (key := f"{prefix}_{len(found) + 1}") in facts:
        found.append({"code": facts[key]} | {part: facts.get(f"{key}_{part}") for part in parts})
    return found


def language_of(notification: Notification, default: Language = DEFAULT_LANGUAGE) -> Language:
    """The person's language if it is one roomsync writes, else ``default``."""
    try:
        return Language(notification.language) if notification.language else default
    except ValueError:
        return default


class Renderer:
    """Renders notifications from the override folder first, then the shipped templates."""

    def __init__(self, default: Language = DEFAULT_LANGUAGE, overrides: Path | None = None) -> None:
        self.default = default
        self.overrides = overrides
        loaders: list[jinja2.BaseLoader] = []
        if overrides is not None:
            loaders.append(jinja2.FileSystemLoader(overrides))
        loaders.append(jinja2.PackageLoader("roomsync.notify", "templates"))
        self.environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.filters["when"] = _when

    def problems(self) -> list[ConfigProblem]:
        """What is wrong with the override folder: missing, or a template that does not parse."""
        if self.overrides is None:
            return []
        if not self.overrides.is_dir():
            return [ConfigProblem(f"{self.overrides} is not a folder", key="notify.templates")]
        found = []
        for path in sorted(self.overrides.rglob("*")):
            if path.suffix not in (".txt", ".html") or not path.is_file():
                continue
            try:
                self.environment.parse(path.read_text(encoding="utf-8"), filename=str(path))
            except (OSError, UnicodeDecodeError, jinja2.TemplateSyntaxError) as exc:
                found.append(ConfigProblem(f"{path}: {_why(exc)}", key="notify.templates"))
        return found

    def render(self, notification: Notification, language: Language | None = None) -> Mail:
        language = language or language_of(notification, self.default)
        context = self._context(notification, language)
        base = f"{language.value}/{notification.kind.value}"
        text_template = self._template(f"{base}.txt")
        html_template = self._template(f"{base}.html")
        if "subject" not in text_template.blocks:
            raise MailTemplateError(f"mail template {_file(text_template)} has no 'subject' block")
        subject = self._run(
            text_template,
            lambda: "".join(text_template.blocks["subject"](text_template.new_context(context))),
        )
        text = self._run(text_template, lambda: text_template.render(context))
        html = self._run(html_template, lambda: html_template.render(context))
        return Mail(_one_line(subject), _tidy(text), html.strip() + "\n", language)

    @staticmethod
    def _context(notification: Notification, language: Language) -> dict[str, Any]:
        context: dict[str, Any] = dict(notification.facts)
        context.update(
            kind=notification.kind.value,
            language=language.value,
            timezone=notification.timezone,
            reservation_id=notification.reservation_id,
            organizer=notification.audience is Audience.ORGANIZER,
        )
        if notification.kind is NotificationKind.FAULT:
            context["environment_wide"] = Fault(str(notification.facts["fault"])).environment_wide
        if notification.kind is NotificationKind.NOT_WRITTEN:
            context["problems"] = numbered(notification.facts, "problem", PROBLEM_PARTS)
        return context

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.environment.get_template(name)
        except jinja2.TemplateNotFound:
            where = f" (nor in {self.overrides})" if self.overrides is not None else ""
            raise MailTemplateError(f"mail template {name} not found{where}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise MailTemplateError(f"mail template {exc.filename or name}: {_why(exc)}") from None

    @staticmethod
    def _run(template: jinja2.Template, render: Any) -> str:
        try:
            return str(render())
        except jinja2.TemplateError as exc:
            raise MailTemplateError(f"mail template {_file(template)}: {_why(exc)}") from None


def _file(template: jinja2.Template) -> str:
    return template.filename or template.name or "?"


def _why(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"{exc.message} (not a fact of this notification)"
    return str(exc) or type(exc).__name__


def _one_line(text: str) -> str:
    """Line breaks and runs of ASCII spaces become one space (a no-break space stays)."""
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip(" ")


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line between paragraphs, one final line break."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if not line and tidy and not tidy[-1]:
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"


english = Renderer(Language.EN)
"""The shipped English wording, for the log and :attr:`Notification.subject`/``body``."""
