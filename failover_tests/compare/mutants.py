"""Weakened variants of a topology, one change each, and the scenarios that could see each one.

`stackdrill mutate` asks how much a failover suite can see: it runs every mutant (a compare of the
topology against its weakened self) on the scenarios chosen here, and a mutant is *caught* when
some scenario regressed on it. The mutants come from the topology model itself: only keys the
topology has and a weakening would change (health checks that are on, a tier with a replica to
spare, a store with a replica, several zones...).

How scenarios are chosen: each family of mutation names the mechanism it weakens, and the
scenarios that exercise that mechanism are the ones that could see it. An LB's health checks,
timeouts and retries are exercised by losing or pausing a replica behind that LB (`pause-one-<tier>`
where the tier has one, else `lose-one-<tier>`); a tier's size by losing one of it
(`lose-one-<tier>`, from the failover matrix); the API's model timeout, breaker and bulkhead by
the slow model; the store's replica, Sentinels, persistence and fence by `datastore-failover`,
`lose-store-primary` and `primary-zone-loss`; zones by `primary-zone-loss`; the status page by the
drills that judge its component (`datastore-failover`, `third-party-outage`). The list is kept
short on purpose: a mutant costs one stack and its scenarios, and `--budget` bounds the run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra import topology as topo_mod
from infra.errors import TopologyError
from infra.topology import Topology

# The tiers behind each LB tier, and the drill that takes one of them away while traffic flows.
_BEHIND = {"edge": ("web", "api"), "api_lb": ("api",), "model_lb": ("model",)}
_PAUSED = {"web", "api", "model"}  # tiers with a pause-one-<tier> drill (WATCHED_TIERS)
# A timeout "raised far past the budget": longer than the client's whole 3 s budget.
FAR_PAST_BUDGET_MS = 10000


@dataclass(frozen=True)
class Mutant:
    """One weakening: its name, what it does, its override of the topology, and who could see it."""

    name: str
    description: str
    override: Mapping[str, Any]
    scenarios: tuple[str, ...]
    hint: str  # where to look when no scenario catches it
    family: str = ""
    notes: tuple[str, ...] = field(default=())

    def apply(self, topo: Topology) -> Topology:
        """The weakened topology (validated: TopologyError if the weakening makes no valid topology)."""
        return topo_mod.parse(_merge(topo.to_dict(), self.override), source=f"mutant {self.name}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "override": dict(self.override),
            "scenarios": list(self.scenarios),
            "hint": self.hint,
        }


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _loss_drill(tier: str) -> str:
    return f"pause-one-{tier}" if tier in _PAUSED else f"lose-one-{tier}"


def _lb_mutants(topo: Topology) -> list[Mutant]:
    out: list[Mutant] = []
    for lb in ("edge", "api_lb", "model_lb"):
        cfg = getattr(topo, lb)
        drills = tuple(_loss_drill(t) for t in _BEHIND[lb] if topo.serving_tiers()[t] > 1)
        if not drills:
            continue
        losses = tuple(f"lose-one-{t}" for t in _BEHIND[lb] if topo.serving_tiers()[t] > 1)
        if cfg.health_check.enabled:
            out.append(
                Mutant(
                    f"{lb}-checks-off", f"{lb}: active health checks off", {lb: {"health_check": {"enabled": False}}},
                    drills + losses, f"a drill that takes a {'/'.join(_BEHIND[lb])} replica away behind {lb}",
                    "health checks",
                )
            )  # fmt: skip
            slow = cfg.health_check.inter_ms * 10
            out.append(
                Mutant(
                    f"{lb}-checks-slow", f"{lb}: health checks every {slow} ms (10x), no fast interval",
                    {lb: {"health_check": {"inter_ms": slow, "fastinter_ms": None}}},
                    drills, f"LB detection time in {drills[0]}", "health checks",
                )
            )  # fmt: skip
        if cfg.retries > 0 or cfg.redispatch:
            out.append(
                Mutant(
                    f"{lb}-retries-off", f"{lb}: no retries, no redispatch",
                    {lb: {"retries": 0, "redispatch": False}}, drills + losses,
                    f"the failed requests of {losses[0] if losses else drills[0]}", "retries",
                )
            )  # fmt: skip
        if lb != "model_lb" and cfg.timeout_server_ms < FAR_PAST_BUDGET_MS:
            out.append(
                Mutant(
                    f"{lb}-timeout-long", f"{lb}: server timeout {FAR_PAST_BUDGET_MS} ms (past the 3 s budget)",
                    {lb: {"timeout_server_ms": FAR_PAST_BUDGET_MS}}, drills,
                    f"a hung replica behind {lb} ({drills[0]})", "timeouts",
                )
            )  # fmt: skip
    return out


def _tier_mutants(topo: Topology) -> list[Mutant]:
    out: list[Mutant] = []
    for tier, n in {**topo.serving_tiers(), "integration": topo.integration.replicas}.items():
        if n < 2:
            continue
        out.append(
            Mutant(
                f"{tier}-one-fewer", f"{tier}: {n - 1} replica(s) instead of {n}", {tier: {"replicas": n - 1}},
                (f"lose-one-{tier}",),
                "a single point of failure if it leaves one; else lost capacity, which only a load drill sees",
                "replicas",
            )
        )  # fmt: skip
    return out


def _resilience_mutants(topo: Topology) -> list[Mutant]:
    res = topo.api.resilience
    if res.profile != "protected":
        return []
    slow = ("slow-model-protected",)
    out = []
    if res.model_timeout_ms < FAR_PAST_BUDGET_MS:
        out.append(
            Mutant(
                "api-model-timeout-long", f"api: model timeout {FAR_PAST_BUDGET_MS} ms (past the 3 s budget)",
                {"api": {"resilience": {"model_timeout_ms": FAR_PAST_BUDGET_MS}}}, slow,
                "the slow-model drill's completion latency", "timeouts",
            )
        )  # fmt: skip
    if res.web_api_timeout_ms < FAR_PAST_BUDGET_MS:
        out.append(
            Mutant(
                "web-api-timeout-long", f"web: API call timeout {FAR_PAST_BUDGET_MS} ms",
                {"api": {"resilience": {"web_api_timeout_ms": FAR_PAST_BUDGET_MS}}}, ("pause-one-api",),
                "web pages while an API replica hangs", "timeouts",
            )
        )  # fmt: skip
    out.append(
        Mutant(
            "api-breaker-never-opens", "api: circuit breaker never opens (a million failures)",
            {"api": {"resilience": {"breaker_failures": 1_000_000}}}, (*slow, "third-party-outage"),
            "fallback share while a dependency is down", "breakers",
        )
    )  # fmt: skip
    out.append(
        Mutant(
            "api-bulkheads-unbounded", "api: bulkheads of 100000 calls",
            {"api": {"resilience": {"bulkhead_model": 100_000, "bulkhead_store": 100_000}}}, slow,
            "a traffic surge on a slow dependency (the drills offer 20 req/s)", "bulkheads",
        )
    )  # fmt: skip
    return out


def _store_mutants(topo: Topology) -> list[Mutant]:
    store = topo.store
    failover = ("datastore-failover", "lose-store-primary")
    out = []
    if store.replicas > 0:
        out.append(
            Mutant(
                "store-no-replica", "store: no Redis replica",
                {"store": {"replicas": 0, "min_replicas_to_write": 0}}, failover,
                "write gap and lost writes in datastore-failover", "store",
            )
        )  # fmt: skip
    if store.persistence != "none":
        out.append(
            Mutant(
                "store-persistence-off", "store: no AOF persistence", {"store": {"persistence": "none"}},
                failover, "a restart of the primary with no failover (the store durability tests)", "store",
            )
        )  # fmt: skip
    if store.restart_fence:
        out.append(
            Mutant(
                "store-fence-off", "store: a restarted primary starts at once (no fence)",
                {"store": {"restart_fence": False}}, failover,
                "a restart of the primary that outlasts down_after (the store durability tests)", "store",
            )
        )  # fmt: skip
    slow = store.down_after_ms * 8
    out.append(
        Mutant(
            "sentinel-down-after-slow", f"store: Sentinels wait {slow} ms before calling the primary down",
            {"store": {"down_after_ms": slow}}, failover, "write gap in datastore-failover", "store",
        )
    )  # fmt: skip
    if store.quorum < store.sentinels:
        out.append(
            Mutant(
                "sentinel-quorum-all", f"store: quorum {store.sentinels} (every Sentinel)",
                {"store": {"quorum": store.sentinels}}, ("primary-zone-loss",),
                "losing the primary's zone takes a Sentinel with it", "store",
            )
        )  # fmt: skip
    return out


def _zone_mutants(topo: Topology) -> list[Mutant]:
    if len(topo.zones) < 2:
        return []
    one = topo.zones[:1]
    return [
        Mutant(
            "zones-collapsed", f"every replica and Sentinel in zone {one[0]}",
            {"zones": one, "store": {"zones": one if topo.store.zones else [], "sentinel_zones": []}},
            ("primary-zone-loss",), "losing a zone", "zones",
        )
    ]  # fmt: skip


def _status_mutants(topo: Topology) -> list[Mutant]:
    out = []
    if topo.status.poll_interval_s < 60:
        out.append(
            Mutant(
                "status-poll-minute", "status page polls once a minute", {"status": {"poll_interval_s": 60.0}},
                ("datastore-failover", "third-party-outage"), "the status checks of a component outage", "status",
            )
        )  # fmt: skip
    if topo.status.mode == "live":
        out.append(
            Mutant(
                "status-static", "status page never looks (always operational)", {"status": {"mode": "static"}},
                ("datastore-failover", "third-party-outage"), "the status checks of a component outage", "status",
            )
        )  # fmt: skip
    return out


FAMILIES: tuple[Callable[[Topology], list[Mutant]], ...] = (
    _lb_mutants,
    _tier_mutants,
    _resilience_mutants,
    _store_mutants,
    _zone_mutants,
    _status_mutants,
)


def generate(topo: Topology, keys: tuple[str, ...] = ()) -> tuple[list[Mutant], list[str]]:
    """Every valid mutant of `topo` (those whose name or family contains one of `keys`, if given),
    and one note per weakening that makes no valid topology or changes nothing."""
    found: list[Mutant] = []
    notes: list[str] = []
    for family in FAMILIES:
        for mutant in family(topo):
            if keys and not any(k in mutant.name or k == mutant.family for k in keys):
                continue
            try:
                weak = mutant.apply(topo)
            except TopologyError as exc:
                notes.append(f"{mutant.name}: not a valid topology ({exc})")
                continue
            if weak == topo:
                notes.append(f"{mutant.name}: changes nothing in this topology")
                continue
            found.append(mutant)
    return found, notes
