"""``ort-geo init``: create a store — empty, or a whole territory from a PVD town or an EPCI.

``--pvd CODE`` / ``--epci SIREN`` write the territory's manifest and build its store through the
library (:func:`ort_geo.build.init_territory`); ``--pvd-liste FICHIER`` does it for every town of
a list, in one process (:func:`ort_geo.batch.init_many`), and reports the time and each failure.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..crs import STORAGE_EPSG, crs_label
from ..errors import StoreError
from ..store import open_store
from ..store.postgis import masked
from ..territory import load_territory
from ._common import closed_at_end, console, opened, progress


@click.command("init")
@click.argument("store", required=False, metavar="[ENTREPÔT]")
@click.option("--territoire", "territory", type=click.Path(exists=True, file_okay=False),
              help="Dossier du territoire (layers/<territoire>) dont le manifeste est enregistré.")
@click.option("--pvd", default=None, metavar="CODE_INSEE",
              help="Ville Petites villes de demain : crée le territoire de son EPCI (manifeste et "
                   "entrepôt avec les communes membres réelles).")
@click.option("--epci", default=None, metavar="SIREN",
              help="EPCI à fiscalité propre : crée son territoire (ville principale : la plus "
                   "peuplée).")
@click.option("--pvd-liste", "pvd_list", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Fichier CSV de villes PVD (colonne insee_com, ou première "
                                 "colonne) : un territoire par ville, dans --dossier.")
@click.option("--dossier", "directory", type=click.Path(file_okay=False), default=None,
              help="Dossier du manifeste créé (défaut : à côté de l'entrepôt, nommé d'après la "
                   "ville) ; avec --pvd-liste, dossier de sortie.")
@click.option("--dem", "--mnt", "dem", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Modèle numérique de terrain (GeoTIFF, HGT…, tout SCR) : strates par altitude.")
@click.option("--axe", "axis", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Ligne d'axe (fichier vecteur, tout SCR) : strates par distance à l'axe.")
def command(store: str | None, territory: str | None, pvd: str | None, epci: str | None,
            pvd_list: str | None, directory: str | None, dem: str | None,
            axis: str | None) -> None:
    """Crée un entrepôt : vide (fichier GeoPackage, ou schéma PostGIS pour une URL
    postgresql://), ou tout un territoire avec --pvd CODE_INSEE ou --epci SIREN (manifeste à
    compléter et entrepôt dans le SCR officiel du territoire, outre-mer compris)."""
    if pvd_list is not None:
        _batch(pvd_list, directory)
        return
    if store is None:
        raise click.UsageError("Indiquez l'entrepôt à créer (fichier .gpkg).")
    if pvd is not None or epci is not None:
        _territory(store, pvd, epci, directory, dem, axis)
        return
    if _exists(store):
        raise click.ClickException(f"{masked(store)} existe déjà : rien n'a été modifié.")
    manifest = load_territory(territory) if territory else None
    st = opened(store, create=True,
                epsg=manifest.epsg if manifest is not None else STORAGE_EPSG)
    if manifest is not None:
        st.set_meta("territory", {"manifest": manifest.model_dump_json()})
    console.print(f"Entrepôt créé : [bold]{masked(store)}[/] ({len(st.layer_names())} couches, "
                  f"{crs_label(st.epsg)}).")


def _territory(store: str, pvd: str | None, epci: str | None, directory: str | None,
               dem: str | None, axis: str | None) -> None:
    from ..build import init_territory

    folder = Path(directory) if directory else Path(store).with_suffix("")
    st = closed_at_end(init_territory(store, folder, pvd=pvd, epci=epci, dem=dem, axis=axis))
    manifest = load_territory(folder)
    communes = st.read("communes", columns=["nom"])
    main = communes.loc[communes["code_insee"] == manifest.main_town, "nom"]
    console.print(f"Territoire créé : [bold]{manifest.title}[/] ({len(communes)} communes, "
                  f"ville principale {main.iloc[0] if len(main) else manifest.main_town}, "
                  f"{crs_label(st.epsg)}).", highlight=False)
    console.print(f"  Entrepôt : {store}", highlight=False)
    console.print(f"  Manifeste à compléter (convention, signataires, orientations) : "
                  f"{folder / 'territory.toml'}", highlight=False)
    meta = st.get_meta("territory")
    console.print(f"  Strates : {meta.get('strates_methode', 'aucune')}", highlight=False)
    if meta.get("communes_sans_contour"):
        console.print("  [yellow]Communes membres sans contour dans la référence (non "
                      f"cartographiées) :[/] {meta['communes_sans_contour']}", highlight=False)


def _batch(path: str, directory: str | None) -> None:
    from ..batch import init_many, read_codes

    if directory is None:
        raise click.UsageError("--pvd-liste demande --dossier (dossier de sortie).")
    codes = read_codes(path)
    with progress() as bar:
        task = bar.add_task("Territoires", total=len(codes))
        result = init_many(codes, Path(directory),
                           on_result=lambda _code, _error: bar.advance(task))
    console.print(str(result), highlight=False)


def _exists(store: str) -> bool:
    if not store.startswith(("postgresql://", "postgres://")):
        return Path(store).exists()
    try:
        open_store(store).close()
    except StoreError:
        return False  # absent (or unreachable: creating it will say so)
    return True
