"""Reading a model's rows with a statement written once, for the few hot reads that need it.

Django's ``QuerySet`` builds and compiles its SQL at every call, and its ``RawQuerySet`` works
out the columns, the order of the model's fields and the converters at every iteration, even
of no row: on this product's hosts either costs several times what PostgreSQL spends running
the statement (``bench/pkb_historic.py``; docs/benchmarks.md, "Thirteenth round"). ``rows``
selects the model's own columns by name and builds instances as Django's iterators do
(``Model.from_db``, each field's ``from_db_value``), on PostgreSQL, whose driver gives every
other value in its Python type; elsewhere it is ``RawQuerySet``, which also applies the
backend's converters (SQLite's dates, decimals and UUIDs). ``tests/rms/test_sql.py`` holds
both to the ORM's instances, field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


@functools.cache
def _plan(model: type[Model]) -> tuple[str, str, list[str], list[tuple[int, Callable[..., Any]]]]:
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(quote(str(field.column)) for field in fields)
    converters = [
        (index, field.from_db_value)
        for index, field in enumerate(fields)
        if hasattr(field, "from_db_value")
    ]
    return quote(model._meta.db_table), columns, [field.attname for field in fields], converters


def placeholders(values: Sequence[object]) -> str:
    """One ``%s`` a value, for ``IN (...)`` (a list, which SQLite reads too)."""
    return ", ".join(["%s"] * len(values))


def rows[M: Model](
    model: type[M], where: str, params: Sequence[object], order: str = "", limit: int = 0
) -> list[M]:
    """``model``'s rows that ``where`` (SQL over its own columns, values as ``%s``
    parameters) selects, in ``order`` (SQL), at most ``limit`` of them when given, as
    instances."""
    if connection.vendor != "postgresql":
        table, _, _, _ = _plan(model)
        tail = _tail(order, limit)
        sql = f"SELECT * FROM {table} WHERE {where}{tail}"  # noqa: S608 - the model's names
        return list(model._default_manager.raw(sql, params))
    with connection.cursor() as cursor:
        cursor.execute(_statement(model, where, order, limit), list(params))  # type: ignore[arg-type]
        return _instances(model, cursor.fetchall())


def rows_together(reads: Sequence[Read]) -> list[list[Any]]:
    """``rows`` of several reads, in their order: on PostgreSQL sent as one query (one round
    trip; each statement still reads as of its own start), elsewhere one after another."""
    if connection.vendor != "postgresql":
        return [rows(*read) for read in reads]
    statements = []
    params: list[object] = []
    for model, where, values, *rest in reads:
        statements.append(_statement(model, where, *rest))
        params.extend(values)
    found: list[list[Any]] = []
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)  # type: ignore[arg-type]
        for number, (model, *_) in enumerate(reads):
            if number:
                cursor.nextset()
            found.append(_instances(model, cursor.fetchall()))
    return found


# One read of ``rows_together``: the model, the WHERE, its values and, optionally, the order
# and the limit.
type Read = (
    tuple[type[Model], str, Sequence[object]]
    | tuple[type[Model], str, Sequence[object], str]
    | tuple[type[Model], str, Sequence[object], str, int]
)


def _tail(order: str, limit: int) -> str:
    return (f" ORDER BY {order}" if order else "") + (f" LIMIT {int(limit)}" if limit else "")


def _statement(model: type[Model], where: str, order: str = "", limit: int = 0) -> str:
    table, columns, _, _ = _plan(model)
    return f"SELECT {columns} FROM {table} WHERE {where}{_tail(order, limit)}"  # noqa: S608


def _instances[M: Model](model: type[M], fetched: Sequence[tuple[Any, ...]]) -> list[M]:
    """Instances as Django's iterators make them (``Model.from_db``, each field's
    ``from_db_value``) of rows of the model's own columns in their order."""
    _, _, names, converters = _plan(model)
    alias = connection.alias
    found: list[M] = []
    for row in fetched:
        if converters:
            values = list(row)
            for index, convert in converters:
                values[index] = convert(values[index], None, connection)
            row = tuple(values)
        found.append(model.from_db(alias, names, row))
    return found
