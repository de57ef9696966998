"""The one direction of dependencies (README "Layout"): clinic <- accounts <- messaging <-
waitlist <- offers <- portal, ehr. An arrow back fails the suite: in the imports (the
import-linter contract in pyproject.toml), in the models' relations and in the
migrations' dependencies."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parents[1]
# Lowest first, as in [tool.importlinter] (portal and ehr share the top floor).
FLOORS = [{"clinic"}, {"accounts"}, {"messaging"}, {"waitlist"}, {"offers"}, {"portal", "ehr"}]
FLOOR_OF = {label: number for number, labels in enumerate(FLOORS) for label in labels}


def test_no_import_runs_against_the_layers():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency: make install"
    run = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


def test_no_model_of_a_lower_app_names_a_higher_one():
    arrows = []
    for model in apps.get_models(include_auto_created=True):
        own = FLOOR_OF.get(model._meta.app_label)
        if own is None:
            continue
        for model_field in model._meta.get_fields(include_hidden=True):
            if not model_field.is_relation or model_field.auto_created:
                continue
            target = model_field.related_model
            other = FLOOR_OF.get(target._meta.app_label) if target else None
            if other is not None and other > own:
                arrows.append(f"{model._meta.label}.{model_field.name} -> {target._meta.label}")
    assert arrows == []


@pytest.mark.django_db
def test_no_migration_of_a_lower_app_depends_on_a_higher_one():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    arrows = []
    for (label, name), migration in loader.disk_migrations.items():
        own = FLOOR_OF.get(label)
        if own is None:
            continue
        for dependency_label, _ in migration.dependencies:
            other = FLOOR_OF.get(dependency_label)
            if other is not None and other > own:
                arrows.append(f"{label}.{name} -> {dependency_label}")
        for operation in migration.operations:
            for model_field in _fields_of(operation):
                target = getattr(model_field.remote_field, "model", None)
                if isinstance(target, str) and "." in target:
                    other = FLOOR_OF.get(target.split(".")[0].lower())
                    if other is not None and other > own:
                        arrows.append(f"{label}.{name}: a field to {target}")
    assert arrows == []


def _fields_of(operation):
    if hasattr(operation, "fields"):
        return [model_field for _, model_field in operation.fields]
    if hasattr(operation, "field") and operation.field is not None:
        return [operation.field]
    return []
