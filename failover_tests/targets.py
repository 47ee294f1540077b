"""Targets: which containers (or dependency edges) a fault hits, resolved from the stack outputs.

Selector grammar (the same in Python, YAML and the CLI):

    api                 every replica of tier `api` (a whole tier)
    api-2 | sd-s-api-2  one replica, by short or full container name
    zone=a              every container of zone a (key=value pairs joined by `,`:
    tier=api,zone=b     keys tier, zone, replica, role, name)
    role=primary        the current Redis primary, found through Sentinel at resolve time
    zone=@primary       every container of the zone that holds the current Redis primary
    api:random          one random replica of the tier (seeded; the seed is reported)
    api:random:2        N random replicas
    api:all-but-one     every replica but one (the survivor is chosen at random)
    api_model           a dependency edge carried by the chaos proxy (for edge faults)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infra import outputs as O
from infra.errors import ScenarioError
from infra.outputs import StackOutputs

# The chaos proxy is test instrumentation: group selectors never include it.
INSTRUMENTATION_TIERS = frozenset({O.TIER_CHAOS})


@dataclass(frozen=True)
class Target:
    """One container of the stack."""

    name: str
    tier: str
    replica: int
    zone: str
    role: str

    @property
    def short(self) -> str:
        """`api-2` style name used in reports."""
        return f"{self.tier.replace('_', '-')}-{self.replica}"


@dataclass(frozen=True)
class EdgeTarget:
    """A dependency edge: one or more Toxiproxy proxies."""

    edge: str
    proxies: tuple[str, ...]

    @property
    def short(self) -> str:
        """The edge name, as used in reports."""
        return self.edge


class Inventory:
    """Every container and edge of a deployed stack, from its outputs."""

    def __init__(self, outputs: StackOutputs, role_lookup: Callable[[str], str] | None = None) -> None:
        self.stack = outputs.stack
        self.containers = outputs.containers
        self.targets = [Target(c.name, c.tier, c.replica, c.zone, c.role) for c in outputs.containers]
        self.edges = dict(outputs.edges_proxied)
        self._role_lookup = role_lookup

    def tiers(self) -> list[str]:
        """Tier names, in output order."""
        return list(dict.fromkeys(t.tier for t in self.targets))

    def by_name(self, name: str) -> Target | None:
        """A target by full or short container name."""
        for t in self.targets:
            if name in (t.name, t.short):
                return t
        return None

    def tier(self, tier: str) -> list[Target]:
        """Every replica of a tier."""
        return [t for t in self.targets if t.tier == tier]

    def _known(self) -> str:
        return (
            f"tiers: {', '.join(self.tiers())}; containers: {', '.join(t.short for t in self.targets)}; "
            f"edges: {', '.join(self.edges)}"
        )

    def resolve(self, selector: str, rng: random.Random | None = None) -> list[Target]:
        """Containers matching a selector; raises ScenarioError listing what exists."""
        rng = rng or random.Random()
        sel = selector.strip()
        if not sel:
            raise ScenarioError(f"empty target; {self._known()}")
        if ":" in sel:
            return self._random(sel, rng)
        if "=" in sel:
            return self._match(sel)
        if sel in self.tiers():
            return self.tier(sel)
        one = self.by_name(sel)
        if one:
            return [one]
        raise ScenarioError(f"unknown target '{selector}'; {self._known()}")

    def resolve_edge(self, selector: str) -> EdgeTarget:
        """A dependency edge by name; raises ScenarioError listing the edges."""
        if selector not in self.edges:
            raise ScenarioError(f"unknown edge '{selector}'; edges: {', '.join(self.edges) or 'none'}")
        return EdgeTarget(selector, self.edges[selector])

    def _random(self, sel: str, rng: random.Random) -> list[Target]:
        parts = sel.split(":")
        tier, mode = parts[0], parts[1] if len(parts) > 1 else ""
        pool = self.tier(tier)
        if not pool:
            raise ScenarioError(f"unknown tier '{tier}' in target '{sel}'; {self._known()}")
        if mode == "random":
            try:
                n = int(parts[2]) if len(parts) > 2 else 1
            except ValueError as exc:
                raise ScenarioError(f"target '{sel}': count must be a whole number, e.g. {tier}:random:2") from exc
            if not 1 <= n <= len(pool):
                raise ScenarioError(f"target '{sel}': tier {tier} has {len(pool)} replicas, cannot pick {n}")
            return sorted(rng.sample(pool, n), key=lambda t: t.replica)
        if mode == "all-but-one":
            if len(pool) < 2:
                raise ScenarioError(f"target '{sel}': tier {tier} has 1 replica, nothing to leave standing")
            survivor = rng.choice(pool)
            return [t for t in pool if t != survivor]
        raise ScenarioError(
            f"target '{sel}': unknown mode '{mode}'; use {tier}:random, {tier}:random:N or {tier}:all-but-one"
        )

    def _match(self, sel: str) -> list[Target]:
        wanted: dict[str, str] = {}
        for pair in sel.split(","):
            key, _, value = pair.partition("=")
            key, value = key.strip(), value.strip()
            if key not in ("tier", "zone", "replica", "role", "name"):
                raise ScenarioError(f"target '{sel}': unknown key '{key}'; use tier, zone, replica, role or name")
            wanted[key] = value
        if wanted.get("zone") == "@primary":
            if self._role_lookup is None:
                raise ScenarioError(f"target '{sel}': no Sentinel lookup here to find the primary's zone")
            holder = self.by_name(self._role_lookup("primary"))
            if holder is None:
                raise ScenarioError(f"target '{sel}': the primary the Sentinels name is not in this stack")
            wanted["zone"] = holder.zone
        if wanted.get("role") == "primary" and self._role_lookup is not None:
            primary = self._role_lookup("primary")
            wanted.pop("role")
            wanted["name"] = primary
        pool = [t for t in self.targets if t.tier not in INSTRUMENTATION_TIERS or "tier" in wanted]
        found = [
            t for t in pool if all(str(getattr(t, k)) == v or (k == "name" and v == t.short) for k, v in wanted.items())
        ]
        if not found:
            raise ScenarioError(f"target '{sel}' matches nothing; {self._known()}")
        return found


def describe(targets: Sequence[Target | EdgeTarget]) -> str:
    """Short names joined, for fault labels: `api-1,api-2`."""
    return ",".join(t.short for t in targets)
