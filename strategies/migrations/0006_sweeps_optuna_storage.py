"""Optuna's RDB storage tables, in their own `optuna` schema of our database.

Optuna builds its own tables (and stamps its alembic version) when its storage first opens a
database: this migration does that with the project, so no process needs to create tables at
run time, and a database that is migrated holds the storage TPE sweeps use. Not atomic: Optuna
writes on its own connection, which must see the schema committed.
"""

from django.db import migrations

from strategies.sweeps.optimise import SCHEMA, storage_open


def optuna_tables_create(apps, schema_editor):
    schema_editor.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    storage_open(schema_editor.connection.settings_dict).engine.dispose()


def optuna_tables_drop(apps, schema_editor):
    schema_editor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("strategies", "0005_sweeps")]

    operations = [migrations.RunPython(optuna_tables_create, optuna_tables_drop)]
