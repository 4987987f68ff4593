"""The same journey (sign in, dashboard, class page, room with chat and a poll) in French and
in Arabic: no English string of the catalogue on screen outside user data, French and
Arabic times, and the Arabic pages laid out right to left. Screenshots on failure come from
the new_context fixture (test-output/)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from portal.core.models import User
from portal.extensions import db

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WORDS = {
    "fr": {
        "email": "E-mail",
        "password": "Mot de passe",
        "sign_in": "Se connecter",
        "new_poll": "Nouveau sondage",
        "answers": "Réponses (une par ligne)",
        "create": "Créer et ouvrir",
        "vote": "Voter",
        "send": "Envoyer",
        "voted": "Vote enregistré.",
        "start": "Commencer le cours",
        "open_tab": "Ouvrir le cours dans un nouvel onglet",
    },
    "ar": {
        "email": "البريد الإلكتروني",
        "password": "كلمة المرور",
        "sign_in": "تسجيل الدخول",
        "new_poll": "استطلاع جديد",
        "answers": "الإجابات (واحدة في كل سطر)",
        "create": "أنشئ وافتح",
        "vote": "صوّت",
        "send": "إرسال",
        "voted": "سُجل التصويت.",
        "start": "ابدأ الحصة",
        "open_tab": "افتح الحصة في علامة تبويب جديدة",
    },
}


def english_phrases(language: str) -> list[re.Pattern]:
    """The English catalogue's literal phrases whose translation differs (a word French
    shares with English, "Message", is not a leftover), split at placeholders."""
    with (ROOT / "portal/translations" / language / "LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    phrases = set()
    for message in catalog:
        if not message.id or isinstance(message.id, tuple):
            continue
        if message.string == message.id:
            continue
        for part in re.split(r"%\(\w+\)[sd]|\{\w+\}", message.id):
            part = part.strip(" .,:;()“”")
            if len(part) >= 4 and re.search(r"[A-Za-z]{3,}", part):
                phrases.add(part)
    # A phrase that is also a word of the language ("Vote" in "Vote enregistré.") is no sign.
    translated = "\n".join(
        form
        for m in catalog
        if m.id
        for form in (m.string if isinstance(m.string, tuple) else (m.string,))
    )
    patterns = [re.compile(r"(?<![A-Za-z])" + re.escape(p) + r"(?![A-Za-z])") for p in phrases]
    return [p for p in patterns if not p.search(translated)]


def english_on(page, phrases, user_data) -> list[str]:
    text = page.evaluate("document.body.innerText")
    for value in user_data:
        text = text.replace(value, " ")
    return sorted({p.pattern for p in phrases if p.search(text)})


def speaking(live_server, user, language):
    with live_server.app.app_context():
        db.session.get(User, user.id).locale = language
        db.session.commit()


def sign_in_as(context, email, words, next_path):
    page = context.new_page()
    page.goto(f"/login?next={next_path}")
    page.get_by_label(words["email"]).fill(email)
    page.get_by_label(words["password"]).fill("correct-horse-battery")
    page.get_by_role("button", name=words["sign_in"]).click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_class_journey_speaks_the_users_language(live_server, new_context, language):
    words = WORDS[language]
    phrases = english_phrases(language)
    live_server.fake_backend_config()
    teacher = live_server.user("teacher", "Tess Teacher")
    student = live_server.user("student", "Sam Student")
    speaking(live_server, teacher, language)
    speaking(live_server, student, language)
    class_id, sid = live_server.class_with(
        teacher, [student], title="Physique", starts_in=timedelta(minutes=-1)
    )
    user_data = ["Physique", "Tess Teacher", "Sam Student", "Europe/Paris", "Fake", "Lumière ?",
                 "Oui", "Non", "Les deux, selon l'expérience", "fake.example"]  # fmt: skip

    # The login page: the browser asks for the language (Accept-Language).
    context = new_context()
    context.set_extra_http_headers({"Accept-Language": language})
    student_page = sign_in_as(context, student.email, words, "/")
    html = student_page.locator("html")
    expect(html).to_have_attribute("lang", language)
    expect(html).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
    assert english_on(student_page, phrases, user_data) == []

    # Mirrored in Arabic: the school's name on the right of the header, the menu on its left.
    brand = student_page.locator("header .brand").bounding_box()
    nav = student_page.locator("header nav").bounding_box()
    assert brand and nav
    if language == "ar":
        assert brand["x"] > nav["x"] + nav["width"] - 1
    else:
        assert brand["x"] + brand["width"] < nav["x"] + 1

    student_page.goto(f"/classes/{class_id}")
    expect(student_page.locator("h1")).to_contain_text("Physique")
    assert english_on(student_page, phrases, user_data) == []

    teacher_context = new_context()
    teacher_context.set_extra_http_headers({"Accept-Language": language})
    teacher_page = sign_in_as(teacher_context, teacher.email, words, f"/schedules/{sid}")
    with teacher_page.context.expect_page():
        teacher_page.get_by_role("button", name=words["start"]).click()
    student_page.goto(f"/schedules/{sid}")
    expect(student_page.get_by_role("link", name=words["open_tab"])).to_be_visible()

    teacher_page.get_by_text(words["new_poll"]).click()
    teacher_page.locator("#poll-question").fill("Lumière ?")
    teacher_page.get_by_role("textbox", name=words["answers"]).fill("Oui\nNon")
    teacher_page.get_by_role("button", name=words["create"]).click()
    poll = student_page.locator("#panel-polls form.poll-vote")
    expect(poll).to_contain_text("Lumière ?", timeout=15_000)
    poll.get_by_label("Oui").check()
    poll.get_by_role("button", name=words["vote"]).click()
    expect(student_page.locator("#flash")).to_contain_text(words["voted"])
    student_page.locator("#chat-text").fill("Les deux, selon l'expérience")
    student_page.get_by_role("button", name=words["send"], exact=True).click()
    message = teacher_page.locator("#chat-log li").first
    expect(message).to_contain_text("Les deux, selon l'expérience", timeout=15_000)

    # Chat times: the page's language and zone, 24-hour in French, never "AM"/"PM".
    shown = student_page.locator("#chat-log time").first.inner_text()
    assert not re.search(r"AM|PM", shown)
    if language == "fr":
        assert re.fullmatch(r"\d{2}:\d{2}", shown), shown
    for page in (student_page, teacher_page):
        assert english_on(page, phrases, user_data) == [], page.url
