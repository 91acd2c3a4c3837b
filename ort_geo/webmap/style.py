"""What each layer looks like on the web maps and what its popups say.

Plain data: a :class:`MapLayer` per catalogue layer, in drawing order. Field lists name catalogue
fields; the public map refuses any that the catalogue does not mark public.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .. import cartography

# Colours and labels shared with the printed atlas (ort_geo.cartography), so both read the same.
# A territory's orientations and strata names come from its store (:func:`layers_for`).
STRATA: dict[str, tuple[str, str]] = dict(cartography.STRATA)

SECTOR_TYPES: dict[str, tuple[str, str]] = {
    "centre_ville_principal": ("Centre-ville de la ville principale", "#b03a2e"),
    "centre_ville": ("Centre-ville", "#e67e22"),
    "quartier": ("Quartier", "#d35400"),
    "autre": ("Autre secteur", "#a04000"),
}

#: Staff map: building condition, and vacancy.
CONDITIONS: dict[str, tuple[str, str]] = {
    **cartography.BUILDING_CONDITIONS, "": ("État non renseigné", "#f2f3f4"),
}
VACANCY: dict[str, tuple[str, str]] = {
    "vacant": ("Au moins un logement vacant", "#6c3483"),
    "occupe": ("Aucun logement vacant connu", "#d5d8dc"),
}


@dataclass(frozen=True)
class MapLayer:
    """One catalogue layer as drawn on a web map."""

    name: str
    title: str
    popup: tuple[str, ...]
    #: Fields joined to name a feature (tooltip, search, list).
    label: tuple[str, ...] = ("nom",)
    label_prefix: str = ""
    color: str = "#333333"
    fill: str | None = None
    fill_opacity: float = 0.2
    weight: float = 2.0
    dash: str | None = None
    #: Field whose value chooses the colour, with its palette (value -> label, colour).
    category: str | None = None
    palette: dict[str, tuple[str, str]] = field(default_factory=dict)
    show: bool = True
    searchable: bool = True
    #: Listed in the text alternative beside the map.
    listed: bool = False


PUBLIC_LAYERS: tuple[MapLayer, ...] = (
    MapLayer("strates", "Strates du projet de territoire",
             popup=("strate", "libelle", "methode", "parametres", "source"),
             label=("libelle",), label_prefix="Strate : ", weight=0, fill_opacity=0.6,
             category="strate", palette=STRATA, show=False, searchable=False),
    MapLayer("communes", "Communes", popup=("nom", "code_insee", "population", "source"),
             label_prefix="Commune : ", color="#4d5656", weight=2, dash="6 4", fill=None),
    MapLayer("zones_activite", "Zones d'activité",
             popup=("nom", "type_site", "vocation", "gestionnaire", "indicatif", "source"),
             label_prefix="Zone d'activité : ", color="#5d6d7e", fill="#aab7b8",
             fill_opacity=0.45, weight=1.5),
    MapLayer("permis_de_louer", "Zones de permis de louer",
             popup=("nom", "regime", "date_effet", "deliberation", "indicatif", "source"),
             label_prefix="Permis de louer : ", color="#7d3c98", fill="#d2b4de",
             fill_opacity=0.25, weight=2, dash="8 4"),
    MapLayer("secteurs_ort", "Secteurs d'intervention ORT",
             popup=("nom", "type", "convention", "deliberation", "date_debut", "date_fin",
                    "version", "indicatif", "source"),
             label_prefix="Secteur ORT : ", color="#b03a2e", fill="#e74c3c", fill_opacity=0.18,
             weight=3, category="type", palette=SECTOR_TYPES, listed=True),
    MapLayer("ilot_demonstrateur", "Îlot démonstrateur",
             popup=("nom", "description", "indicatif", "source"),
             label_prefix="Îlot démonstrateur : ", color="#ba4a00", fill="#f0b27a",
             fill_opacity=0.6, weight=2.5),
    MapLayer("actions", "Actions du programme",
             popup=("numero", "titre", "orientation", "statut", "maitre_ouvrage", "partenaires",
                    "cout_ht", "financement", "priorite", "date_debut", "date_fin",
                    "description"),
             label=("numero", "titre"), label_prefix="Action ", color="#1b2631", fill="#566573",
             fill_opacity=0.85, weight=1.5, category="orientation", palette={},
             listed=True),
)

#: Fields of buildings carried by the staff map's vector tiles (all restricted to staff).
BUILDING_FIELDS: tuple[str, ...] = (
    "id", "adresse", "annee_construction", "usage", "nb_logements", "nb_logements_vacants",
    "annee_debut_vacance", "etat", "habitat_indigne", "rdc_commerce", "rdc_vacant", "demo",
)


def orientation_palette(orientations: dict[int, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Orientation number (as text) -> label shown in popups and the legend, colour."""
    return {str(k): (f"{k} — {title}", colour) for k, (title, colour) in orientations.items()}


def layers_for(store: Any) -> tuple[MapLayer, ...]:
    """:data:`PUBLIC_LAYERS` with the store's own palettes: its manifest's orientations (titles,
    colours) and its strata's names."""
    from ..territory import orientations_of, strata_labels

    orientations = orientation_palette(orientations_of(store))
    names = strata_labels(store)
    strata = {k: (names.get(k, label), colour) for k, (label, colour) in STRATA.items()}
    out = []
    for layer in PUBLIC_LAYERS:
        if layer.name == "actions":
            layer = replace(layer, palette=orientations)
        elif layer.name == "strates":
            layer = replace(layer, palette=strata)
        out.append(layer)
    return tuple(out)
