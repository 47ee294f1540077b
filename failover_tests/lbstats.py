"""HAProxy's view of its backends, read from the stats page each LB publishes on 127.0.0.1."""

from __future__ import annotations

import csv
import io

import requests


def server_column(stats_url: str, column: str, timeout_s: float = 2.0) -> dict[str, dict[str, str]]:
    """backend -> server -> one column of HAProxy's `;csv` stats (`status`, `weight`, ...)."""
    resp = requests.get(f"{stats_url}/stats;csv", timeout=timeout_s)
    resp.raise_for_status()
    text = resp.text.lstrip("# ")
    out: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        server = row.get("svname", "")
        if server in ("FRONTEND", "BACKEND"):
            continue
        out.setdefault(row["pxname"], {})[server] = row.get(column, "")
    return out


def server_states(stats_url: str, timeout_s: float = 2.0) -> dict[str, dict[str, str]]:
    """backend -> server -> status (UP, DOWN, MAINT, `UP 1/2`, ...), from `;csv`."""
    return server_column(stats_url, "status", timeout_s)


def server_weights(stats_url: str, timeout_s: float = 2.0) -> dict[str, dict[str, int]]:
    """backend -> server -> current weight (slow start and agent checks change it)."""
    return {
        backend: {server: int(w or 0) for server, w in servers.items()}
        for backend, servers in server_column(stats_url, "weight", timeout_s).items()
    }


def is_up(status: str) -> bool:
    """Whether HAProxy routes to a server in this state (`UP`, `UP 1/2`, `no check`)."""
    return status.startswith("UP") or status == "no check"
