"""Create or drop the bench's own PostgreSQL database (bench/run.sh calls this).

    python -m bench.database create|drop postgres://user@host:port DBNAME
"""

import re
import sys

import psycopg
from psycopg import sql


def main(action: str, server: str, name: str) -> None:
    if not re.fullmatch(r"slotfill_bench\w*", name):
        raise SystemExit(f"Refusing to touch database {name!r}: bench databases are "
                         "named slotfill_bench*.")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                           .format(sql.Identifier(name)))
        if action == "create":
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    main(*sys.argv[1:])
