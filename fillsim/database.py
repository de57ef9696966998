"""Each run's own database: a SQLite file copied from a migrated template.

Migrating takes seconds, copying a file milliseconds, so the template is made once per
set of migrations (its name carries their hash) under var/fillsim/ and reused.
"""

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings


def _migrations_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(settings.BASE_DIR).glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(settings.BASE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def template_path() -> Path:
    return Path(settings.VAR_DIR) / "fillsim" / f"template-{_migrations_hash()}.sqlite3"


def template_ensure() -> Path:
    """The migrated template database, made (by `manage.py migrate`) if missing."""
    path = template_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        fresh = Path(work) / "template.sqlite3"
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{fresh}", "LOG_LEVEL": "warning"}
        env.pop("REDIS_URL", None)
        migrate = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "migrate",
                   "--noinput", "-v0"]
        subprocess.run(migrate, env=env, check=True)  # noqa: S603 (our own manage.py)
        # One self-contained file: the write-ahead log folded in.
        with sqlite3.connect(fresh) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")
        db.close()
        os.replace(fresh, path)  # atomic: a concurrent run sees no half-made file
    return path


def run_database(directory: Path, name: str) -> Path:
    """A fresh copy of the template for one run, in `directory`."""
    target = Path(directory) / f"{name}.sqlite3"
    shutil.copyfile(template_ensure(), target)
    return target
