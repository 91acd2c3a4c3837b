"""French for click's own words (usage line, headings, help option, usage errors).

click marks its strings with the standard library's gettext (``from gettext import gettext``),
which translates through the current text domain and the language named by ``LANGUAGE`` (then
``LC_ALL``, ``LC_MESSAGES``, ``LANG``). :func:`french` selects this package's catalogue
(``locale/fr/LC_MESSAGES/ort_geo.po``, compiled to ``ort_geo.mo`` by ``make locale``) and French
while the CLI runs, whatever the user's locale: the rest of the CLI is French only. While a
command's own code runs (:func:`users_language`), ``LANGUAGE`` is the user's again: the programs
it starts (chromium, pdftoppm, server processes) get the environment they were given.
"""

from __future__ import annotations

import functools
import gettext
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

DOMAIN = "ort_geo"
LOCALE_DIR = Path(__file__).parent / "locale"

#: French placeholders for click's types, which show their English name (TEXT, INTEGER, FILE…).
METAVARS = {
    "text": "TEXTE", "integer": "ENTIER", "integer range": "ENTIER", "float": "NOMBRE",
    "float range": "NOMBRE", "boolean": "OUI|NON", "file": "FICHIER", "filename": "FICHIER",
    "directory": "DOSSIER", "path": "CHEMIN",
}


@contextmanager
def french() -> Iterator[None]:
    """Translate click's strings into French inside the block; the process's gettext domain and
    ``LANGUAGE`` are restored after it (the CLI may run inside another program, e.g. tests)."""
    saved_domain = gettext.textdomain()
    saved_language = os.environ.get("LANGUAGE")
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    _users.append(saved_language)
    os.environ["LANGUAGE"] = "fr"
    try:
        yield
    finally:
        gettext.textdomain(saved_domain)
        _users.pop()
        _set_language(saved_language)


#: The user's ``LANGUAGE`` (None: unset) under each :func:`french` block being run.
_users: list[str | None] = []


def _set_language(value: str | None) -> None:
    if value is None:
        os.environ.pop("LANGUAGE", None)
    else:
        os.environ["LANGUAGE"] = value


def users_language(command: click.Command) -> None:
    """Run the callbacks of ``command`` (and of its subcommands) under the user's own
    ``LANGUAGE``: click's French is for click's words (parsing, help, usage errors, all outside
    callbacks); a process a command starts must not inherit ``LANGUAGE=fr`` (chromium would
    take it as its locale, a server process would keep it for good)."""
    callback = command.callback
    if callback is not None and not getattr(callback, "_users_language", False):
        @functools.wraps(callback)
        def run(*args: object, **kwargs: object) -> object:
            if not _users:  # called outside main() (a test invoking the callback itself)
                return callback(*args, **kwargs)
            previous = os.environ.get("LANGUAGE")  # "fr", unless a callback calls another
            _set_language(_users[-1])
            try:
                return callback(*args, **kwargs)
            finally:
                _set_language(previous)

        run._users_language = True  # type: ignore[attr-defined]
        command.callback = run
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            users_language(sub)


def french_metavars(command: click.Command) -> None:
    """Name in French the value of each option of ``command`` (and of its subcommands) that sets
    no ``metavar`` and whose type has no placeholder of its own (a choice lists its values)."""
    for param in command.params:
        if (not isinstance(param, click.Option) or param.is_flag or param.count
                or param.metavar is not None
                or type(param.type).get_metavar is not click.ParamType.get_metavar):
            continue
        name = METAVARS.get(param.type.name)
        if name:
            param.metavar = name + ("..." if param.nargs != 1 else "")
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            french_metavars(sub)
