# Help desk application image: gunicorn + whitenoise, PostgreSQL and MariaDB drivers.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# mysqlclient builds from source: it needs the MariaDB client headers and pkg-config.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --upgrade pip && pip install ".[postgres,mysql,prod]"
COPY . .
RUN DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=collectstatic \
    DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/collect.sqlite3 \
    python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 helpdesk
USER helpdesk
ENV DJANGO_SETTINGS_MODULE=config.settings.production
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--config", "config/gunicorn.py"]
