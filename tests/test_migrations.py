"""Alembic owns the schema: `upgrade head` on empty SQLite and PostgreSQL gives exactly the models.

Two views of "exactly": Alembic's own autogenerate comparison (with column types), and an explicit comparison of
the reflected schema with the models' metadata: every column's type, nullability and primary key, every unique,
foreign-key and check constraint, and every index. Nothing is ignored; what a database cannot report the same way
is normalised: PostgreSQL rewrites check expressions, so there the models' checks are written by PostgreSQL itself
(`create_all` into a scratch schema) and read back the same way as the migrated ones."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import Database
from bot.db.models import Base

Shape = dict[str, Any]


def test_upgrade_head_matches_the_models_for_alembic(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_head_has_the_models_columns_constraints_and_indexes(db: Database) -> None:
    with db.engine.connect() as connection:
        migrated = reflected_shape(connection)
        expected = model_shape(Base.metadata, connection.dialect, model_check_texts(db, Base.metadata))
    assert sorted(migrated) == sorted(expected)
    for table in expected:
        assert migrated[table] == expected[table], table


def test_schema_refuses_bad_states(db: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as session:
        session.execute(
            sa.text(
                "INSERT INTO conversations (id, created_at, updated_at, channel, state) "
                "VALUES ('x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'web', 'sleeping')"
            )
        )


def test_the_comparison_sees_a_schema_that_differs(db: Database) -> None:
    """Positive control: a model with one more index, a looser column and one check fewer is told apart."""
    changed = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    tickets = changed.tables["tickets"]
    tickets.c.status.nullable = True
    tickets.constraints = {c for c in tickets.constraints if getattr(c, "name", None) != "ck_tickets_satisfaction"}
    sa.Index("ix_tickets_extra", tickets.c.status)
    with db.engine.connect() as connection:
        migrated = reflected_shape(connection)["tickets"]
        expected = model_shape(changed, connection.dialect, model_check_texts(db, changed))["tickets"]
    assert migrated["columns"]["status"] != expected["columns"]["status"]
    assert migrated["checks"] != expected["checks"]
    assert migrated["indexes"] != expected["indexes"]


# -- the two shapes -------------------------------------------------------------------------------------------


def _type(type_: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> str:
    """The DDL type the dialect writes (a TypeDecorator writes its implementation), spaces normalised."""
    return re.sub(r"\s+", " ", type_.compile(dialect=dialect)).upper()


def _check_text(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def _ondelete(value: str | None) -> str | None:
    return None if value is None or value.upper() == "NO ACTION" else value.upper()


def model_check_texts(db: Database, metadata: sa.MetaData) -> dict[tuple[str, str], str]:
    """(table, check name) -> the check's SQL as this database reports it. SQLite keeps the text as written;
    PostgreSQL rewrites it, so the models are created in a scratch schema and their checks read back."""
    if db.engine.dialect.name == "sqlite":
        return {
            (table.name, c.name): _check_text(str(c.sqltext))
            for table in metadata.tables.values()
            for c in table.constraints
            if isinstance(c, sa.CheckConstraint)
        }
    scratch = "models_" + secrets.token_hex(4)
    with db.engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{scratch}"'))
    try:
        with db.engine.begin() as connection:
            metadata.create_all(connection.execution_options(schema_translate_map={None: scratch}))
        with db.engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {
                (table, c["name"]): _check_text(c["sqltext"])
                for table in inspector.get_table_names(schema=scratch)
                for c in inspector.get_check_constraints(table, schema=scratch)
            }
    finally:
        with db.engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{scratch}" CASCADE'))


def model_shape(
    metadata: sa.MetaData, dialect: sa.engine.Dialect, check_texts: dict[tuple[str, str], str]
) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for table in metadata.sorted_tables:
        named_checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
        shapes[table.name] = {
            "columns": {
                column.name: {"type": _type(column.type, dialect), "nullable": bool(column.nullable)}
                for column in table.columns
            },
            "primary_key": sorted(column.name for column in table.primary_key.columns),
            "uniques": sorted(
                (tuple(column.name for column in c.columns), c.name)
                for c in table.constraints
                if isinstance(c, sa.UniqueConstraint)
            ),
            "foreign_keys": sorted(
                (
                    tuple(element.parent.name for element in fk.elements),
                    fk.referred_table.name,
                    tuple(element.column.name for element in fk.elements),
                    _ondelete(fk.ondelete),
                )
                for fk in table.foreign_key_constraints
            ),
            "checks": sorted((c.name, check_texts[(table.name, c.name)]) for c in named_checks),
            "indexes": sorted(
                (index.name, tuple(column.name for column in index.columns), bool(index.unique))
                for index in table.indexes
            ),
        }
    return shapes


def reflected_shape(connection: sa.engine.Connection) -> dict[str, Shape]:
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    model_uniques = {c.name for t in Base.metadata.tables.values() for c in t.constraints if c.name}
    shapes: dict[str, Shape] = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        uniques = inspector.get_unique_constraints(name)
        indexes = [i for i in inspector.get_indexes(name) if not i.get("duplicates_constraint")]
        shapes[name] = {
            "columns": {
                c["name"]: {"type": _type(c["type"], dialect), "nullable": bool(c["nullable"])}
                for c in inspector.get_columns(name)
            },
            "primary_key": sorted(inspector.get_pk_constraint(name)["constrained_columns"]),
            # An unnamed unique constraint in the models gets a name the database chooses: compare only its columns.
            "uniques": sorted(
                (tuple(u["column_names"]), u["name"] if u["name"] in model_uniques else None) for u in uniques
            ),
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    _ondelete(fk.get("options", {}).get("ondelete")),
                )
                for fk in inspector.get_foreign_keys(name)
            ),
            "checks": sorted((c["name"], _check_text(c["sqltext"])) for c in inspector.get_check_constraints(name)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in indexes),
        }
    return shapes
