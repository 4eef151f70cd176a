"""The mail templates: every kind in every language, the language chosen, overrides, and real mails."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from roomsync.config import Settings, SmtpConfig, settings_from_mapping
from roomsync.domain import Language
from roomsync.engine.limits import Code, Problem, Where, problem_facts
from roomsync.notify.message import Notification, NotificationKind
from roomsync.notify.render import MailTemplateError, Renderer, when
from roomsync.notify.smtp import SmtpNotifier, renderer_for, roomsync_config_problems
from test_notify import Collector, free_port, running

TITLE = "<b>Budget</b> 2027 (Zürich)"
START = "2026-12-07T08:00:00+01:00"
ROOM = "Salle Léman"
ORGANIZER = "anne.muller@example.ch"

FACTS: dict[NotificationKind, dict[str, str | int]] = {
    NotificationKind.CONFLICT: {"title": TITLE, "fields": "start, title", "start": START, "rooms": ROOM},
    NotificationKind.REJECTED: {
        "title": TITLE,
        "start": START,
        "rooms": f"Sitzungszimmer Aare, {ROOM}",
        "taken": ROOM,
    },
    NotificationKind.SYNC_DISABLED: {
        "title": TITLE,
        "fields": "title",
        "attempts": 5,
        "start": START,
        "rooms": ROOM,
    },
    NotificationKind.CANCELLED: {
        "title": TITLE,
        "fields": "end",
        "attempts": 2,
        "start": START,
        "rooms": ROOM,
    },
    NotificationKind.FAILURE: {"failures": 3},
    NotificationKind.NOT_WRITTEN: {
        "title": TITLE,
        "start": START,
        "why": "its title is 300 characters long; at most 255 are taken",
        "problem_1": "too-long",
        "problem_1_field": "title",
        "problem_1_value": 300,
        "problem_1_limit": 255,
    },
    NotificationKind.NOT_SENT: {"title": TITLE, "start": START, "until": "2026-12-07T07:30:00+01:00"},
    NotificationKind.REPAIRED: {
        "title": TITLE,
        "start": START,
        "rooms": ROOM,
        "fields": "time, occurrence:2026-12-14T09:00:00+00:00",
        "what": "reservation-updated",
    },
    NotificationKind.ROOM_DECLINED: {
        "title": TITLE,
        "start": START,
        "rooms": ROOM,
        "reason": "conflict",
        "occurrences": "",
        "outcome": "kept",
    },
    NotificationKind.WRITE_REFUSED: {
        "person": ORGANIZER,
        "environment": "onprem",
        "detail": "update of reservation R-9 refused: <ErrorDataSizeLimitExceeded>",
    },
    NotificationKind.FAULT: {
        "fault": "credentials",
        "person": ORGANIZER,
        "environment": "onprem",
        "failures": 3,
        "detail": "401 Unauthorized <t:Error>",
    },
    NotificationKind.ROOM_COLLISION: {
        "room": ROOM,
        "title": TITLE,
        "start": START,
        "person": ORGANIZER,
        "environment": "onprem",
        "holder": "Comité de direction",
        "outcome": "declined",
        "detail": "room salle.leman@example.ch, item AAMkAD=: declining it failed: <ErrorAccessDenied>",
    },
}
ADMIN_KINDS = {NotificationKind.WRITE_REFUSED, NotificationKind.FAULT, NotificationKind.ROOM_COLLISION}
START_WRITTEN = {
    Language.DE: "Montag, 7. Dezember 2026, 08:00 Uhr",
    Language.FR: "lundi 7 décembre 2026 à 08:00",
    Language.IT: "lunedì 7 dicembre 2026 alle 08:00",
    Language.EN: "Monday 7 December 2026, 08:00",
}


def notice(kind: NotificationKind, language: Language | None = None, **changes: Any) -> Notification:
    values: dict[str, Any] = {
        "kind": kind,
        "recipient": None if kind in ADMIN_KINDS else ORGANIZER,
        "facts": FACTS[kind],
        "reservation_id": None if kind is NotificationKind.FAILURE else "R-9",
        "language": language,
    }
    values.update(changes)
    return Notification(**values)


def test_every_kind_has_facts_here() -> None:
    assert set(FACTS) == set(NotificationKind)


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", list(NotificationKind))
def test_each_template_renders_the_facts_in_each_language(kind: NotificationKind, language: Language) -> None:
    mail = Renderer().render(notice(kind, language))

    assert mail.language is language
    facts = FACTS[kind]
    for part in (mail.subject, mail.text, mail.html):
        assert part.strip()
        assert not re.search(r"\{\{|\}\}|\{%|%\}|\{#|#\}|Undefined", part), part
    if "title" in facts:
        assert TITLE in mail.subject and TITLE in mail.text
        assert "&lt;b&gt;Budget&lt;/b&gt;" in mail.html and "<b>" not in mail.html
    if "start" in facts:
        assert START_WRITTEN[language] in mail.text and START_WRITTEN[language] in mail.html
    if "rooms" in facts:
        assert ROOM in mail.text and ROOM in mail.html
    if kind in ADMIN_KINDS:
        detail = str(facts["detail"])
        assert detail in mail.text and detail.replace("<", "&lt;").replace(">", "&gt;") in mail.html
        assert ORGANIZER in mail.text
    else:
        assert "R-9" in mail.text or kind is NotificationKind.FAILURE
        assert "@" not in mail.text and "onprem" not in mail.text  # nothing internal for organizers
    assert mail.html.startswith("<!DOCTYPE html>") and f'lang="{language.value}"' in mail.html
    if language is Language.DE:
        assert "ß" not in mail.subject + mail.text  # Swiss German spelling


def test_german_is_formal_swiss_german() -> None:
    text = Renderer().render(notice(NotificationKind.CANCELLED, Language.DE)).text
    assert "Ihre Änderungen" in text and "Gemäss" in text and "Reservation" in text


def test_times_are_in_the_persons_zone_when_known() -> None:
    assert when(START, Language.DE) == "Montag, 7. Dezember 2026, 08:00 Uhr"
    assert when(START, Language.EN, "America/New_York") == "Monday 7 December 2026, 02:00"
    assert when(START, Language.FR, "No/Such_Zone") == "lundi 7 décembre 2026 à 08:00"
    mail = Renderer().render(notice(NotificationKind.REJECTED, Language.EN, timezone="Europe/London"))
    assert "Monday 7 December 2026, 07:00" in mail.text


@pytest.mark.parametrize("language", [None, "xx"])
def test_an_unset_or_unknown_language_falls_back_to_the_default(language: str | None) -> None:
    person = notice(NotificationKind.FAILURE)
    unknown = person.model_construct(**{**dict(person), "language": language})  # as an old record might hold

    assert Renderer().render(unknown).language is Language.DE
    assert Renderer(Language.IT).render(unknown).language is Language.IT
    assert "Il Suo calendario" in Renderer(Language.IT).render(unknown).subject


def test_the_persons_language_wins_over_the_default() -> None:
    mail = Renderer(Language.DE).render(notice(NotificationKind.FAILURE, Language.FR))
    assert mail.language is Language.FR and "Votre calendrier" in mail.subject


def test_the_english_log_text_is_that_of_the_english_templates() -> None:
    note = notice(NotificationKind.CONFLICT, Language.DE)
    assert note.subject == f"Change not applied: {TITLE}"
    assert "Your change to" in note.body


# --- the codes of a room's decline and of a collision -----------------------------------------

DECLINED_CODES = {
    "reason": ("conflict", "booking-window", "policy"),
    "outcome": ("cancelled", "kept", "room-removed", "sync-disabled"),
}
COLLISION_OUTCOMES = ("declined", "kept", "decline-failed")
OCCURRENCES = ("2026-12-14T08:00:00+01:00", "2026-12-21T09:30:00+01:00")


def with_each(
    kind: NotificationKind, fact: str, codes: Sequence[str], language: Language, **facts: Any
) -> list[Any]:
    """The mail of ``kind`` with each of ``codes`` as ``fact``, and last with a code no template knows."""
    return [
        Renderer().render(notice(kind, language, facts={**FACTS[kind], **facts, fact: code}))
        for code in (*codes, "no-such-code")
    ]


@pytest.mark.parametrize("occurrences", ["", ",".join(OCCURRENCES)], ids=["whole", "occurrences"])
@pytest.mark.parametrize("fact", list(DECLINED_CODES))
@pytest.mark.parametrize("language", list(Language))
def test_each_reason_and_outcome_of_a_declined_room_has_its_own_words(
    language: Language, fact: str, occurrences: str
) -> None:
    mails = with_each(
        NotificationKind.ROOM_DECLINED, fact, DECLINED_CODES[fact], language, occurrences=occurrences
    )

    for part in ("text", "html"):
        said = [getattr(mail, part) for mail in mails]
        # Each code differs from every other and from an unknown one: none is left unsaid.
        assert len(set(said)) == len(said), (fact, part)


@pytest.mark.parametrize("language", list(Language))
def test_each_declined_occurrence_is_written_as_a_time_in_the_persons_zone(language: Language) -> None:
    facts = {**FACTS[NotificationKind.ROOM_DECLINED], "occurrences": ", ".join(OCCURRENCES)}
    note = notice(NotificationKind.ROOM_DECLINED, language, facts=facts, timezone="Europe/London")
    mail = Renderer().render(note)

    written = [when(occurrence, language, "Europe/London") for occurrence in OCCURRENCES]
    assert [line for line in mail.text.splitlines() if line.startswith("- ")] == [f"- {w}" for w in written]
    assert re.findall(r"<li>(.*?)</li>", mail.html) == written
    assert when(START, language, "Europe/London") in mail.text

    whole = Renderer().render(notice(NotificationKind.ROOM_DECLINED, language))
    assert "<li>" not in whole.html and "\n- " not in whole.text


@pytest.mark.parametrize("language", list(Language))
def test_each_outcome_of_a_room_collision_has_its_own_words(language: Language) -> None:
    mails = with_each(NotificationKind.ROOM_COLLISION, "outcome", COLLISION_OUTCOMES, language)

    for part in ("text", "html"):
        said = [getattr(mail, part) for mail in mails]
        assert len(set(said)) == len(said), part
    for mail in mails:
        assert ROOM in mail.text and "Comité de direction" in mail.text and "onprem" in mail.subject


# --- overrides ------------------------------------------------------------------------------


def test_an_override_folder_wins_and_the_shipped_templates_fill_in(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "conflict.txt").write_text(
        '{% extends "de/_base.txt" %}{% block subject %}Achtung: {{ title }}{% endblock %}'
        "{% block body %}Bitte melden Sie sich beim Empfang.{% endblock %}",
        encoding="utf-8",
    )
    renderer = Renderer(Language.DE, tmp_path)

    mail = renderer.render(notice(NotificationKind.CONFLICT))
    assert mail.subject == f"Achtung: {TITLE}"
    assert mail.text.startswith("Bitte melden Sie sich beim Empfang.")
    assert "Ihre Änderung an" in mail.html  # the shipped HTML part, not overridden
    assert renderer.problems() == []
    assert "Votre modification" in renderer.render(notice(NotificationKind.CONFLICT, Language.FR)).text


def test_a_broken_override_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()
    broken = tmp_path / "fr" / "failure.html"
    broken.write_text("<p>{% if %}</p>", encoding="utf-8")
    renderer = Renderer(Language.DE, tmp_path)

    [problem] = renderer.problems()
    assert str(broken) in problem.message and "line 1" in problem.message
    assert problem.key == "notify.templates"
    with pytest.raises(MailTemplateError, match=r"fr/failure\.html"):
        renderer.render(notice(NotificationKind.FAILURE, Language.FR))


def test_an_override_using_an_unknown_fact_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "failure.txt").write_text(
        "{% block subject %}x{% endblock %}{{ room_number }}", encoding="utf-8"
    )
    with pytest.raises(MailTemplateError, match=r"failure\.txt.*room_number.*not a fact"):
        Renderer(Language.EN, tmp_path).render(notice(NotificationKind.FAILURE))


def test_an_override_without_subject_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "failure.txt").write_text("Hello", encoding="utf-8")
    with pytest.raises(MailTemplateError, match=r"failure\.txt has no 'subject' block"):
        Renderer(Language.EN, tmp_path).render(notice(NotificationKind.FAILURE))


def test_a_missing_override_folder_is_a_configuration_problem(tmp_path: Path) -> None:
    config = tmp_path / "roomsync.toml"
    settings = settings_from_mapping({"notify": {"language": "fr", "templates": "mail"}})
    settings = settings.model_copy(update={"source": config})

    [problem] = roomsync_config_problems(settings)
    assert problem.key == "notify.templates" and problem.file == str(config)
    assert str(tmp_path / "mail") in problem.message and "not a folder" in problem.message
    renderer = renderer_for(settings)
    assert renderer.default is Language.FR and renderer.overrides == tmp_path / "mail"


def test_notify_configuration_defaults_to_german_and_checks_the_language() -> None:
    assert Settings().notify.language is Language.DE and Settings().notify.templates is None
    with pytest.raises(Exception, match=r"notify\.language"):
        settings_from_mapping({"notify": {"language": "de-CH"}})


# --- through a real SMTP server -------------------------------------------------------------


class RawCollector(Collector):
    """Keeps each message as it came over the wire, too."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def collector() -> RawCollector:
    return RawCollector()


