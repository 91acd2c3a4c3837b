"""The CLI speaks French all the way through: click's own frame (usage line, headings, help and
version options, defaults, usage errors) through the catalogue of ``ort_geo/cli/locale``, and the
store-opening errors without the libraries' English text (kept for ``-v``)."""

from __future__ import annotations

import gettext
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click
import hostile
import pytest
from click.testing import CliRunner

from ort_geo.cli import _i18n, main

#: click's English frame: none of it may reach a French planner.
ENGLISH_FRAME = ("Usage:", "Options:\n", "Commands:", "Arguments:", "Show this message",
                 "Show the version", "[default:", "[required]", "env var:", "Error:", "Try '",
                 "for help", "No such", "Missing", "Invalid value", "Got unexpected",
                 "COMMAND [ARGS]", "does not exist")
#: words of libpq, SQLite and GDAL messages that must stay out of the French line.
LIBRARY_WORDS = re.compile(r"\b(failed|connection|refused|password|authentication|database|"
                           r"server|file is|not a|unable|error)\b", re.IGNORECASE)


def _invoke(args: list[str]):
    return CliRunner().invoke(main, args, prog_name="ort-geo")


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    """Every command path under ``group`` (subgroups included), found as the CLI finds them."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


#: click's English type names, shown as placeholders of option values.
ENGLISH_METAVARS = re.compile(r"\b(TEXT|INTEGER|FLOAT|BOOLEAN|FILE|FILENAME|DIRECTORY|PATH|"
                              r"RANGE)\b")


def _english(text: str) -> list[str]:
    return [w for w in ENGLISH_FRAME if w in text] + ENGLISH_METAVARS.findall(text)


def test_the_catalogue_is_compiled_from_its_source(tmp_path: Path, system_tool):
    """The committed .mo is the .po compiled (``make locale``): an edit of one alone fails."""
    msgfmt = system_tool("msgfmt", "gettext")
    folder = _i18n.LOCALE_DIR / "fr" / "LC_MESSAGES"
    fresh = tmp_path / "fresh.mo"
    subprocess.run([msgfmt, "--check-format", "-o", str(fresh), str(folder / "ort_geo.po")],
                   check=True)
    with open(fresh, "rb") as a, open(folder / "ort_geo.mo", "rb") as b:
        assert gettext.GNUTranslations(a)._catalog == gettext.GNUTranslations(b)._catalog


def test_main_help_is_french():
    result = _invoke(["--help"])
    assert result.exit_code == 0, result.output
    assert _english(result.output) == [], result.output
    for french in ("Utilisation : ort-geo", "Commandes", "Affiche cette aide et quitte.",
                   "Affiche la version et quitte.", "COMMANDE [ARGUMENTS]"):
        assert french in result.output


def test_every_command_help_is_french():
    """Every command and subcommand, found automatically: a new one is covered too."""
    paths = list(_commands(main))
    assert len(paths) >= 15 and ("stats",) in paths
    for path in paths:
        result = _invoke([*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert _english(result.output) == [], (path, _english(result.output), result.output)
        assert result.output.startswith(f"Utilisation : ort-geo {' '.join(path)}"), path
        assert "Affiche cette aide et quitte." in result.output, path


def test_defaults_and_required_options_are_french():
    text = " ".join(_invoke(["stats", "--help"]).output.split())
    assert "[par défaut : " in text
    text = " ".join(_invoke(["import", "--help"]).output.split())
    assert "[obligatoire]" in text


@pytest.mark.parametrize("args, french", [
    (["--x"], "Option inconnue : '--x'."),
    (["pas-une-commande"], "Commande inconnue : 'pas-une-commande'."),
    (["export"], "Argument manquant 'COUCHE'."),
    (["import", __file__], "Option manquante '--couche'."),
    (["stats", "a", "b", "c"], "Arguments en trop : b c"),
    (["stats", "--format", "x"], "Valeur invalide pour '--format' : 'x' n'est pas l'une des"),
    (["stats", "--annee", "deux-mille"], "'deux-mille' n'est pas un nombre valide."),
    # a year outside 1900–2100 is a typo, not "no year" (``--annee 0`` was today's year)
    (["stats", "secteurs_ort", "--annee", "0"], "'--annee' : 0 n'est pas dans l'intervalle "
                                                "1900<=x<=2100."),
    (["query", "--annee", "-2026"], "-2026 n'est pas dans l'intervalle 1900<=x<=2100."),
    (["bilan", "--annee", "20260"], "20260 n'est pas dans l'intervalle 1900<=x<=2100."),
    (["import", "/nulle/part.geojson", "--couche", "x"], "Chemin '/nulle/part.geojson' "
                                                           "introuvable."),
    (["stats", "--format"], "L'option '--format' attend une valeur."),
])
def test_usage_errors_are_french_with_exit_2(args: list[str], french: str):
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    assert _english(result.output) == [], result.output
    assert "Erreur : " in result.output and french in result.output
    if args != ["stats", "--format"]:  # click shows no usage for an option's missing value
        assert "Utilisation : ort-geo" in result.output and "Aide : « ort-geo" in result.output


def test_french_whatever_the_users_locale():
    """The installed command, run with an English locale, still speaks French (and exits 2);
    the process's own gettext domain and LANGUAGE are left as they were after an in-process run."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "en_US.UTF-8", "LANGUAGE": "en", "LC_ALL": "C"}
    done = subprocess.run([str(Path(sys.executable).parent / "ort-geo"), "--x"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Erreur : Option inconnue : '--x'." in done.stderr and not _english(done.stderr)
    domain = gettext.textdomain()
    _invoke(["--x"])
    assert gettext.textdomain() == domain


def _store_error(store: str, verbose: bool = False) -> tuple[int, str, str]:
    """Exit code, main line (rewrapped) and the rest of ``ort-geo layers --store store``."""
    result = _invoke([*(["-v"] if verbose else []), "layers", "--store", store])
    text = " ".join(result.output.split())
    main_line, _, rest = text.partition("Détail technique :")
    return result.exit_code, main_line.strip(), rest


def _assert_french_line(code: int, line: str, reason: str):
    assert code == 2, line
    assert line.startswith("Erreur : ") and line.endswith(f"{reason}."), line
    assert not LIBRARY_WORDS.search(line.replace("postgresql://", "")), line


def test_a_non_geopackage_file_gives_a_french_line(tmp_path: Path):
    path = tmp_path / "faux.gpkg"
    path.write_text("ceci n'est pas un GeoPackage\n" * 100)
    before = path.read_bytes()
    code, line, rest = _store_error(str(path))
    _assert_french_line(code, line, "ce n'est pas une base SQLite (fichier d'un autre type)")
    assert rest == "" and path.read_bytes() == before
    code, line, rest = _store_error(str(path), verbose=True)
    assert code == 2 and "file is not a database" in rest  # the cause, for -v only


def test_an_unreachable_postgresql_port_gives_a_french_line():
    pytest.importorskip("psycopg")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, line, rest = _store_error(f"postgresql://ortgeo:ortgeo@127.0.0.1:{port}/ortgeo")
    _assert_french_line(code, line, "aucun serveur PostgreSQL ne répond à cette adresse "
                                    "(vérifiez l'hôte, le port et que le serveur est démarré)")
    assert rest == ""
    code, line, rest = _store_error(f"postgresql://ortgeo:ortgeo@127.0.0.1:{port}/ortgeo", True)
    assert "refused" in rest.lower()


@pytest.mark.postgis
def test_a_wrong_postgresql_password_gives_a_french_line(postgis_url: str):
    parts = urlsplit(postgis_url)
    user = parts.username or "postgres"
    wrong = parts._replace(netloc=f"{user}:pas-le-bon@{parts.hostname}:{parts.port or 5432}")
    code, line, rest = _store_error(urlunsplit(wrong))
    _assert_french_line(code, line, "utilisateur ou mot de passe refusé par le serveur")
    assert "pas-le-bon" not in line  # the password is masked
    parts = urlsplit(postgis_url)
    missing = urlunsplit(parts._replace(path="/ortgeo_base_absente"))
    code, line, rest = _store_error(missing)
    _assert_french_line(code, line, "cette base n'existe pas sur le serveur")


def test_every_string_click_marks_has_a_french_translation(tmp_path: Path, system_tool):
    """A click upgrade that adds a message is caught here, not by a planner: xgettext lists what
    click's modules pass to gettext, and the catalogue must translate each of them."""
    xgettext = system_tool("xgettext", "gettext")
    sources = sorted(str(p) for p in Path(click.__file__).parent.glob("*.py")
                     if not p.name.startswith("_") and p.name not in ("testing.py",
                                                                       "shell_completion.py"))
    pot = tmp_path / "click.pot"
    subprocess.run([xgettext, "--language=Python", "-k_", "-kngettext:1,2", "--omit-header",
                    "-o", str(pot), *sources], check=True)
    with open(_i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "ort_geo.mo", "rb") as mo:
        catalogue = gettext.GNUTranslations(mo)._catalog
    known = {key[0] if isinstance(key, tuple) else key for key in catalogue}
    msgids = re.findall(r'^msgid ((?:".*"\n)+)', pot.read_text(), re.MULTILINE)
    assert len(msgids) > 50  # the extraction did find click's strings
    missing = []
    for block in msgids:
        text = "".join(re.findall(r'"(.*)"', block)).encode().decode("unicode_escape")
        if text and text not in known:
            missing.append(text)
    assert missing == []


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the first page of ``table`` in a SQLite file (the header and schema intact)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                            (table,)).fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)


