"""Languages: which language a request gets (the user's choice, else Accept-Language, else
the school's default), what the pages and the API then say, and the catalogues' completeness
(every string of a template, a page script or an email translated in fr, es and ar)."""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from portal_testing import PASSWORD, sign_in

from portal.extensions import db

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("fr", "es", "ar")


def _catalogue_script():
    """scripts/i18n.py, which `make i18n-update` runs: the test extracts with its keywords."""
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _catalogue_script()
# "ngettext:1,2" -> {"ngettext": (1, 2)}; a bare name extracts its first argument.
KEYWORDS = {
    name: tuple(int(i) for i in spec.split(",")) if spec else None
    for name, _sep, spec in (keyword.partition(":") for keyword in SCRIPT.KEYWORDS)
}
# (sources, method map, translations directory, domain): the core's and each plugin's.
METHODS = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.txt", "jinja2"),
    ("**/static/**.js", "javascript"),
]


def _package(plugin: Path) -> Path:
    return next(p for p in plugin.glob("portal_*") if p.is_dir() and p.suffix != ".egg-info")


def _domains():
    # Plugins without a catalogue of their own have their error messages in the core's.
    borrowing = [
        _package(plugin)
        for plugin in sorted(ROOT.glob("plugins/*/"))
        if not (plugin / "babel.cfg").exists() and any(plugin.glob("portal_*"))
    ]
    yield (ROOT / "portal", *borrowing), ROOT / "portal" / "translations", "messages"
    for config in sorted(ROOT.glob("plugins/*/babel.cfg")):
        package = _package(config.parent)
        yield (package,), package / "translations", package.name


def _extracted(sources: tuple[Path, ...], keywords=KEYWORDS) -> set[str]:
    methods = [(pattern, method) for pattern, method in METHODS if "vendor" not in pattern]
    found = set()
    for source in sources:
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(source),
            method_map=methods,
            keywords=keywords,
            options_map={"**/vendor/**": {}},
        ):
            if "vendor/" in _file:
                continue
            found.add(message if isinstance(message, str) else message[0])
    return found


@functools.cache
def _python_sources() -> dict[Path, str]:
    """The text of every Python file of the portal and the plugins, read once for the tests."""
    paths = [*ROOT.glob("portal/**/*.py"), *ROOT.glob("plugins/*/portal_*/**/*.py")]
    return {path: path.read_text() for path in sorted(paths)}


_TREES: dict[str, ast.Module] = {}


def _tree(source: str, filename: str = "<unknown>") -> ast.Module:
    """`source` parsed once for this module: three of its tests walk every file of the portal
    and the plugins (parsing them all took ~1.2 s of CPU each time). The trees are only read."""
    tree = _TREES.get(source)
    if tree is None:
        tree = _TREES[source] = ast.parse(source, filename)
    return tree


@functools.cache
def _read_catalogue(po: Path, language: str):
    """A catalogue (.po) parsed once for this module's tests, which only read it."""
    with po.open("rb") as fh:
        return read_po(fh, locale=language)


def _error_classes() -> dict[str, str]:
    """Every PortalError subclass defined in the portal and the plugins, {name: file}, read
    from the sources (no import): the classes whose first argument is an API message."""
    bases: dict[str, set[str]] = {}
    where: dict[str, str] = {}
    for path, text in _python_sources().items():
        for node in ast.walk(_tree(text, str(path))):
            if isinstance(node, ast.ClassDef):
                names = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                bases.setdefault(node.name, set()).update(names)
                where[node.name] = str(path.relative_to(ROOT))
    errors = {"PortalError"}
    while True:
        more = {name for name, parents in bases.items() if parents & errors} - errors
        if not more:
            return {name: where[name] for name in sorted(errors)}
        errors |= more


def test_every_error_class_is_an_extraction_keyword():
    """`raise Conflict("...")` is in the catalogues only if Conflict is a keyword of the
    extraction: a new error class must join scripts/i18n.py's ERROR_CLASSES."""
    missing = {name: path for name, path in _error_classes().items() if name not in KEYWORDS}
    assert not missing, f"error classes missing from scripts/i18n.py ERROR_CLASSES: {missing}"


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]|\{(\w+)\}", text))