@pytest.fixture
def server(collector: Collector) -> Iterator[Controller]:
    with running(Controller(collector, hostname="127.0.0.1", port=free_port())) as controller:
        yield controller


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    # Over the wire lines end in CRLF.
    return tuple(str(part.get_content()).replace("\r\n", "\n") for part in (text, html))  # type: ignore[return-value]


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", list(NotificationKind))
def test_each_mail_is_multipart_alternative_with_an_encoded_subject(
    server: Controller, collector: Collector, kind: NotificationKind, language: Language
) -> None:
    config = SmtpConfig(
        host="127.0.0.1", port=server.port, sender="roomsync@example.ch", admin=["ops@example.ch"]
    )
    notifier = SmtpNotifier(config, Renderer(language))
    assert notifier.send(notice(kind, language))

    [(_, rcpt_tos, message)] = collector.messages
    assert rcpt_tos == (["ops@example.ch"] if kind in ADMIN_KINDS else [ORGANIZER])
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == language.value
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    expected = Renderer(language).render(notice(kind, language))
    assert text == expected.text and html == expected.html
    assert message["Subject"] == expected.subject  # decoded from its encoded words
    if "title" in FACTS[kind]:
        assert TITLE in message["Subject"] and "&lt;b&gt;" in html


def test_umlauts_and_accents_in_the_subject_are_encoded_words(
    server: Controller, collector: RawCollector
) -> None:
    config = SmtpConfig(host="127.0.0.1", port=server.port, sender="roomsync@example.ch")
    for language in (Language.DE, Language.FR):
        assert SmtpNotifier(config, Renderer()).send(notice(NotificationKind.CONFLICT, language))

    for data in collector.raw:
        subject_line = data.split(b"\nSubject: ", 1)[1].split(b"\r\n", 1)[0]
        assert subject_line.isascii() and b"=?utf-8?" in subject_line
    assert [message["Subject"] for _, _, message in collector.messages] == [
        f"Änderung nicht übernommen: {TITLE}",
        f"Modification non appliquée\u00a0: {TITLE}",
    ]


