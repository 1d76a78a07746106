# dsba-platform: the web app and API under gunicorn, non-root, model store on a volume.
#
#   docker build -t dsba-platform .
#   docker run -p 8000:8000 -v dsba-models:/app/models/registry dsba-platform
#
# PYTHON_IMAGE lets a build use a mirror or a locally built stand-in of the same
# image (tests/deploy/test_container.py does, where Docker Hub is unreachable).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid so that volume permissions can be granted to it from outside. The
# home is writable (gunicorn puts its control socket there); /app is not.
RUN groupadd --system --gid 10001 dsba \
    && useradd --system --uid 10001 --gid dsba --create-home --home-dir /home/dsba \
        --shell /usr/sbin/nologin dsba

WORKDIR /app

# Dependencies first, read from pyproject.toml alone: this layer is rebuilt only
# when the dependency list changes, not on every code change. DSBA_EXTRAS names
# optional groups to add, e.g. "dask" for an app (and workers) that train on Dask.
ARG DSBA_EXTRAS=""
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [d for e in os.environ['DSBA_EXTRAS'].split(',') if e for d in p['optional-dependencies'][e]]; print('\n'.join(p['dependencies'] + extras))" > /tmp/requirements.txt \
    && python -m pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code. An editable install keeps one copy, in /app, where the app finds
# templates/ and static/, and still puts the `dsba` command on PATH.
COPY README.md wsgi.py gunicorn.conf.py ./
COPY dsba ./dsba
COPY webapp ./webapp
COPY templates ./templates
COPY static ./static
RUN python -m pip install --no-cache-dir --no-deps -e . \
    && mkdir -p /app/models/registry \
    && chown dsba:dsba /app/models/registry

ENV DSBA_REGISTRY_DIR=/app/models/registry \
    DSBA_BIND=0.0.0.0:8000

USER 10001:10001
EXPOSE 8000

# slim has no curl: ask /healthz with the standard library, on the port gunicorn binds.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('DSBA_BIND', ':8000').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
