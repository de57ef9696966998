"""GET /healthz: 200 with JSON when the database answers; says how the broker is."""

import os

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        return False


def broker_answers() -> bool:
    if settings.REDIS_URL:
        import redis

        try:
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
            )
            return bool(client.ping())
        except redis.RedisError:
            return False
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
    return os.path.isdir(folder) and os.access(folder, os.W_OK)


@never_cache
@require_GET
def healthz(request):
    database_ok = database_answers()
    broker_ok = broker_answers()
    body = {
        "status": "ok" if database_ok and broker_ok else ("degraded" if database_ok else "down"),
        "database": "ok" if database_ok else "error",
        "broker": "ok" if broker_ok else "error",
        "broker_kind": "redis" if settings.REDIS_URL else "filesystem",
    }
    return JsonResponse(body, status=200 if database_ok else 503)