def test_a_damaged_store_gives_a_french_line_after_opening(new_store, tmp_path: Path):
    """Opening reads only the header and the schema: the damage shows at the first read of a
    layer, and SQLite's words stay out of the line there too."""
    store = new_store("gpkg", "atlas")
    store.close()
    _damage_table(store.path, "communes")
    before = store.path.read_bytes()
    for verbose in ([], ["-v"]):
        result = _invoke([*verbose, "export", "communes", "-o", str(tmp_path / "communes.csv"),
                          "--store", str(store.path)])
        line, _, rest = " ".join(result.output.split()).partition("Détail technique :")
        _assert_french_line(result.exit_code, line.strip(), "fichier endommagé")
        assert line.startswith(f"Erreur : Lecture impossible dans {store.path}")
        assert ("malformed" in rest) == bool(verbose)  # SQLite's words, for -v only
    assert store.path.read_bytes() == before


def test_an_output_file_that_cannot_be_written_gives_a_french_line(new_store, tmp_path: Path):
    store = new_store("gpkg", "atlas")
    store.close()
    (tmp_path / "plan.txt").write_text("un fichier, pas un dossier")
    for output in ("plan.txt/secteurs.csv", "plan.txt/secteurs.gpkg"):
        result = _invoke(["export", "secteurs_ort", "-o", str(tmp_path / output),
                          "--store", str(store.path)])
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and result.exc_info[0] is SystemExit, text
        assert text.startswith(f"Erreur : Opération impossible sur le fichier {tmp_path}"), text
        assert text.endswith(("un fichier de ce nom existe déjà.",
                              "un élément du chemin n'est pas un dossier.")), text
        assert "Errno" not in text and "Traceback" not in text


