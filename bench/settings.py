"""Settings for the web server that `make bench` starts: the product's settings plus one
URL, the baseline view (bench/views.py). Production never loads this module, so the
baseline can never be routed there; the Celery worker of the bench runs on the product's
own settings.
"""

from clinic.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
