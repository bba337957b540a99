# Deepfake Lens: the dashboard (default command, port 8501) and the HTTP API (port 8000) in one image.
# Build: `make docker` (README: Docker). Any builder works: no `# syntax=` line (it would pull a frontend
# image) and no `RUN --mount`.
#
# BASE: python:3.11-slim where an image registry is reachable; `make docker-base` builds a local
# Debian bookworm base (with this machine's CA certificates) for machines that cannot pull.
ARG BASE=python:3.11-slim
FROM ${BASE}

# TORCH_INDEX: a PyTorch wheel index with CPU-only builds, e.g. https://download.pytorch.org/whl/cpu.
# Empty (the default): torch comes from the normal index, a CUDA build with ~2.4 GB of nvidia-* wheels
# that still runs on the CPU. See README: Docker for the image size each gives.
ARG TORCH_INDEX=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app

# mediapipe's OpenCV loads libGL and GLib; the local base already has them, python:3.11-slim does not.
RUN if ! ldconfig -p | grep -q 'libGL\.so\.1' || ! ldconfig -p | grep -q 'libglib-2\.0\.so\.0'; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# A venv: Debian's own Python refuses system-wide pip installs (PEP 668).
RUN python3 -m venv /opt/venv

# Requirements before the code, so that a code change reuses this (large, slow) layer.
COPY requirements.txt /app/requirements.txt
RUN set -e; \
    if [ -n "$TORCH_INDEX" ]; then \
        pip install --index-url "$TORCH_INDEX" $(grep -Eo '^(torch|torchvision)==[^ ]+' /app/requirements.txt); \
    fi; \
    pip install -r /app/requirements.txt; \
    pip check

# The analyses run as this user; the code, weights and samples stay root-owned and read-only to it.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin dflens

WORKDIR /app
COPY . /app
# Compile once at build time (the user cannot write /app), and fail the build if the package is broken.
RUN python -m compileall -q dfcore ui pages app.py && python -m dfcore --help >/dev/null

USER dflens
EXPOSE 8501 8000
# The dashboard. In the container it must listen on all its interfaces; the host publishes the port on
# 127.0.0.1 only (compose.yaml, make docker-run). The API: `python -m dfcore serve --host 0.0.0.0`.
# browser.serverAddress: the URL it prints; left unset, Streamlit asks an outside service for the host's
# public IP at start-up.
CMD ["streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501", \
     "--browser.serverAddress", "localhost"]
