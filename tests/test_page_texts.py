"""The texts a page view puts on the page itself (a notice, an error, a message handed to
render_template) come from the catalogues: an English literal or an f-string there stays
English for a French or Arabic reader, and no catalogue test sees it (they read
templates, scripts and the gettext calls)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE_TEXT_KEYWORDS = {"notice", "error", "message", "description", "deployment_error"}


def untranslated_page_texts(source: str, name: str = "<test>") -> list[str]:
    """`notice=` / `error=` / `message=` / `description=` keyword arguments given a text
    literal or an f-string (a one-word literal is a code the template maps, e.g.
    notice="password_set")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            value = keyword.value
            literal = isinstance(value, ast.Constant) and isinstance(value.value, str)
            if keyword.arg in PAGE_TEXT_KEYWORDS and (
                (literal and " " in value.value) or isinstance(value, ast.JoinedStr)
            ):
                found.append(f"{name}:{node.lineno}: {keyword.arg}={ast.unparse(value)[:60]}")
    return found


def test_the_guard_sees_literals_and_f_strings_but_not_translated_texts():
    assert untranslated_page_texts('render("p", notice=f"Sent to {a}.")')
    assert untranslated_page_texts('render("p", error="the file must be UTF-8")')
    assert not untranslated_page_texts('render("p", error=gettext("the file must be UTF-8"))')
    assert not untranslated_page_texts('render("p", error=exc.shown, notice=None, message="")')


def test_page_views_show_only_translated_texts():
    views = [
        *ROOT.glob("portal/web/*.py"),
        *ROOT.glob("plugins/*/portal_*/views.py"),
        *ROOT.glob("plugins/*/portal_*/admin.py"),
    ]
    found = [
        problem
        for path in sorted(views)
        for problem in untranslated_page_texts(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, "page texts not from the catalogues:\n" + "\n".join(found)
