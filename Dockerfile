# Public demo of the iALS dashboard: Streamlit on port 8501 with the demo limits on.
#
#   docker build -t ials-demo .
#   docker run -p 8501:8501 -v ials-runs:/app/runs ials-demo
#
# Data sets and the run store are volumes. MovieLens terms forbid redistribution, so no
# data set is copied into the image; the app opens on the synthetic data set, which it
# generates itself.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin ials

WORKDIR /app

# Dependencies get their own layer, so a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
RUN mkdir -p /app/data /app/runs /app/numba-cache \
    && chown -R ials:ials /app/data /app/runs /app/numba-cache

# Paths, numba's compile cache (the code under /app is not writable by the user), and
# the demo limits; override any of them with `docker run -e NAME=VALUE`.
# STREAMLIT_SERVER_MAX_UPLOAD_SIZE makes Streamlit reject larger uploads itself; keep
# it equal to IALS_DEMO_MAX_UPLOAD_MB. More workers than IALS_DEMO_MAX_CONCURRENT would
# only wait, so IALS_WORKERS matches it.
ENV IALS_DATA_DIR=/app/data \
    IALS_RUNS_DIR=/app/runs \
    NUMBA_CACHE_DIR=/app/numba-cache \
    IALS_DEMO=1 \
    IALS_DEMO_MAX_DIM=256 \
    IALS_DEMO_MAX_EPOCHS=32 \
    IALS_DEMO_MAX_CONCURRENT=2 \
    IALS_DEMO_RUNS_PER_HOUR=10 \
    IALS_DEMO_MAX_UPLOAD_MB=50 \
    IALS_READ_ONLY=0 \
    IALS_WORKERS=2 \
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=50

VOLUME ["/app/data", "/app/runs"]

USER ials

EXPOSE 8501

# The slim image has no curl, so the check uses Python's standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; body = urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).read(); sys.exit(0 if body.strip() == b'ok' else 1)"]

CMD ["streamlit", "run", "app.py", "--server.headless", "true", "--server.address", "0.0.0.0", "--server.port", "8501", "--browser.gatherUsageStats", "false"]
