"""`python -m clinic.lib.dbcheck URL`: exit 0 if a PostgreSQL server answers at URL."""

import sys

import environ
import psycopg


def postgres_answers(url: str) -> bool:
    config = environ.Env.db_url_config(url)
    try:
        with psycopg.connect(
            host=config.get("HOST") or "127.0.0.1",
            port=config.get("PORT") or 5432,
            user=config.get("USER") or "postgres",
            password=config.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=3,
        ):
            return True
    except psycopg.Error:
        return False


if __name__ == "__main__":
    sys.exit(0 if postgres_answers(sys.argv[1]) else 1)
