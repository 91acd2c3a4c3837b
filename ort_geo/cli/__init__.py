"""The ``ort-geo`` command line: a thin adapter over the library, speaking French to its users.

Each command lives in its own module of this package and exposes a click command named ``command``;
modules are discovered here, so adding a command means adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click
from rich.markup import escape

from ..errors import OrtGeoError
from ._common import console_err


class _Group(click.Group):
    """Turns library errors into a French message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except OrtGeoError as exc:
            # escaped: a message may quote user text that looks like markup ("[/x]")
            console_err.print(f"[bold red]Erreur :[/] {escape(str(exc))}", highlight=False)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ort-geo", message="ort-geo %(version)s")
def main() -> None:
    """ort-geo : l'atlas d'une opération de revitalisation de territoire (ORT / PVD)."""


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _command = getattr(_module, "command", None)
    if isinstance(_command, click.Command):
        main.add_command(_command)
