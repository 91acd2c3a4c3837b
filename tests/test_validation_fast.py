"""One feature typed without a frame (:func:`ort_geo.validation.type_feature`, the path of every
edit) is exactly the frame path's result — the same typed values, or the same error."""

from __future__ import annotations

import datetime as dt

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from ort_geo.catalogue import CATALOGUE
from ort_geo.features import Feature
from ort_geo.store.base import features_to_frame
from ort_geo.validation import frame_to_features, type_feature

LAYERS = ["secteurs_ort", "actions", "financements", "permis_de_louer", "mobilites_actives"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["", " 12 ", "3,5", "oui", "non", "2024-03-01",
                                           "01/03/2024", "quartier", "centre_ville",
                                           "autorisation_prealable", "x",
                                           "a\x00b"]),  # never storable text
    st.dates(dt.date(1990, 1, 1), dt.date(2040, 1, 1)), st.lists(st.integers(), max_size=2),
    st.integers(-10**6, 10**6).map(np.int64), st.floats(allow_nan=True).map(np.float64),
    st.booleans().map(np.bool_))  # as a stored feature carries them
BOX = shapely.box(1010000, 6802000, 1010100, 6802100)
FITTING = {"secteurs_ort": shapely.MultiPolygon([BOX]), "permis_de_louer": BOX,
           "actions": shapely.Point(1010000, 6802000), "financements": None,
           "mobilites_actives": shapely.LineString([(1010000, 6802000), (1010050, 6802050)])}
GEOMETRIES = st.sampled_from([
    None, BOX, shapely.Point(1010000, 6802000), shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]),
    shapely.Polygon(), shapely.MultiLineString([[(0, 0), (1, 1)], [(5, 5), (6, 6)]])])


def _outcome(fn):
    try:
        return fn()
    except Exception as exc:  # the same error class and text is what is compared
        return type(exc), str(exc)


@settings(max_examples=120, deadline=None)
@given(layer=st.sampled_from(LAYERS), data=st.data(), fid=st.sampled_from(["a1", " a2 ", ""]))
def test_type_feature_is_the_frame_path(layer, data, fid):
    spec = CATALOGUE[layer]
    required = [f.name for f in spec.fields if f.required and f.name != spec.key]
    names = required + data.draw(st.lists(st.sampled_from(
        [n for n in spec.field_names[1:] if n not in required]), unique=True, max_size=6))
    if data.draw(st.integers(0, 9)) == 0:
        names.append("inconnu")
    geometry = FITTING[layer] if data.draw(st.integers(0, 3)) else data.draw(GEOMETRIES)
    feature = Feature(fid, {n: data.draw(VALUES) for n in names}, geometry)
    slow = _outcome(lambda: frame_to_features(spec, features_to_frame(spec, [feature]))[0])
    fast = _outcome(lambda: type_feature(spec, feature))
    assert fast == slow


def test_text_no_client_reads_whole_is_refused_on_both_paths():
    """A NUL (cut short by every C client) in a text column: the bulk column path leaves the
    cell to coerce_value, which refuses it; so does the one-feature path, and for a lone
    surrogate too (JSON "\\ud800": no UTF-8 for it; pandas refuses it in a frame already)."""
    spec = CATALOGUE["actions"]

    def feature(fid: str, title: str) -> Feature:
        return Feature(fid, {"numero": "1", "titre": title, "orientation": 1},
                       FITTING["actions"])

    frame = features_to_frame(spec, [feature("a0", "bon"), feature("a1", "a\x00b")])
    for outcome in (_outcome(lambda: frame_to_features(spec, frame)),
                    _outcome(lambda: type_feature(spec, feature("a1", "a\x00b"))),
                    _outcome(lambda: type_feature(spec, feature("a1", "x\ud800")))):
        kind, text = outcome
        assert "titre" in text and "n'est pas un texte valide" in text, outcome
