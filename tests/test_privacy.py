import geopandas as gpd
import shapely

from ort_geo.catalogue import CATALOGUE
from ort_geo.privacy import MASK, mask_count, mask_rate, public_view


def test_counts_between_one_and_ten_are_masked():
    assert [mask_count(n) for n in (0, 1, 10, 11, 250)] == [0, MASK, MASK, 11, 250]
    assert mask_rate(0.25, 40, 10) == MASK
    assert mask_rate(0.25, 40, 11) == 0.25


def test_public_view_drops_occupancy_fields():
    spec = CATALOGUE["batiments"]
    frame = gpd.GeoDataFrame({"id": ["b"], "nb_logements": [3], "nb_logements_vacants": [2],
                              "etat": ["degrade"]}, geometry=[shapely.Point(0, 0)])
    view = public_view(spec, frame)
    assert set(view.columns) == {"id", "nb_logements", "geometry"}
    assert {"nb_logements_vacants", "annee_debut_vacance", "etat", "habitat_indigne",
            "proprietaire_type"} <= set(spec.private_fields)
