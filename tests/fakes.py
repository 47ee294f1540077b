"""Stack outputs for unit tests: every field filled with something harmless, containers as given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infra.outputs import Container, StackOutputs


def containers(tiers: Iterable[tuple[str, int]], stack: str = "t", network: str = "sd-t-back") -> list[Container]:
    """`n` containers per tier, named like the kit names them, alternating zones a and b."""
    return [
        Container(name=f"sd-{stack}-{tier}-{i}", tier=tier, replica=i, zone="ab"[i % 2], role=tier, networks=(network,))
        for tier, n in tiers
        for i in range(n)
    ]


def outputs(
    found: Sequence[Container],
    *,
    stack: str = "t",
    edges_proxied: Mapping[str, Sequence[str]] | None = None,
    **overrides: Any,
) -> StackOutputs:
    """A StackOutputs holding `found`; every URL points at a port nothing listens on."""
    fields: dict[str, Any] = {
        "stack": stack,
        "edges": ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        "status_url": "http://127.0.0.1:9",
        "toxiproxy_url": "http://127.0.0.1:9",
        "lb_stats": {},
        "networks": {"front": f"sd-{stack}-front", "back": f"sd-{stack}-back"},
        "containers": tuple(found),
        "edges_proxied": {k: tuple(v) for k, v in (edges_proxied or {}).items()},
        "topology": {},
        "image": "stackdrill/app:test",
        "backend": "docker",
        "admin_port": 9901,
    }
    fields.update(overrides)
    return StackOutputs.model_validate(fields)
