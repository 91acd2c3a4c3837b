"""What the statistics add up per zone, declared once so that every backend computes the same thing.

A :class:`Measure` is the sum of a field (missing values count 0) or a count of features, over the
features meeting all its conditions. Evaluated with numpy on columns read from any store
(:func:`evaluate`), or translated to SQL aggregates where the store can join in its database
(:mod:`ort_geo.store.postgis`). Both give the same figures; the tests check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

ConditionOp = Literal["in", "not_in", "le", "true", "known"]


@dataclass(frozen=True)
class Condition:
    """``field`` among ``value`` (``in``), missing or not among them (``not_in``), ``<= value``
    (``le``), true, or known (not missing)."""

    field: str
    op: ConditionOp
    value: Any = None


@dataclass(frozen=True)
class Measure:
    """Sum of ``field`` (a count of features when None) over features meeting ``where``."""

    name: str
    field: str | None = None
    where: tuple[Condition, ...] = ()
    #: Sums of an integer field stay exact integers; float sums (money) are floats.
    integer: bool = True

    def fields(self) -> set[str]:
        return ({self.field} if self.field else set()) | {c.field for c in self.where}


def with_condition(measures: Sequence[Measure], condition: Condition) -> tuple[Measure, ...]:
    """The measures restricted to the features meeting ``condition`` too."""
    return tuple(Measure(m.name, m.field, (*m.where, condition), m.integer) for m in measures)


def fields_of(measures: Sequence[Measure]) -> list[str]:
    """Every field the measures read, sorted."""
    return sorted(set().union(*(m.fields() for m in measures)))


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    column = frame[name]
    if column.dtype != object and pd.api.types.is_numeric_dtype(column.dtype) \
            and not pd.api.types.is_bool_dtype(column.dtype):
        # Numbers already (nullable or not): no parsing, missing -> NaN.
        return column.to_numpy(np.float64, na_value=np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _isin(column: pd.Series, values: Sequence[Any]) -> np.ndarray:
    """``column.isin(values)``, through the codes when categorical (20 M rows in a blink)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        hit = np.r_[np.isin(column.cat.categories, list(values)), False]  # code -1 -> False
        return hit[codes]
    return column.isin(list(values)).to_numpy(dtype=bool, na_value=False)


def _condition(frame: pd.DataFrame, c: Condition) -> np.ndarray:
    if c.field not in frame.columns:
        return np.zeros(len(frame), bool)
    column = frame[c.field]
    if c.op == "in":
        return _isin(column, c.value)
    if c.op == "not_in":
        return ~_isin(column, c.value)
    if c.op == "le":
        return _numbers(frame, c.field) <= c.value  # missing (NaN) never qualifies
    if c.op == "true":
        if column.dtype == bool:
            return column.to_numpy()
        return column.fillna(False).astype(bool).to_numpy()
    if c.op == "known":
        return column.notna().to_numpy()
    raise ValueError(f"unknown condition {c.op!r}")


def evaluate(measures: Sequence[Measure], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per feature of ``frame``, the value each measure adds (bool for counts)."""
    out: dict[str, np.ndarray] = {}
    cache: dict[Condition, np.ndarray] = {}
    for m in measures:
        keep = np.ones(len(frame), bool)
        for c in m.where:
            if c not in cache:
                cache[c] = _condition(frame, c)
            keep = keep & cache[c]
        if m.field is None:
            out[m.name] = keep
            continue
        column = frame[m.field] if m.field in frame.columns else None
        if (m.integer and column is not None and isinstance(column.dtype, np.dtype)
                and column.dtype.kind in "iu"):
            values = column.to_numpy().astype(np.int64, copy=False)  # plain integers: no NaN
        else:
            values = np.nan_to_num(_numbers(frame, m.field), nan=0.0)
            if m.integer:
                values = values.astype(np.int64)
        out[m.name] = np.where(keep, values, 0)
    return out


__all__ = ["Condition", "Measure", "evaluate", "fields_of", "with_condition"]