@pytest.mark.postgis
def test_a_postgresql_error_after_opening_gives_a_french_line(new_store, tmp_path: Path):
    """A read-only session (a standby server, or ``default_transaction_read_only`` given as a
    libpq option in the URL, which must reach the server as written): the store opens, the
    first write fails — in French, the server's words for ``-v`` only."""
    store = new_store("postgis")
    url = f"{store.url}&options=-c%20default_transaction_read_only%3Don"
    store.close()
    for verbose in ([], ["-v"]):
        result = _invoke([*verbose, "apikey", "create", "Anah", "--role", "staff",
                          "--store", url])
        line, _, rest = " ".join(result.output.split()).partition("Détail technique :")
        _assert_french_line(result.exit_code, line.strip(), "base en lecture seule (serveur "
                            "secondaire, ou default_transaction_read_only)")
        assert ("read-only transaction" in rest) == bool(verbose)


def test_an_unreadable_workbook_gives_a_french_line(new_store, tmp_path: Path):
    import zipfile

    store = new_store("gpkg", "atlas")
    store.close()
    before = store.path.read_bytes()
    (tmp_path / "texte.xlsx").write_text("pas un classeur")
    with zipfile.ZipFile(tmp_path / "zip.xlsx", "w") as archive:
        archive.writestr("lisez-moi.txt", "une archive, pas un classeur")
    for name, reason in (("texte.xlsx", "ce n'est pas un classeur Excel .xlsx (archive ZIP "
                                        "attendue))"),
                         ("zip.xlsx", "contenu incomplet ou endommagé)")):
        result = _invoke(["import", str(tmp_path / name), "--couche", "financements",
                          "--store", str(store.path)])
        line = " ".join(result.output.split())
        _assert_french_line(result.exit_code, line, reason)
        assert "zip file" not in line and "no item" not in line, line
    assert store.path.read_bytes() == before


def test_a_malformed_postgresql_url_gives_a_french_line():
    code, line, rest = _store_error("postgresql://ortgeo:secret@[::1/ortgeo")  # unclosed [
    _assert_french_line(code, line, "URL de connexion invalide")
    assert "secret" not in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="Linux /proc")
