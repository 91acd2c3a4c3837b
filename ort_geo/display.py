"""French display of catalogue values: what a person reads in a map popup, a list or a table.

Enum codes become words ("a_lancer" -> "À lancer"), booleans "Oui"/"Non", dates "12/03/2025",
amounts "1 250 000 € HT". One place, so the maps, the atlas and the API say things the same way.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from .catalogue import FieldSpec

#: French words for enum codes of the catalogue (codes are unique across layers); the printed
#: atlas uses them too.
CHOICE_LABELS: dict[str, str] = {
    # secteurs_ort.type
    "centre_ville_principal": "Centre-ville de la ville principale",
    "centre_ville": "Centre-ville",
    "quartier": "Quartier",
    "autre": "Autre",
    # permis_de_louer.regime
    "autorisation_prealable": "Autorisation préalable de mise en location",
    "declaration": "Déclaration de mise en location",
    # strates.strate
    "ligne_de_vie": "Ligne de vie",
    "terrasses": "Terrasses de mi-hauteur",
    "hauts": "Les hauts",
    # actions.priorite / actions.statut
    "haute": "Haute",
    "moyenne": "Moyenne",
    "basse": "Basse",
    "a_lancer": "À lancer",
    "en_etude": "À l'étude",
    "en_cours": "En cours",
    "realise": "Réalisée",
    "abandonne": "Abandonnée",
    # batiments.etat
    "bon": "Bon",
    "moyen": "Moyen",
    "degrade": "Dégradé",
    "tres_degrade": "Très dégradé",
    # mobilites_actives
    "voie_verte": "Voie verte",
    "piste_cyclable": "Piste cyclable",
    "bande_cyclable": "Bande cyclable",
    "chemin_pieton": "Chemin piéton",
    "existant": "Existant",
    "projete": "Projeté",
}

NBSP = "\u202f"  # narrow no-break space, the French thousands separator


def format_number(value: float, decimals: int = 0) -> str:
    """``1250000`` -> ``"1 250 000"`` (narrow no-break spaces, decimal comma)."""
    text = f"{value:,.{decimals}f}".replace(",", NBSP).replace(".", ",")
    return text


def format_value(field: FieldSpec, value: Any) -> str | None:
    """The value as a French reader should see it, or None when it is empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if field.type == "enum":
        return CHOICE_LABELS.get(str(value), str(value))
    if field.type == "bool":
        return "Oui" if value else "Non"
    if field.type == "date":
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        return value.strftime("%d/%m/%Y")
    if field.name.startswith("cout"):
        return f"{format_number(float(value))}{NBSP}€ HT"
    if field.type == "float":
        return format_number(float(value), 0 if float(value).is_integer() else 2)
    if field.type == "int" and field.name not in ("annee_construction", "annee_debut_vacance"):
        return format_number(int(value))
    text = str(value).strip()
    return text or None
