"""French for click's own words (usage line, headings, help option, usage errors).

click marks its strings with the standard library's gettext (``from gettext import gettext``),
which translates through the current text domain and the language named by ``LANGUAGE`` (then
``LC_ALL``, ``LC_MESSAGES``, ``LANG``). :func:`french` selects this package's catalogue
(``locale/fr/LC_MESSAGES/ort_geo.po``, compiled to ``ort_geo.mo`` by ``make locale``) and French
while the CLI runs, whatever the user's locale: the rest of the CLI is French only.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOMAIN = "ort_geo"
LOCALE_DIR = Path(__file__).parent / "locale"


@contextmanager
def french() -> Iterator[None]:
    """Translate click's strings into French inside the block; the process's gettext domain and
    ``LANGUAGE`` are restored after it (the CLI may run inside another program, e.g. tests)."""
    saved_domain = gettext.textdomain()
    saved_language = os.environ.get("LANGUAGE")
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = "fr"
    try:
        yield
    finally:
        gettext.textdomain(saved_domain)
        if saved_language is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = saved_language