@pytest.mark.parametrize("source, directory, domain", list(_domains()), ids=lambda v: str(v))
def test_every_extracted_string_is_translated_in_every_language(source, directory, domain):
    extracted = _extracted(source)
    assert extracted, f"nothing extracted from {source}"
    problems = _untranslated(extracted, directory, domain)
    assert not problems, "\n".join(problems[:40])


ERROR_KEYWORDS = {
    name: spec
    for name, spec in KEYWORDS.items()
    if name in getattr(SCRIPT, "ERROR_CLASSES", ())
    or f"{name}:" in " ".join(getattr(SCRIPT, "ERROR_FUNCTIONS", ()))
}


@pytest.mark.parametrize("source, directory, domain", list(_domains()), ids=lambda v: str(v))
def test_every_api_error_message_is_translated_in_every_language(source, directory, domain):
    """Every `raise Conflict("...")` (any PortalError) and error_response(...) message of the
    portal and the plugins is in its domain's catalogue, translated in fr, es and ar."""
    extracted = _extracted(source, ERROR_KEYWORDS)
    problems = _untranslated(extracted, directory, domain)
    assert not problems, "\n".join(problems[:40])


def _untranslated(extracted: set[str], directory: Path, domain: str) -> list[str]:
    problems = []
    for language in LANGUAGES:
        po = directory / language / "LC_MESSAGES" / f"{domain}.po"
        assert po.exists(), f"{po} is missing: run make i18n-update"
        catalog = _read_catalogue(po, language)
        for message_id in sorted(extracted):
            entry = catalog.get(message_id)
            if entry is None:
                problems.append(f"{language}: not in the catalogue: {message_id!r}")
                continue
            forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
            if entry.fuzzy or not all(forms):
                problems.append(f"{language}: untranslated or fuzzy: {message_id!r}")
            elif any(not _placeholders(form) <= _placeholders(" ".join(ids)) for form in forms):
                problems.append(f"{language}: unknown placeholder in: {message_id!r}")
            elif len(forms) == 1 and _placeholders(forms[0]) != _placeholders(message_id):
                problems.append(f"{language}: placeholders differ: {message_id!r}")
    return problems


JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
NOT_TEXT = re.compile(r"<(script|style)\b.*?</\1>|<!--.*?-->", re.S | re.I)
VISIBLE_ATTRIBUTE = re.compile(r'\b(placeholder|aria-label|alt|title|data-text-[a-z-]+)="([^"]*)"')
WORD = re.compile(r"[A-Za-z]{2,}")


def visible_english(template: str) -> list[str]:
    """Text nodes and visible attributes with letters left once every Jinja expression and
    tag is removed: English that does not go through _()."""
    source = NOT_TEXT.sub(" ", template)
    found = [v for _n, v in VISIBLE_ATTRIBUTE.findall(source) if WORD.search(JINJA.sub("", v))]
    bare = re.sub(r"<[^>]*>", "\0", JINJA.sub("\0", source))
    for chunk in bare.split("\0"):
        chunk = re.sub(r"&\w+;", " ", chunk).strip()
        if WORD.search(chunk):
            found.append(chunk)
    return found


def test_the_heuristic_finds_english_outside_gettext():
    assert visible_english('<p>Hello {{ name }}</p><input placeholder="Your name">') == [
        "Your name",
        "Hello",
    ]
    assert visible_english('<p>{{ _("Hello %(n)s", n=name) }}</p><b title="{{ _(\'x\') }}">') == []


def test_templates_have_no_visible_english_outside_gettext():
    templates = sorted(ROOT.glob("portal/web/templates/**/*.html")) + sorted(
        ROOT.glob("plugins/*/portal_*/templates/**/*.html")
    )
    assert len(templates) > 30
    leftovers = [f"{t.relative_to(ROOT)}: {text[:80]!r}" for t in templates for text in
                 visible_english(t.read_text())]  # fmt: skip
    assert not leftovers, "\n".join(leftovers)


