FROM python:3.11-slim
# PYTHONPATH: web, worker and beat all import the code in /app (next to templates/ and
# static/), never the copy pip put in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY clinic ./clinic
COPY waitlist ./waitlist
COPY offers ./offers
COPY messaging ./messaging
COPY portal ./portal
COPY ehr ./ehr
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --create-home app && mkdir -p var && chown -R app var
USER app
# collectstatic runs under production settings (whitenoise's manifest storage), which
# refuse to start without a secret and hosts: these build-time values are never served.
RUN DEBUG=false SECRET_KEY=build-time-only-not-a-secret-0123456789abcdefghijklmnop \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "clinic.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
