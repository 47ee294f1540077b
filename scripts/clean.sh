#!/usr/bin/env bash
# Removes everything stackdrill created: containers, networks, images it built, state. Nothing else.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if docker info >/dev/null 2>&1; then
    ids="$(docker ps -aq --filter label=stackdrill.kit=1)"
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null && echo "[clean] removed containers"
    nets="$(docker network ls -q --filter label=stackdrill.kit=1)"
    [ -n "$nets" ] && docker network rm $nets >/dev/null && echo "[clean] removed networks"
    imgs="$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^stackdrill/' || true)"
    [ -n "$imgs" ] && docker rmi -f $imgs >/dev/null && echo "[clean] removed images"
fi
rm -rf "$ROOT/.state" "$ROOT/reports" && echo "[clean] removed .state and reports"
echo "[clean] kept: .venv and the per-user build cache (~/.cache/stackdrill); rm -rf them to start over"
