#!/usr/bin/env bash
# Fails if any container or network of an ephemeral (test-owned) stack is left behind.
set -euo pipefail
left_c="$(docker ps -a --filter label=stackdrill.kit=1 --format '{{.Names}} {{.Label "stackdrill.owner_pid"}}' | awk '$2 != "0" && $2 != ""')"
left_n="$(docker network ls --filter label=stackdrill.kit=1 --format '{{.Name}} {{.Label "stackdrill.owner_pid"}}' | awk '$2 != "0" && $2 != ""')"
if [ -n "$left_c$left_n" ]; then
    echo "[test] FAILED: stackdrill objects left behind:" >&2
    printf '%s\n' "$left_c" "$left_n" >&2
    exit 1
fi
echo "[test] no containers or networks of test stacks left"