STRING = re.compile(r'(?<![\\\w])"((?:[^"\\\n]|\\.)*)"')


def test_page_scripts_have_no_english_sentences_outside_portal_t():
    """A sentence-like literal (two words) in a page script must be a Portal.t argument;
    class names, selectors and console messages are not shown to people."""
    scripts = [
        p
        for p in sorted(ROOT.glob("portal/web/static/js/*.js"))
        + sorted(ROOT.glob("plugins/*/portal_*/static/*.js"))
        if "vendor" not in p.parts
    ]
    leftovers = []
    for script in scripts:
        for number, line in enumerate(script.read_text().splitlines(), 1):
            if line.strip().startswith(("//", "*", "/*")) or "console." in line:
                continue
            for match in STRING.finditer(line):
                text, before = match.group(1), line[: match.start()]
                if re.search(r"Portal\.n?t\(\s*$|Portal\.nt\(\"[^\"]*\",\s*$", before):
                    continue
                if re.search(r"(class|className)\s*:\s*$|querySelector(All)?\(\s*$", before):
                    continue
                if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", text) and not re.match(
                    r"^[a-z-]+( [a-z-]+)*$", text
                ):
                    leftovers.append(f"{script.relative_to(ROOT)}:{number}: {text!r}")
    assert not leftovers, "\n".join(leftovers)


# A message cut into pieces around a value (`Portal.t("Delete ") + name`, `{{ _("For") }}
# {{ email }}`): a translator cannot reorder the pieces, so each must be one message with
# placeholders (`Portal.t("Delete %(name)s?", {name})`).
SCRIPT_FRAGMENT = re.compile(r'Portal\.n?t\("(?:\s[^"]*|[^"]*(?:\s|\(|\\"))"\)')
TEMPLATE_FRAGMENT = re.compile(
    r'_\("[^"]*"\) \}\}\s*\{\{ (?!_\(|ngettext\()|\}\}\{\{ _\("|_\("(?:[\s.,”][^"]*|[^"]*[\s“])"\)'
)


def test_the_heuristic_finds_messages_cut_around_a_value():
    assert SCRIPT_FRAGMENT.search('text: Portal.t("Settings of ") + config.name')
    assert SCRIPT_FRAGMENT.search('name + Portal.t(" is unblocked.")')
    assert SCRIPT_FRAGMENT.search('Portal.t("refused (HTTP ") + status + ")"')
    assert not SCRIPT_FRAGMENT.search('Portal.t("Settings of %(name)s", { name }) + "."')
    assert not SCRIPT_FRAGMENT.search('" " + Portal.t("(sign in again)")')
    assert TEMPLATE_FRAGMENT.search('{{ _("For") }} {{ user.email }}')
    assert TEMPLATE_FRAGMENT.search('{{ _("Join “") }}{{ title }}{{ _("” as a guest") }}')
    assert not TEMPLATE_FRAGMENT.search('{{ _("Last 7 days:") }} {{ _("%(n)s sent", n=1) }}')


def test_messages_are_whole_sentences_with_placeholders():
    sources = [
        p
        for pattern in (
            "portal/web/static/js/*.js",
            "plugins/*/portal_*/static/*.js",
            "portal/web/templates/**/*.html",
            "plugins/*/portal_*/templates/**/*.html",
        )
        for p in sorted(ROOT.glob(pattern))
        if "vendor" not in p.parts
    ]
    cut = [
        f"{source.relative_to(ROOT)}:{number}: {match.group(0)!r}"
        for source in sources
        for number, line in enumerate(source.read_text().splitlines(), 1)
        for match in (SCRIPT_FRAGMENT if source.suffix == ".js" else TEMPLATE_FRAGMENT).finditer(
            line
        )
    ]
    assert not cut, "\n".join(cut)


def _page(client, path, **headers):
    return client.get(path, headers={"Accept": "text/html", **headers}).get_data(as_text=True)


def _page_sign_in(client, user, **headers):
    return client.post("/login", data={"email": user.email, "password": PASSWORD}, headers=headers)


