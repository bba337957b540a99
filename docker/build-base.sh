#!/usr/bin/env bash
# `make docker-base`: build a local Debian bookworm base image with Python 3.11, for machines that
# cannot pull from an image registry (`make docker` then uses it instead of python:3.11-slim).
#
# Site-specific on purpose: the Debian mirror is read from this machine's apt sources and this
# machine's extra CA certificates go into the base, so that pip inside `docker build` reaches the
# same package index as the host does. None of that is written into the repository.
# Idempotent: an existing base image is kept (DOCKER_BASE_REBUILD=1 rebuilds it).
#
# Environment: DOCKER_BASE (image name, default localbase/python:3.11-bookworm),
#              DOCKER_BASE_MIRROR (a Debian mirror URL, default: read from /etc/apt/sources*),
#              DOCKER (the docker client, default docker).
set -euo pipefail

BASE="${DOCKER_BASE:-localbase/python:3.11-bookworm}"
SUITE=bookworm
DOCKER="${DOCKER:-docker}"
# mediapipe's OpenCV needs libgl1 and libglib2.0-0; python3-venv because Debian's Python is PEP 668 managed.
PACKAGES=python3,python3-venv,ca-certificates,libgl1,libglib2.0-0

if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "docker-base: no docker daemon answers ($DOCKER info failed); start dockerd first" >&2
  exit 2
fi
if [ "${DOCKER_BASE_REBUILD:-0}" != 1 ] && "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  echo "docker-base: $BASE already exists (DOCKER_BASE_REBUILD=1 rebuilds it)"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "docker-base: debootstrap is missing; install it (apt-get install debootstrap)" >&2
  exit 2
fi

# The first Debian mirror this machine's apt uses for $SUITE itself (not -security/-updates).
mirror_from_apt() {
  local f
  # deb822 .sources files: a stanza's URIs line, kept when the same stanza lists "$SUITE" in Suites.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; found = 1; exit } uri = ""; ok = 0; next }
      /^URIs:/   { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END        { if (!found && uri != "" && ok) print uri }' "$f"
  done
  # one-line "deb URL SUITE ..." entries.
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" { u = ($2 ~ /^\[/) ? 3 : 2; if ($(u + 1) == suite) print $u }' "$f"
  done
}
MIRROR="${DOCKER_BASE_MIRROR:-$(mirror_from_apt | head -n 1)}"
if [ -z "$MIRROR" ]; then
  echo "docker-base: no Debian $SUITE mirror in /etc/apt/sources*; set DOCKER_BASE_MIRROR=URL" >&2
  exit 2
fi

ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/dflens-base-XXXXXX")"
trap 'rm -rf "$ROOTFS"' EXIT

echo "docker-base: debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >/dev/null

# This machine's extra CA certificates (a TLS-inspecting egress proxy, for one), so pip in the build
# trusts the same index the host trusts.
shopt -s nullglob
certs=(/usr/local/share/ca-certificates/*.crt)
if [ "${#certs[@]}" -gt 0 ]; then
  cp "${certs[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null
fi
# pip's own bundle does not know those certificates: point it at the system's.
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$ROOTFS/etc/pip.conf"

# Nothing the image needs at run time: the package cache and lists.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

tar -C "$ROOTFS" -c . | "$DOCKER" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE" >/dev/null
echo "docker-base: built $BASE ($("$DOCKER" image inspect -f '{{.Size}}' "$BASE") bytes)"