# --- the values a not-written reservation holds beyond the limits ---------------------------

ZURICH = ZoneInfo("Europe/Zurich")
OCCURRENCE = datetime(2026, 12, 8, 8, tzinfo=ZURICH)
GUEST = "gast@example.ch"
EARLIEST, LATEST = datetime(1601, 1, 1, 12, tzinfo=ZURICH), datetime(4501, 1, 1, 12, tzinfo=ZURICH)
# One problem of each code, and each value a problem can be about.
PROBLEMS = {
    "too-long": Problem(Code.TOO_LONG, Where.TITLE, 300, 255),
    "too-long in an occurrence": Problem(
        Code.TOO_LONG, Where.OCCURRENCE_TITLE, 256, 255, occurrence=OCCURRENCE
    ),
    "character": Problem(Code.CHARACTER, Where.TITLE, 4, character=0x01),
    "character in the description": Problem(Code.CHARACTER, Where.DESCRIPTION, 17, character=0x0B),
    "character in a name": Problem(
        Code.CHARACTER, Where.PARTICIPANT_NAME, 2, character=0xFFFE, participant=GUEST
    ),
    "too-many-attendees": Problem(Code.TOO_MANY_ATTENDEES, Where.PARTICIPANTS, 501, 500),
    "too-early": Problem(Code.TOO_EARLY, Where.START, datetime(1500, 3, 2, 9, tzinfo=ZURICH), EARLIEST),
    "too-late": Problem(Code.TOO_LATE, Where.END, datetime(4600, 3, 2, 10, tzinfo=ZURICH), LATEST),
    "too-late, the series": Problem(
        Code.TOO_LATE, Where.SERIES_END, datetime(4502, 1, 1, tzinfo=ZURICH), LATEST
    ),
    "too-early, an occurrence": Problem(
        Code.TOO_EARLY,
        Where.OCCURRENCE_START,
        datetime(1600, 6, 1, 9, tzinfo=ZURICH),
        EARLIEST,
        occurrence=OCCURRENCE,
    ),
    "too-late, an occurrence": Problem(
        Code.TOO_LATE,
        Where.OCCURRENCE_END,
        datetime(4501, 6, 1, 9, tzinfo=ZURICH),
        LATEST,
        occurrence=OCCURRENCE,
    ),
}
# The engine's English, which only the log and the administrators read.
ENGLISH_REASONS = re.compile(
    r"characters long|are taken|cannot be sent|with the rooms|a meeting takes|is before|is not before|U\+"
    r"|name of participant|of the occurrence of|did not accept"
)