def test_the_browsers_language_is_used_among_the_portals(client):
    french = _page(client, "/login", **{"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in french and "Mot de passe oublié ?" in french
    arabic = _page(client, "/login", **{"Accept-Language": "ar-EG"})
    assert '<html lang="ar" dir="rtl">' in arabic and "تسجيل الدخول" in arabic
    # A language the portal does not have: the school's default (English here).
    german = _page(client, "/login", **{"Accept-Language": "de-DE,de"})
    assert '<html lang="en" dir="ltr">' in german and "Forgot password?" in german


def test_the_sites_default_language_is_an_admin_setting(client, school, login):
    admin = login(school.admin)
    bad = admin.patch("/api/admin/settings", json={"default_locale": "xx"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_locale"
    changed = admin.patch("/api/admin/settings", json={"default_locale": "es"})
    assert changed.status_code == 200 and changed.get_json()["default_locale"] == "es"
    spanish = _page(client, "/login", **{"Accept-Language": "de"})
    assert '<html lang="es"' in spanish and "¿Olvidó su contraseña?" in spanish
    # The browser's choice among the portal's languages still comes first.
    assert '<html lang="fr"' in _page(client, "/login", **{"Accept-Language": "fr"})


def test_the_users_own_language_wins_and_shows_in_the_profile(client, school, login):
    api = login(school.student)
    chosen = api.patch(f"/api/users/{school.student.id}", json={"locale": "fr"})
    assert chosen.status_code == 200 and chosen.get_json()["locale"] == "fr"
    assert api.get("/api/auth/me").get_json().get("locale", "fr") == "fr"
    refused = api.patch(f"/api/users/{school.student.id}", json={"locale": "klingon"})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_locale"

    assert _page_sign_in(client, school.student).status_code in (302, 303)
    dashboard = _page(client, "/", **{"Accept-Language": "es"})
    assert '<html lang="fr"' in dashboard and "Vos cours" in dashboard
    profile = _page(client, "/profile", **{"Accept-Language": "es"})
    assert '<option value="fr" lang="fr" selected>Français</option>' in profile

    back = api.patch(f"/api/users/{school.student.id}", json={"locale": ""})
    assert back.status_code == 200 and back.get_json()["locale"] is None
    db.session.expire_all()
    assert '<html lang="es"' in _page(client, "/", **{"Accept-Language": "es"})


def test_api_errors_keep_their_code_and_speak_the_language(client, school):
    api = sign_in(client, school.student)
    english = api.patch(f"/api/users/{school.student.id}", json={"locale": "xx"})
    french = client.patch(
        f"/api/users/{school.student.id}",
        json={"locale": "xx"},
        headers={**api._headers(), "Accept-Language": "fr"},
    )
    assert english.get_json()["error"]["code"] == french.get_json()["error"]["code"]
    assert english.get_json()["error"]["message"].startswith("unknown language")
    assert french.get_json()["error"]["message"].startswith("langue inconnue")


def _catalogue(language: str, domain_directory: Path = ROOT / "portal" / "translations"):
    return _read_catalogue(domain_directory / language / "LC_MESSAGES" / "messages.po", language)


def _student_errors(client, school, language: str) -> list[tuple[int, str, str]]:
    """(status, code, message) of a sample of the student's failing API calls, with the
    student's own language set to `language`."""
    student = sign_in(client, school.student)
    chosen = student.patch(f"/api/users/{school.student.id}", json={"locale": language})
    assert chosen.status_code == 200, chosen.get_json()
    schedule = school.schedule.id
    answers = [
        student.get("/api/schedules/2147483000"),  # 404
        student.post(f"/api/schedules/{schedule}/join"),  # 409: the teacher has not started
        student.post(f"/api/schedules/{schedule}/start"),  # 403: students do not start classes
        client.patch(  # 400: a body that is not a JSON object
            f"/api/users/{school.student.id}", json=[1], headers=student._headers()
        ),
        client.get("/api/no-such-endpoint", headers=student._headers()),  # 404 of Flask
    ]
    return [
        (a.status_code, a.get_json()["error"]["code"], a.get_json()["error"]["message"])
        for a in answers
    ]


def test_api_error_messages_are_translated_with_the_same_codes(client, school):
    """A French or Arabic speaker reads the API's errors (404, 409, 403, 400) in their
    language; the status and the `code` stay the English identifiers programs test."""
    english = _student_errors(client, school, "en")
    assert [(status, code) for status, code, _m in english] == [
        (404, "not_found"),
        (409, "not_started"),
        (403, english[2][1]),
        (400, "invalid_json"),
        (404, "not_found"),
    ]
    for language in ("fr", "ar"):
        catalog = _catalogue(language)
        spoken = _student_errors(client, school, language)
        for (status, code, message), (status_l, code_l, message_l) in zip(
            english, spoken, strict=True
        ):
            assert (status_l, code_l) == (status, code)
            entry = catalog.get(message)
            assert entry is not None and entry.string, f"{language}: {message!r} not translated"
            assert message_l == entry.string != message


def test_an_error_message_with_a_value_is_translated_around_the_value(client, school):
    """\"this class opens for students at <time> UTC\" is one sentence per language with the
    time inside, not an English f-string."""
    from datetime import timedelta

    from portal.core import meetings
    from portal.core.models import Schedule
    from portal.core.types import utcnow

    schedule = db.session.get(Schedule, school.schedule.id)
    starts_at = (utcnow() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    schedule.starts_at, schedule.ends_at = starts_at, starts_at + timedelta(hours=1)
    db.session.commit()
    opens_at = meetings.join_opens_at(schedule, False).isoformat(timespec="minutes")
    template = "this class opens for students at %(time)s UTC"
    for language in ("en", "fr", "ar"):
        student = sign_in(client, school.student)
        student.patch(f"/api/users/{school.student.id}", json={"locale": language})
        early = student.post(f"/api/schedules/{schedule.id}/join")
        assert early.status_code == 409
        error = early.get_json()["error"]
        assert error["code"] == "not_open_yet"
        translated = template if language == "en" else _catalogue(language).get(template).string
        assert translated and error["message"] == translated % {"time": opens_at}


def test_the_page_scripts_catalogue_is_served_per_language_and_revalidated(client):
    served = client.get("/i18n/fr.js")
    assert served.status_code == 200 and served.mimetype == "text/javascript"
    body = served.get_data(as_text=True)
    assert (
        body.startswith("window.PORTAL_I18N = ") and '"Vote recorded.": "Vote enregistré."' in body
    )
    assert '"plurals": [0, 0, 2, 2' in body  # French: 0 and 1 are singular
    again = client.get("/i18n/fr.js", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    arabic = client.get("/i18n/ar.js").get_data(as_text=True)
    assert '"dir": "rtl"' in arabic and '"plurals": [0, 1, 2, 3' in arabic
    assert client.get("/i18n/xx.js").status_code == 404
    page = _page(client, "/login", **{"Accept-Language": "fr"})
    assert re.search(r'<script src="/i18n/fr\.js\?v=\w+" defer></script>', page)


def test_the_command_lines_summaries_speak_the_schools_language(app, school, login):
    """`portal users create` and `portal demo` print for the school's staff, in its language."""
    from portal.cli import _register_commands

    _register_commands(app)
    admin = login(school.admin)
    assert admin.patch("/api/admin/settings", json={"default_locale": "fr"}).status_code == 200
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["users", "create", "--email", "cli@tests.school", "--name", "Cli"]
        + ["--role", "teacher", "--password", "a-long-password"]
    )
    assert created.exit_code == 0, created.output
    assert created.output.startswith("enseignant cli@tests.school créé (id ")
    demo = runner.invoke(args=["demo"])
    assert demo.exit_code == 0, demo.output
    assert "la démonstration n'est pas recréée" in demo.output
    assert "Comptes de démonstration (mot de passe 'demo-password-1') :" in demo.output


# The calls whose argument is a message to look up in a catalogue: gettext's names (ngettext's
# first two arguments), every error class (first argument) and error_response (third).
TRANSLATED_ARGUMENTS = {
    "_": (0,),
    "gettext": (0,),
    "lazy_gettext": (0,),
    "ngettext": (0, 1),
    "error_response": (2,),
    **{name: (0,) for name in SCRIPT.ERROR_CLASSES},
}
TRANSLATIONS = {"_", "gettext", "lazy_gettext", "ngettext"}


def _called_name(call: ast.Call) -> str:
    function = call.func
    return function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")


def _built_message(node: ast.expr) -> bool:
    """True when the message is built before it is looked up: an f-string with values, a
    concatenation, or `%` / `.format()` applied to an untranslated string. A translated
    template formatted afterwards (`_("... %(n)s") % {...}`) and a variable are fine."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.IfExp):
        return _built_message(node.body) or _built_message(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        left = node.left
        return not (isinstance(left, ast.Call) and _called_name(left) in TRANSLATIONS)
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "format":
        receiver = getattr(node.func, "value", None)
        return not (isinstance(receiver, ast.Call) and _called_name(receiver) in TRANSLATIONS)
    return False


# A backend's texts reach people as they are made: a health result's `message` (the admin's
# backends page) and a BackendError's `user_message` (the `reason` inside the core's translated
# 503 sentence). Nothing translates them later, so even a plain literal must be translated
# where it is made. Each name: (position of the message argument or None, its keyword).
BACKEND_MESSAGES = {
    "HealthResult": (1, "message"),
    "BackendError": (0, "user_message"),
    "BackendUnavailable": (0, "user_message"),
}


def _not_translated_here(node: ast.expr) -> bool:
    """True when a backend message is not looked up in a catalogue where it is made: a string
    literal (an f-string too), or a message built before translation."""
    if isinstance(node, ast.IfExp):
        return _not_translated_here(node.body) or _not_translated_here(node.orelse)
    if isinstance(node, ast.Constant | ast.JoinedStr):
        return isinstance(node, ast.JoinedStr) or isinstance(node.value, str)
    return _built_message(node)


def _message_argument(call: ast.Call, position: int | None, keyword: str | None) -> list[ast.expr]:
    found = [call.args[position]] if position is not None and position < len(call.args) else []
    return found + [k.value for k in call.keywords if k.arg == keyword]


def backend_message_calls(sources: list[str]) -> dict[str, tuple[int | None, str | None]]:
    """BACKEND_MESSAGES and every subclass of BackendError in `sources`, with where its message
    goes: the parameter it hands on to `super().__init__` (none when it builds the message
    itself, as BBBError does from the server's answer)."""
    known = dict(BACKEND_MESSAGES)
    classes = [
        node
        for source in sources
        for node in ast.walk(_tree(source))
        if isinstance(node, ast.ClassDef)
    ]
    changed = True
    while changed:
        changed = False
        for cls in classes:
            parent = next(
                (b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in known), None
            )
            if cls.name in known or parent is None:
                continue
            known[cls.name] = known[parent]
            init = next(
                (f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"),
                None,
            )
            if init is not None:
                params = [a.arg for a in init.args.args[1:]]
                handed = next(
                    (
                        c.args[0]
                        for c in ast.walk(init)
                        if isinstance(c, ast.Call) and _called_name(c) == "__init__" and c.args
                    ),
                    None,
                )
                name = handed.id if isinstance(handed, ast.Name) else None
                known[cls.name] = (params.index(name), name) if name in params else (None, None)
            changed = True
    return known


def built_messages(
    source: str,
    filename: str = "<source>",
    backend_calls: dict[str, tuple[int | None, str | None]] | None = None,
) -> list[str]:
    """`file:line: call` of every message argument built before translation in `source`, and
    of every backend message (`backend_calls`, by default BACKEND_MESSAGES) not translated
    where it is made, including what a BackendError subclass hands to `super().__init__`."""
    backend_calls = BACKEND_MESSAGES if backend_calls is None else backend_calls
    found = []
    tree = _tree(source, filename)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name in backend_calls:
            if any(_not_translated_here(a) for a in _message_argument(node, *backend_calls[name])):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:120]}")
            continue
        if name not in TRANSLATED_ARGUMENTS:
            continue
        arguments = [node.args[i] for i in TRANSLATED_ARGUMENTS[name] if i < len(node.args)]
        arguments += [k.value for k in node.keywords if k.arg in ("message", "singular", "plural")]
        if any(_built_message(argument) for argument in arguments):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:120]}")
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef) or cls.name not in backend_calls:
            continue
        for call in ast.walk(cls):
            handing_on = isinstance(call, ast.Call) and _called_name(call) == "__init__"
            if handing_on and call.args and _not_translated_here(call.args[0]):
                found.append(f"{filename}:{call.lineno}: {ast.unparse(call)[:120]}")
    return found


def test_the_guard_finds_messages_built_before_translation():
    assert built_messages('raise Conflict(f"slot {time} is taken")')
    assert built_messages('raise NotFound("no class " + str(n), code="x")')
    assert built_messages('raise Unprocessable("bad %s" % value)')
    assert built_messages('raise Forbidden(message="bad {}".format(value))')
    assert built_messages('_(f"Hello {name}")')
    assert built_messages('ngettext("%(num)d file", f"{n} files", n)')
    assert built_messages('error_response(400, "bad", "nope: " + reason)')
    assert built_messages('raise Conflict(f"a {x}" if x else "b")')
    assert not built_messages('raise Conflict(_("The slot %(time)s is taken", time=t))')
    assert not built_messages('raise Conflict("a plain sentence", code="taken")')
    assert not built_messages("raise Conflict(message)")
    assert not built_messages('raise Conflict(_("%(n)s left") % {"n": n})')
    assert not built_messages('raise Conflict(f"a constant f-string")')
    assert not built_messages('log.info("x %s" % y); print(f"{y}")')


def test_the_guard_finds_backend_messages_not_translated_where_they_are_made():
    """A health result's message and a backend error's user_message are shown as they are
    made (the backends page; the reason inside the core's 503 sentence): even a literal
    stays English unless it is translated there."""
    assert built_messages('HealthResult(ok=False, message=f"{url} answered HTTP {status}")')
    assert built_messages('HealthResult(False, "the worker is running")')
    assert built_messages('raise BackendUnavailable(f"the server did not answer: {exc}")')
    assert built_messages('raise BackendError("not known to the server", code="no_room")')
    assert built_messages('raise BackendError(user_message="refused: " + reason)')
    subclass = """
class ServerRefused(BackendError):
    def __init__(self, call, key, message):
        super().__init__(f"the server refused {call}: {message}", code=key)
class ServerDown(BackendUnavailable):
    def __init__(self, user_message, *, code="down"):
        super().__init__(user_message, code=code)
"""
    calls = backend_message_calls([subclass])
    assert calls["ServerDown"] == (0, "user_message")
    assert calls["ServerRefused"] == (None, None)
    assert built_messages(subclass, backend_calls=calls)
    assert built_messages('raise ServerDown(f"no answer after {s} s")', backend_calls=calls)
    assert built_messages('raise ServerDown("cannot connect")', backend_calls=calls)
    assert not built_messages(
        'raise ServerRefused("create", "idNotUnique", "")', backend_calls=calls
    )
    assert not built_messages('raise ServerDown(gettext("cannot connect"))', backend_calls=calls)
    assert not built_messages("HealthResult(ok=False, message=exc.user_message)")
    assert not built_messages('HealthResult(ok=True, message=t.gettext("up %(n)s", n=n))')
    assert not built_messages(
        'raise BackendError(gettext("a") if x else translations.gettext("b"), code="c")'
    )


def test_every_message_is_a_plain_string_literal_before_translation():
    """An f-string, a concatenation, `%` or `.format()` inside a message makes a text that no
    catalogue holds: the answer would stay English. Values go in through named placeholders
    (`Conflict(_("The slot %(time)s is taken", time=...))`), see docs/i18n.md."""
    texts = _python_sources()
    backend_calls = backend_message_calls(list(texts.values()))
    found = [
        problem
        for path, text in texts.items()
        for problem in built_messages(text, str(path.relative_to(ROOT)), backend_calls)
    ]
    assert not found, f"{len(found)} messages built before translation:\n" + "\n".join(found)
