"""The ``ort-geo`` command line: a thin adapter over the library, speaking French to its users.

Each command lives in its own module of this package and exposes a click command named ``command``;
modules are discovered here, so adding a command means adding a file (imported when run).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import pkgutil
import sys

import click

from ..errors import OrtGeoError, os_reason
from ._i18n import french, french_metavars, users_language

# At exit, the objects left go to the collector's permanent generation, so the interpreter's
# collections while it shuts down skip them: 0.1 s after ``ort-geo stats`` on a national store,
# for nothing (the process frees its memory by leaving).
atexit.register(gc.freeze)


class _Group(click.Group):
    """Turns library errors into a French message and exit code 2, never a traceback; click's
    own words (usage, headings, usage errors) are French too (see ``_i18n``)."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        with french():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except OrtGeoError as exc:
            _fail(ctx, str(exc), exc.detail)
        except OSError as exc:  # a file the command writes or reads itself (not a store's)
            where = f" {exc.filename}" if exc.filename else ""
            _fail(ctx, f"Opération impossible sur le fichier{where} : {os_reason(exc)}.",
                  str(exc))


def _fail(ctx: click.Context, message: str, detail: str | None) -> None:
    """The French error line (with the library's own words after it under ``-v``), exit 2."""
    from rich.markup import escape

    from ._common import console_err

    # escaped: a message may quote user text that looks like markup ("[/x]")
    console_err.print(f"[bold red]Erreur :[/] {escape(message)}", highlight=False)
    if detail and ctx.params.get("verbose"):
        # the library's own (often English) words, for whoever diagnoses
        console_err.print(f"Détail technique : {escape(detail)}", highlight=False)
    sys.exit(2)


class _LazyGroup(_Group):
    """Imports only the command being run (``ort-geo stats`` need not load the web map stack);
    ``--help`` and unknown names load them all."""

    def _load_all(self) -> None:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                self._load(info.name)

    def _load(self, module_name: str) -> None:
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module_name}":
                return
            raise
        command = getattr(module, "command", None)
        if isinstance(command, click.Command) and command.name not in self.commands:
            french_metavars(command)
            users_language(command)
            self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            base = cmd_name.replace("-", "_")
            for candidate in (base, base + "_"):
                self._load(candidate)
            if cmd_name not in self.commands:
                self._load_all()
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_all()
        return sorted(self.commands)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             subcommand_metavar="COMMANDE [ARGUMENTS]...")
# help given here: click translates its default when the decorator runs (at import, not in French)
@click.version_option(package_name="ort-geo", message="ort-geo %(version)s",
                      help="Affiche la version et quitte.")
@click.option("-v", "--verbeux", "--verbose", "verbose", count=True,
              help="Détailler les étapes sur la sortie d'erreur (-v : étapes, -vv : détails).")
def main(verbose: int = 0) -> None:
    """ort-geo : l'atlas d'une opération de revitalisation de territoire (ORT / PVD)."""
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s : %(message)s"))
        root = logging.getLogger("ort_geo")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