def not_written(*found: Problem, language: Language) -> Notification:
    why = "; ".join(f"its {p.field} {p.reason}" for p in found)
    facts = {"title": TITLE, "start": START, "why": why, **problem_facts(list(found), ZURICH)}
    return notice(NotificationKind.NOT_WRITTEN, language, facts=facts)


def numbers(problem: Problem, language: Language) -> list[str]:
    """What the person must read of ``problem``: its numbers and times, as their language writes them."""
    said = [
        when(value.isoformat(), language) if isinstance(value, datetime) else str(value)
        for value in (problem.value, problem.limit, problem.occurrence)
        if value is not None
    ]
    return [*said, problem.participant] if problem.participant else said


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("case", list(PROBLEMS))
def test_each_problem_is_one_sentence_in_the_persons_language_over_smtp(
    server: Controller, collector: Collector, case: str, language: Language
) -> None:
    problem = PROBLEMS[case]
    config = SmtpConfig(host="127.0.0.1", port=server.port, sender="roomsync@example.ch")
    assert SmtpNotifier(config, Renderer()).send(not_written(problem, language=language))

    [(_, _, message)] = collector.messages
    text, html = parts(message)
    assert message["Content-Language"] == language.value
    for part in (text, html):
        assert language is Language.EN or not ENGLISH_REASONS.search(part), part
        assert problem.reason not in part and str(problem) not in part
        for said in numbers(problem, language):
            assert said in part, (said, part)
    [sentence] = [line for line in text.splitlines() if line.startswith("- ")]
    assert sentence.endswith(".") and html.count("<li>") == 1
    assert "ROOMS" in text and START_WRITTEN[language] in text
    if language is not Language.EN:
        assert not re.search(r"\b(?:the|is|takes|characters|before)\b", sentence), sentence
    if language is Language.DE:
        assert "ß" not in text


