"""What a territory's manifest says about following its programme (validated data, no code).

* ``[[indicateurs]]`` — the article 8 indicators: the convention's indicator, its reference and
  objective (quoted from the convention), and how it is known: ``mesure`` names a column of
  :data:`ort_geo.stats.COLUMNS` computed per sector and per year from the layers; without it the
  values are entered each year (layer ``indicateurs_valeurs``) with their source.
* ``[historique_demo]`` — a seeded demonstration history (three years of vacancy, condition,
  action progress and financing edits, one perimeter revision) written by ``ort-geo build`` with
  past journal dates, labelled as demonstration data everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class IndicatorSpec(BaseModel):
    """One indicator of the convention's article 8."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    orientation: int = Field(ge=1, le=9)
    intitule: str
    #: The indicator as the convention names it (article 8's table).
    indicateur_convention: str
    #: The convention's reference and objective, quoted.
    reference: str
    objectif: str
    #: A statistics column (ort_geo.stats.COLUMNS) measuring it; None: values entered yearly.
    mesure: str | None = None
    unite: str = ""
    #: The direction the objective asks for.
    sens: Literal["hausse", "baisse", "maintien"] | None = None
    #: Where entered values come from (shown beside them).
    source: str = ""


class DemoHistory(BaseModel):
    """A seeded, labelled demonstration history of the programme (see ort_geo.demo_history)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    debut: dt.date
    fin: dt.date
    seed: int = 2154
    financeurs: tuple[str, ...] = ()
    #: The sector whose perimeter is revised once, and when.
    revision_secteur: str | None = None
    revision_date: dt.date | None = None
    revision_deliberation: str = ""
