"""The layer catalogue: every layer, field, type and visibility, declared once.

Everything else (store schema, import mapping, public exports, maps, API) reads this module. Field
names are French because they are the domain's words. A field that is not ``public`` never reaches
a public output (resident map, public atlas, unauthenticated API, ``--public`` export).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import LayerNotFoundError

FieldType = Literal["str", "int", "float", "bool", "date", "enum"]
#: ``None``: a non-spatial table (GeoPackage "attributes" table, PostGIS table without geometry).
GeometryKind = Literal["MultiPolygon", "Polygon", "Point", "LineString", "Any", "None"]

#: Geometry types accepted on import for each declared kind (the store promotes to the declared one).
ACCEPTED_GEOMETRIES: dict[str, tuple[str, ...]] = {
    "MultiPolygon": ("Polygon", "MultiPolygon"),
    "Polygon": ("Polygon", "MultiPolygon"),
    "Point": ("Point",),
    "LineString": ("LineString", "MultiLineString"),
    "Any": ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"),
    "None": (),
}


class FieldSpec(BaseModel):
    """One attribute of a layer."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: FieldType
    label: str
    public: bool = True
    required: bool = False
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _enum_has_choices(self) -> FieldSpec:
        if (self.type == "enum") != bool(self.choices):
            raise ValueError(f"field {self.name}: choices are required for enum fields only")
        return self