def test_several_problems_are_one_sentence_each_in_their_order() -> None:
    found = [PROBLEMS["too-long"], PROBLEMS["character in a name"], PROBLEMS["too-many-attendees"]]
    mail = Renderer().render(not_written(*found, language=Language.DE))

    assert [line for line in mail.text.splitlines() if line.startswith("- ")] == [
        "- Der Titel ist 300 Zeichen lang; Outlook nimmt höchstens 255 an.",
        f"- Der für {GUEST} angegebene Name enthält an der 2. Stelle ein unsichtbares Zeichen, das Outlook "
        "nicht annimmt.",
        "- Die Besprechung zählt mit den Räumen 501 Teilnehmende; Outlook nimmt höchstens 500 an.",
    ]
    assert mail.html.count("<li>") == 3


def test_an_address_in_a_problem_is_escaped_in_the_html_part() -> None:
    odd = Problem(Code.CHARACTER, Where.PARTICIPANT_NAME, 1, character=1, participant="<b>x</b>@example.ch")
    mail = Renderer().render(not_written(odd, language=Language.FR))
    assert "<b>x</b>@example.ch" in mail.text
    assert "&lt;b&gt;x&lt;/b&gt;@example.ch" in mail.html and "<b>" not in mail.html


def test_the_times_of_a_problem_are_in_the_persons_zone() -> None:
    late = Problem(Code.TOO_LATE, Where.START, datetime(4600, 3, 2, 10, tzinfo=ZURICH), LATEST)
    note = not_written(late, language=Language.EN).model_copy(update={"timezone": "America/New_York"})
    text = Renderer().render(note).text
    assert "The start (Sunday 2 March 4600, 04:00) is too late" in text
    assert "before Saturday 1 January 4501, 06:00" in text


@pytest.mark.parametrize("language", list(Language))
def test_without_a_problem_the_server_refused_a_value_in_the_persons_language(language: Language) -> None:
    facts = {"title": TITLE, "start": START, "why": "the calendar server did not accept one of its values"}
    mail = Renderer().render(notice(NotificationKind.NOT_WRITTEN, language, facts=facts))

    refused = {
        Language.DE: "Der Kalenderserver hat einen ihrer Werte nicht angenommen.",
        Language.FR: "le serveur de calendrier n'a pas accepté l'une de ses valeurs.",
        Language.IT: "il server del calendario non ha accettato uno dei suoi valori.",
        Language.EN: "the calendar server did not accept one of its values.",
    }[language]
    assert refused in mail.text and refused in mail.html
    assert "<li>" not in mail.html and "\n- " not in mail.text


@pytest.mark.parametrize("language", [Language.DE, Language.FR, Language.IT])
def test_the_fields_a_mail_names_are_words_of_its_language(language: Language) -> None:
    text = Renderer().render(notice(NotificationKind.REPAIRED, language)).text
    assert "time" not in text and "occurrence:" not in text
    assert "14" in text and "12" in text and "2026" in text  # the occurrence's day
