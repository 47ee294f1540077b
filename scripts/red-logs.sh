#!/usr/bin/env bash
# Print the Redis and Sentinel events of every red scenario's kept logs (reports/logs/<scenario>/).
# Usage: scripts/red-logs.sh [DIR]   (DIR defaults to reports/logs)
set -uo pipefail
dir="${1:-reports/logs}"
[ -d "$dir" ] || exit 0
pattern='odown|sdown|switch-master|failover|tilt|elected|MASTER MODE|REPLICAOF|Loading|DB loaded|AOF|Full resync|Partial resynchronization|redis_fence|Ready to accept|SIGTERM|shutdown|Synchronization with replica|Connecting to MASTER|MASTER <-> REPLICA|convert-to-slave|reboot'
for scenario in "$dir"/*/; do
  echo "=== red scenario: $(basename "$scenario") (store events from its kept logs)"
  for log in "$scenario"*redis*.log "$scenario"*sentinel*.log; do
    [ -f "$log" ] || continue
    echo "--- $(basename "$log")"
    grep -E "$pattern" "$log" | tail -n 30
  done
done
