"""Start-up fence for a Redis node: an old primary does not come back while Sentinel replaces it.

Redis replication is asynchronous and Sentinel promotes a replica some time after it first
misses the primary. A primary that restarts in that gap comes back as a primary, its replicas
reattach to it, it acknowledges writes, and then the promotion it raced lands: the writes it
took after the promotion are dropped when Sentinel turns it into a replica of the new primary.
Measured here (default topology, primary stopped for 0.6-0.9 s under 20 writes/s): 2
acknowledged writes lost in 2 of 3 runs, and 42 in one CI run of `primary-restart`.

So before `redis-server` starts, this asks the Sentinels how they see the node. A node that
has served before (its marker file exists: this is a restart) and that every answering Sentinel
still names the primary stays down until a Sentinel names another primary (the failover is
over), or the Sentinels plainly will not fail it over (subjectively down without a quorum for
`SDOWN_GRACE_S`), or a bound passes. An earlier rule let a restarted primary start at once when
the Sentinels did not look about to act; but the decision and the node's first PING reply are
apart by the interpreter's exit, redis-server's start and the AOF load, and on a loaded CI
machine the Sentinels crossed `down_after_ms` in between: the node took writes, the promotion
landed, and 60 acknowledged writes were lost (CI, `primary-restart` on the default topology).
A node starting for the first time (no marker) starts unless the Sentinels are failing it over,
have it objectively down, or are about to flag it; but a node that no Sentinel has ever reached
and whose replicas no Sentinel knows (a new store: there is nothing to promote over it) starts at
once, where the rule above held every new stack's primary down for down-after plus the grace
(about 5 s), past its API replicas' first health check. A node that no Sentinel names the
primary, or that no Sentinel can be asked about, starts at once.

Run as `python3 -m services.app.redis_fence --me NAME --sentinels H1,H2 ...`; exits 0 always
(a fence that cannot decide must not keep the store down).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SENTINEL_PORT = 26379
# Time the node needs from the fence's answer to its first PING reply (interpreter exit,
# redis-server start, AOF load) on a busy machine: a flag due within it counts as due.
START_MARGIN_MS = 400
# Sentinel flagged the node subjectively down but no quorum came (too few Sentinels agree):
# no failover will follow, so waiting longer only keeps the store down.
SDOWN_GRACE_S = 3.0


@dataclass(frozen=True)
class View:
    """How one Sentinel sees the primary it monitors."""

    sentinel: str
    primary: str
    flags: frozenset[str]
    ping_pending_ms: int  # since the unanswered PING was sent (0: none pending)
    last_ok_ms: int  # since the last valid PING reply
    reached: bool = True  # the Sentinel has ever had an INFO reply from it (it knows its run id)
    replicas: int = 0  # the replicas of it the Sentinel knows


def view_of(sentinel: str, state: Mapping[str, Any]) -> View:
    """A View from a `SENTINEL MASTER` reply (its field/value pairs as a mapping)."""
    return View(
        sentinel=sentinel,
        primary=str(state.get("ip", "")),
        flags=frozenset(str(state.get("flags", "")).split(",")),
        ping_pending_ms=int(state.get("last-ping-sent", 0) or 0),
        last_ok_ms=int(state.get("last-ok-ping-reply", 0) or 0),
        reached=bool(state.get("runid")),
        replicas=int(state.get("num-slaves", 0) or 0),
    )


def new_store(views: Sequence[View]) -> bool:
    """No answering Sentinel has reached the node or knows a replica of it: nothing to promote over it."""
    return bool(views) and not any(v.reached or v.replicas for v in views)


def reason_to_wait(
    views: Sequence[View], me: str, down_after_ms: int, sdown_for_s: float, *, restarted: bool = False
) -> str | None:
    """Why the node must stay down now, or None to start it.

    `sdown_for_s`: how long the Sentinels have had it subjectively down without a quorum.
    `restarted`: the node has served before (a restart, not its first start).
    """
    if not views or any(v.primary != me for v in views):
        # No Sentinel to ask (never keep the store down on that), or one already names another
        # primary: the node comes back as a replica.
        return None
    if not restarted and new_store(views):
        return None
    for v in views:
        if "failover_in_progress" in v.flags:
            return f"{v.sentinel} is failing {me} over"
        if "o_down" in v.flags:
            return f"{v.sentinel} has {me} objectively down"
    if any("s_down" in v.flags for v in views):
        return None if sdown_for_s >= SDOWN_GRACE_S else f"{me} is subjectively down, waiting for a quorum"
    if restarted:
        return f"the Sentinels still name {me} the primary: a restarted primary waits for their failover"
    clock = max((max(v.ping_pending_ms, v.last_ok_ms) for v in views), default=0)
    if clock >= down_after_ms - START_MARGIN_MS:
        return f"{me} unanswered for {clock} ms of the {down_after_ms} ms down-after: the Sentinels are about to act"
    return None


def _ask(host: str, master: str, timeout_s: float) -> View | None:
    import redis

    try:
        client = redis.Redis(
            host=host,
            port=SENTINEL_PORT,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
        )
        try:
            # Not `client.sentinel_master()`: redis-py 6.4's reply parser raises a TypeError on it
            # (`parse_sentinel_master() got an unexpected keyword argument 'return_responses'`).
            reply = client.execute_command("SENTINEL", "MASTER", master)
            return view_of(host, dict(zip(reply[::2], reply[1::2], strict=True)))
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - an unreachable Sentinel has no say
        return None


def fence(
    me: str, sentinels: Sequence[str], master: str, down_after_ms: int, bound_s: float, *, restarted: bool = False
) -> str:
    """Wait until the node may start; return what decided it (for the container log)."""
    deadline = time.monotonic() + bound_s
    sdown_since: float | None = None
    waited = ""
    with ThreadPoolExecutor(max_workers=max(1, len(sentinels))) as pool:
        while True:
            views = [v for v in pool.map(lambda h: _ask(h, master, 0.3), sentinels) if v is not None]
            now = time.monotonic()
            sdown = any("s_down" in v.flags for v in views)
            sdown_since = (sdown_since or now) if sdown else None
            why = reason_to_wait(
                views, me, down_after_ms, now - sdown_since if sdown_since else 0.0, restarted=restarted
            )
            if why is None:
                other = next((v.primary for v in views if v.primary != me), "")
                if other:
                    now_is = f"{other} is the primary"
                elif new_store(views):
                    now_is = f"{len(views)} Sentinel(s) have never reached it (a new store)"
                else:
                    now_is = f"{len(views)} Sentinel(s) see no failover pending"
                return f"start: {now_is}" + (f" (waited while: {waited})" if waited else "")
            if now >= deadline:
                return f"start after {bound_s:.1f} s anyway: {why}"
            waited = why
            time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: wait as `fence` says, print the decision, exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--me", required=True)
    parser.add_argument("--sentinels", required=True, help="comma-separated Sentinel host names")
    parser.add_argument("--master", default="sessions")
    parser.add_argument("--down-after-ms", type=int, required=True)
    parser.add_argument("--bound-s", type=float, required=True)
    parser.add_argument(
        "--marker", type=Path, default=None, help="file that marks a node that has served before (kept across restarts)"
    )
    args = parser.parse_args(argv)
    hosts = [h for h in args.sentinels.split(",") if h]
    restarted = args.marker is not None and args.marker.exists()
    decision = fence(args.me, hosts, args.master, args.down_after_ms, args.bound_s, restarted=restarted)
    print(f"redis_fence: {'restart' if restarted else 'first start'}: {decision}", file=sys.stderr)
    if args.marker is not None:
        try:
            args.marker.touch()
        except OSError as exc:  # a fence that cannot write its marker still lets the node start
            print(f"redis_fence: could not write {args.marker}: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