class LayerSpec(BaseModel):
    """One layer of the atlas."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    geometry: GeometryKind
    key: str
    fields: tuple[FieldSpec, ...]
    public: bool = True
    allow_overlap: bool = True
    editable: bool = False
    #: Layers whose features must lie within the territory's communes.
    within_territory: bool = True
    #: Point geometries are also accepted (buildings may come as points).
    accepts_points: bool = False
    #: Fields whose values make the key when an imported table has none ("action-1.1|Région|2024").
    key_from: tuple[str, ...] = ()
    #: Date fields of the features' validity: (start, end) or (start,) — see ort_geo.validity.
    validity: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> LayerSpec:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"layer {self.name}: duplicate field names")
        if self.key not in names:
            raise ValueError(f"layer {self.name}: key {self.key!r} is not a field")
        types = {f.name: f.type for f in self.fields}
        for name in self.validity:
            if types.get(name) != "date":
                raise ValueError(f"layer {self.name}: validity field {name!r} is not a date field")
        if len(self.validity) > 2:
            raise ValueError(f"layer {self.name}: validity is (start,) or (start, end)")
        return self

    @cached_property
    def by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    def field(self, name: str) -> FieldSpec:
        try:
            return self.by_name[name]
        except KeyError:
            raise LayerNotFoundError(f"Champ inconnu « {name} » dans la couche {self.name}.") from None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def selected_names(self, columns: Sequence[str] | None) -> list[str]:
        """The fields a read returns: all of them, or the key then ``columns`` (each checked)."""
        if columns is None:
            return self.field_names
        return [self.key] + [self.field(c).name for c in columns if c != self.key]

    @property
    def public_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.public]

    @property
    def private_fields(self) -> list[str]:
        return [f.name for f in self.fields if not f.public]

    @property
    def spatial(self) -> bool:
        """False for a non-spatial table (follow-up tables: financing lines, indicator values)."""
        return self.geometry != "None"

    @property
    def accepted_geometries(self) -> tuple[str, ...]:
        accepted = ACCEPTED_GEOMETRIES[self.geometry]
        return accepted + (("Point",) if self.accepts_points else ())


class Catalogue(BaseModel):
    """The set of layers; look one up with ``catalogue[name]``."""

    model_config = ConfigDict(frozen=True)

    layers: tuple[LayerSpec, ...]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        names = [layer.name for layer in self.layers]
        if len(names) != len(set(names)):
            raise ValueError("duplicate layer names")
        return self

    def __getitem__(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        known = ", ".join(self.names)
        raise LayerNotFoundError(f"Couche inconnue « {name} ». Couches du catalogue : {known}.")

    def __contains__(self, name: object) -> bool:
        return any(layer.name == name for layer in self.layers)

    def __iter__(self):  # type: ignore[override]
        return iter(self.layers)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]


def _f(name: str, type_: FieldType, label: str, **kw) -> FieldSpec:
    return FieldSpec(name=name, type=type_, label=label, **kw)


_ID = _f("id", "str", "Identifiant", required=True, aliases=("identifiant", "code", "fid_source"))
_NOM = _f("nom", "str", "Nom", aliases=("name", "libelle", "lib", "titre_zone"))
_INSEE = _f(
    "code_insee", "str", "Code INSEE de la commune",
    aliases=("insee", "insee_com", "code_commune", "codgeo", "com", "inseecom"),
)
_SOURCE = _f("source", "str", "Source", aliases=("origine",))
_INDICATIF = _f("indicatif", "bool", "Périmètre indicatif (non officiel)")
_DELIB = _f("deliberation", "str", "Référence de la délibération", aliases=("delib", "ref_delib"))
_DEMO = _f("demo", "bool", "Donnée de démonstration générée")

CATALOGUE = Catalogue(
    layers=(
        LayerSpec(
            name="communes", title="Communes", geometry="MultiPolygon", key="code_insee",
            allow_overlap=False, within_territory=False,
            fields=(
                _f("code_insee", "str", "Code INSEE", required=True, aliases=(*_INSEE.aliases, "code")),
                _f("nom", "str", "Nom", required=True, aliases=("name", "lib_com", "libelle")),
                _f("siren_epci", "str", "SIREN de l'EPCI", aliases=("epci", "code_epci")),
                _f("population", "int", "Population municipale", minimum=0,
                   aliases=("pop", "pmun", "population_municipale")),
                _SOURCE,
            ),
        ),
        LayerSpec(
            name="secteurs_ort", title="Secteurs d'intervention ORT", geometry="MultiPolygon",
            key="id", allow_overlap=False, editable=True, validity=("date_debut", "date_fin"),
            fields=(
                _ID, _NOM,
                _f("type", "enum", "Type de secteur",
                   choices=("centre_ville_principal", "centre_ville", "quartier", "autre")),
                _INSEE,
                _f("convention", "str", "Référence de la convention"),
                _DELIB,
                _f("date_debut", "date", "Début de validité"),
                _f("date_fin", "date", "Fin de validité"),
                _f("version", "int", "Version du périmètre", minimum=1),
                _INDICATIF, _SOURCE,
            ),
        ),
        LayerSpec(
            name="permis_de_louer", title="Zones de permis de louer", geometry="MultiPolygon",
            key="id", allow_overlap=False, editable=True, validity=("date_effet",),
            fields=(
                _ID, _NOM,
                _f("regime", "enum", "Régime",
                   choices=("autorisation_prealable", "declaration")),
                _INSEE, _DELIB,
                _f("date_effet", "date", "Date d'effet"),
                _INDICATIF, _SOURCE,
            ),
        ),
        LayerSpec(
            name="strates", title="Strates du projet de territoire", geometry="MultiPolygon",
            key="id", allow_overlap=False,
            fields=(
                _ID,
                _f("strate", "enum", "Strate", required=True,
                   choices=("ligne_de_vie", "terrasses", "hauts")),
                _f("libelle", "str", "Libellé"),
                _f("methode", "str", "Méthode de dérivation"),
                _f("parametres", "str", "Paramètres de la méthode"),
                _SOURCE,
            ),
        ),
        LayerSpec(
            name="ilot_demonstrateur", title="Îlot démonstrateur", geometry="Polygon", key="id",
            editable=True,
            fields=(_ID, _NOM, _INSEE, _f("description", "str", "Description"), _INDICATIF,
                    _SOURCE),
        ),
        LayerSpec(
            name="zones_activite", title="Zones d'activité", geometry="MultiPolygon", key="id",
            allow_overlap=False, editable=True,
            fields=(
                _ID, _NOM, _INSEE,
                # CNIG "sites économiques" vocabulary where it fits.
                _f("type_site", "str", "Type de site (CNIG)"),
                _f("vocation", "str", "Vocation dominante"),
                _f("gestionnaire", "str", "Gestionnaire"),
                _INDICATIF, _SOURCE,
            ),
        ),
        LayerSpec(
            name="actions", title="Actions du programme", geometry="Any", key="id", editable=True,
            validity=("date_debut", "date_fin"),
            fields=(
                _ID,
                _f("numero", "str", "Numéro de fiche action"),
                _f("titre", "str", "Titre", required=True, aliases=("nom", "intitule", "title")),
                # A convention has any number of orientations (its manifest lists them).
                _f("orientation", "int", "Orientation stratégique", required=True, minimum=1),
                _f("maitre_ouvrage", "str", "Maître d'ouvrage", aliases=("moa",)),
                _f("partenaires", "str", "Partenaires"),
                _f("priorite", "enum", "Priorité", choices=("haute", "moyenne", "basse")),
                _f("statut", "enum", "Statut",
                   choices=("a_lancer", "en_etude", "en_cours", "realise", "abandonne")),
                _f("cout_ht", "float", "Coût (€ HT)", minimum=0, aliases=("cout", "montant")),
                _f("financement", "str", "Financement par partenaire"),
                _f("date_debut", "date", "Début"),
                _f("date_fin", "date", "Fin"),
                _f("secteur_id", "str", "Secteur ORT"),
                _INSEE,
                _f("description", "str", "Description"),
                _SOURCE,
                # Follow-up of the programme (art. 7): progress and planned dates.
                _f("taux_realisation", "float", "Taux de réalisation (%)", minimum=0,
                   maximum=100, aliases=("avancement", "taux", "realisation")),
                _f("date_debut_prevue", "date", "Début prévu", aliases=("debut_prevu",)),
                _f("date_fin_prevue", "date", "Fin prévue", aliases=("fin_prevue",)),
            ),
        ),
        LayerSpec(
            # Financing plan of the actions (art. 3.1, art. 7): one line per action, financeur
            # and year. Public money: public.
            name="financements", title="Plan de financement des actions", geometry="None",
            key="id", editable=True, within_territory=False,
            key_from=("action_id", "financeur", "annee"),
            fields=(
                _f("id", "str", "Identifiant", required=True, aliases=("identifiant",)),
                _f("action_id", "str", "Action", required=True,
                   aliases=("action", "fiche_action", "id_action")),
                _f("financeur", "str", "Financeur", required=True,
                   aliases=("partenaire", "organisme", "financeurs")),
                _f("annee", "int", "Année", required=True, minimum=2000, maximum=2100,
                   aliases=("exercice", "millesime")),
                _f("montant_prevu", "float", "Montant prévu (€)", minimum=0,
                   aliases=("prevu", "montant_previsionnel", "previsionnel")),
                _f("montant_engage", "float", "Montant engagé (€)", minimum=0,
                   aliases=("engage", "engagement", "montant_attribue")),
                _f("montant_verse", "float", "Montant versé (€)", minimum=0,
                   aliases=("verse", "paye", "montant_paye", "mandate")),
                _f("dispositif", "str", "Dispositif", aliases=("programme", "aide")),
                _f("commentaire", "str", "Commentaire", aliases=("observations", "remarque")),
                _SOURCE,
            ),
        ),
        LayerSpec(
            # Yearly values of the article 8 indicators that the layers cannot measure.
            name="indicateurs_valeurs", title="Valeurs des indicateurs (article 8)",
            geometry="None", key="id", editable=True, within_territory=False,
            key_from=("indicateur", "secteur_id", "annee"),
            fields=(
                _f("id", "str", "Identifiant", required=True, aliases=("identifiant",)),
                _f("indicateur", "str", "Indicateur", required=True, aliases=("code",)),
                _f("secteur_id", "str", "Secteur (vide : tout le territoire)",
                   aliases=("secteur", "zone")),
                _f("annee", "int", "Année", required=True, minimum=2000, maximum=2100),
                _f("valeur", "float", "Valeur", required=True),
                _f("unite", "str", "Unité"),
                _f("commentaire", "str", "Commentaire"),
                _f("source", "str", "Source", required=True, aliases=("origine",)),
            ),
        ),
        LayerSpec(
            name="batiments", title="Bâtiments", geometry="Polygon", key="id",
            accepts_points=True, allow_overlap=True,
            fields=(
                _f("id", "str", "Identifiant", required=True, aliases=("cleabs", "identifiant")),
                _f("rnb_id", "str", "Identifiant RNB", aliases=("rnb", "identifiant_rnb")),
                _f("adresse", "str", "Adresse BAN", aliases=("adresse_ban", "address")),
                _f("idpar", "str", "Parcelle cadastrale", aliases=("parcelle", "id_parcelle")),
                _INSEE,
                _f("annee_construction", "int", "Année de construction", minimum=1000,
                   maximum=2100, aliases=("date_creat", "annee", "year")),
                _f("usage", "str", "Usage principal", aliases=("usage_1", "usage1")),
                _f("nb_logements", "int", "Logements", minimum=0, aliases=("nombre_de_logements",
                                                                           "logements")),
                _f("nb_logements_vacants", "int", "Logements vacants", minimum=0, public=False,
                   aliases=("vacants", "nb_vacants")),
                _f("annee_debut_vacance", "int", "Début de la vacance", public=False,
                   minimum=1900, maximum=2100),
                _f("etat", "enum", "État du bâti", public=False,
                   choices=("bon", "moyen", "degrade", "tres_degrade")),
                _f("habitat_indigne", "bool", "Habitat indigne repéré", public=False),
                _f("rdc_commerce", "bool", "Rez-de-chaussée commercial"),
                _f("rdc_vacant", "bool", "Rez-de-chaussée vacant", public=False),
                _f("proprietaire_type", "str", "Type de propriétaire", public=False),
                _DEMO, _SOURCE,
            ),
        ),
        LayerSpec(
            name="commerces", title="Commerces et locaux vacants", geometry="Point", key="id",
            fields=(
                _ID, _NOM,
                _f("activite", "str", "Activité"),
                _f("vacant", "bool", "Local vacant"),
                _INSEE,
                _f("adresse", "str", "Adresse"),
                _DEMO, _SOURCE,
            ),
        ),
        LayerSpec(
            name="mobilites_actives", title="Mobilités actives", geometry="LineString", key="id",
            editable=True,
            fields=(
                _ID, _NOM,
                _f("type", "enum", "Type d'aménagement",
                   choices=("voie_verte", "piste_cyclable", "bande_cyclable", "chemin_pieton",
                            "autre")),
                _f("statut", "enum", "Statut", choices=("existant", "projete")),
                _INSEE, _SOURCE,
            ),
        ),
    )
)