def test_an_output_gdal_cannot_create_gives_a_french_line(new_store):
    """/proc takes no new file: GDAL's error (not an OSError) must not reach the user."""
    store = new_store("gpkg", "atlas")
    store.close()
    for output in ("/proc/ort-geo-secteurs.gpkg", "/proc/ort-geo-secteurs.geojson"):
        for verbose in ([], ["-v"]):
            result = _invoke([*verbose, "export", "secteurs_ort", "-o", output,
                              "--store", str(store.path)])
            line, _, rest = " ".join(result.output.split()).partition("Détail technique :")
            assert result.exit_code == 2 and result.exc_info[0] is SystemExit, result.output
            assert line.startswith(f"Erreur : Écriture impossible de {output} : GDAL ne peut "
                                   "pas créer ce fichier"), line
            assert bool(rest.strip()) == bool(verbose), rest  # GDAL's words, for -v only


def test_an_unreadable_dem_and_an_unknown_host_give_a_french_line(tmp_path: Path, new_store):
    dem = tmp_path / "mnt.tif"
    dem.write_text("pas un raster")
    result = _invoke(["init", str(tmp_path / "territoire" / "atlas.gpkg"), "--pvd", "68298",
                      "--mnt", str(dem)])
    _assert_french_line(result.exit_code, " ".join(result.output.split()),
                        "format raster non reconnu (GeoTIFF, SRTM .hgt… attendus)")
    assert not (tmp_path / "territoire" / "atlas.gpkg").exists()
    store = new_store("gpkg", "atlas")
    store.close()
    result = _invoke(["secret", "verifier", "--api", "http://hote-inconnu.invalid/",
                      "--store", str(store.path)])
    line = " ".join(result.output.split())
    _assert_french_line(result.exit_code, line, "nom d'hôte inconnu")
    assert "Errno" not in line


def test_an_archive_lying_about_its_sizes_gives_a_french_line(tmp_path: Path, new_store):
    """Its checksum fails past the size it declares: was zipfile's traceback."""
    store = new_store("gpkg", "atlas")
    store.close()
    archive = tmp_path / "zone.zip"
    archive.write_bytes(hostile.lying_zip(5000))
    result = _invoke(["stats", "--perimetre", str(archive), "--store", str(store.path)])
    _assert_french_line(result.exit_code, " ".join(result.output.split()),
                        "L'archive « zone.zip » est endommagée : le contenu de "
                        "« perimetre.geojson » ne correspond pas à ce qu'elle en déclare")


def test_serve_refuses_a_port_it_cannot_listen_on_in_french(new_store):
    """Refused before uvicorn starts (its own errors are English log lines, exit code 3)."""
    store = new_store("gpkg", "atlas")
    store.close()
    exe = str(Path(sys.executable).with_name("ort-geo"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, reason in ((["--port", str(port), "--workers", "1"],
                              "adresse déjà utilisée (un autre programme écoute sur ce port)"),
                             (["--host", "hote-inconnu.invalid", "--workers", "2"],
                              "nom d'hôte inconnu")):
            done = subprocess.run([exe, "serve", "--store", str(store.path), *args],
                                  capture_output=True, text=True, timeout=120)
            _assert_french_line(done.returncode, " ".join(done.stderr.split()), reason)
    result = _invoke(["serve", "--store", str(store.path), "--port", "70000"])
    assert result.exit_code == 2 and "70000 n'est pas dans l'intervalle" in result.output


def test_dates_at_the_ends_of_the_calendar_are_no_traceback(new_store):
    """« --au 0001-01-01 » has no day before it (the journal's lower bound overflowed) and
    « 0001-01-01T00:00 » in Paris is before the first UTC instant Python has."""
    store = new_store("gpkg", "atlas")
    store.close()
    for when, code, words in (("0001-01-01", 0, "["), ("9999-12-31", 0, "["),
                              ("0001-01-01T00:00", 2, "Erreur : Date hors limites"),
                              ("9999-12-31T23:59-12:00", 2, "Erreur : Date hors limites")):
        result = _invoke(["stats", "secteurs_ort", "--au", when, "--format", "json",
                          "--store", str(store.path)])
        assert result.exit_code == code and words in result.output, (when, result.output)


def test_a_usage_error_raised_by_a_command_is_french_under_an_english_language():
    """The command's code runs under the user's LANGUAGE (en here); click formats the error it
    raises after it returns, in French again."""
    result = CliRunner().invoke(main, ["init"], prog_name="ort-geo", env={"LANGUAGE": "en"})
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert "Utilisation : ort-geo init" in text and "Erreur : Indiquez l'entrepôt" in text, text
    assert not _english(text), text
