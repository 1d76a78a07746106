#!/usr/bin/env bash
# Build localhost/python-standin:3.11, a stand-in for python:3.11-slim made from
# Debian packages, for machines that reach Debian's mirror but not Docker Hub.
# It is Debian bookworm (the same release python:3.11-slim is built on) with
# its python3.11 as `python` and pip allowed to install into it.
#
#   sudo apt-get install -y podman runc debootstrap
#   sudo tests/deploy/python_standin.sh
#   tests/deploy/test_container_image.py then builds the Dockerfile on it.
set -euo pipefail

IMAGE=${1:-localhost/python-standin:3.11}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

# passwd: the Dockerfile adds a user; ca-certificates: pip talks HTTPS.
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates,passwd \
    bookworm "$root" "$MIRROR"
ln -sf python3 "$root/usr/bin/python"
# The official image's Python is not managed by apt, so pip may install into it.
rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
# A proxy that re-signs HTTPS needs this machine's CA bundle inside, too.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -cf "$work/root.tar" .
podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    "$work/root.tar" "$IMAGE"
echo "built $IMAGE"
