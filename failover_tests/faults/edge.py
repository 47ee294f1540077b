"""Dependency-edge faults through Toxiproxy: one small class per toxic, each on a named edge.

The kernel here has no `netem` qdisc, so latency, bandwidth and resets are injected by
Toxiproxy on the edges the stack routes through it (web->api, api->model, api->redis,
api->integration).
"""

from __future__ import annotations

from typing import Any, ClassVar

from failover_tests.faults.base import REQUIRED, Fault, Param, register
from failover_tests.toxiproxy import ToxiproxyClient


class ToxicFault(Fault):
    """A Toxiproxy toxic on every proxy of an edge."""

    on = "edge"
    family = "edge"
    toxic_type: ClassVar[str]
    common_params: ClassVar[tuple[Param, ...]] = (
        Param(
            "stream",
            str,
            "downstream",
            "direction: downstream (responses) or upstream (requests)",
            choices=("downstream", "upstream"),
        ),
        Param("toxicity", float, 1.0, "fraction of connections affected", minimum=0.0, maximum=1.0),
    )

    @property
    def mechanism(self) -> str:  # type: ignore[override]
        return f"Toxiproxy {self.toxic_type} toxic"

    def attributes(self) -> dict[str, Any]:
        """The toxic's attributes, from the fault's parameters."""
        return {}

    @property
    def _client(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.env.toxiproxy_url)

    @property
    def toxic_name(self) -> str:
        return f"sd-{self.id}"

    def act(self, name: str) -> None:
        self._client.add_toxic(
            name, self.toxic_name, self.toxic_type, str(self.values["stream"]),
            float(self.values["toxicity"]), self.attributes(),
        )  # fmt: skip

    def took_effect(self, name: str) -> bool:
        return any(t.name == self.toxic_name for t in self._client.toxics(name))

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        self._client.remove_toxic(name, self.toxic_name)


def _toxic(
    fault_name: str, toxic: str, summary: str, params: tuple[Param, ...], attrs: dict[str, str]
) -> type[ToxicFault]:
    """Declare a toxic fault: `attrs` maps Toxiproxy attribute -> fault parameter."""

    def attributes(self: ToxicFault) -> dict[str, Any]:
        return {attr: self.values[param] for attr, param in attrs.items()}

    cls = type(
        "".join(p.title() for p in fault_name.split("_")),
        (ToxicFault,),
        {
            "name": fault_name,
            "toxic_type": toxic,
            "summary": summary,
            "params": params + ToxicFault.common_params,
            "attributes": attributes,
            "__doc__": summary,
            "__module__": __name__,
        },
    )
    register(cls)
    return cls


Latency = _toxic(
    "latency", "latency", "add latency (with jitter) to every read on the edge",
    (Param("latency_ms", int, REQUIRED, "added latency in ms", minimum=0),
     Param("jitter_ms", int, 0, "random +/- jitter in ms", minimum=0)),
    {"latency": "latency_ms", "jitter": "jitter_ms"},
)  # fmt: skip
Bandwidth = _toxic(
    "bandwidth", "bandwidth", "limit the edge's bandwidth",
    (Param("rate_kbps", int, REQUIRED, "KB/s", minimum=0),),
    {"rate": "rate_kbps"},
)  # fmt: skip
SlowClose = _toxic(
    "slow_close", "slow_close", "delay the TCP close of the edge's connections",
    (Param("delay_ms", int, REQUIRED, "delay before close in ms", minimum=0),),
    {"delay": "delay_ms"},
)  # fmt: skip
Timeout = _toxic(
    "timeout", "timeout", "stop all data and close the connection after a timeout",
    (Param("timeout_ms", int, 1000, "ms before the connection is closed (0: never)", minimum=0),),
    {"timeout": "timeout_ms"},
)  # fmt: skip
ResetPeer = _toxic(
    "reset_peer", "reset_peer", "reset connections (TCP RST) after a timeout",
    (Param("timeout_ms", int, 0, "ms before the reset", minimum=0),),
    {"timeout": "timeout_ms"},
)  # fmt: skip
Slicer = _toxic(
    "slicer", "slicer", "slice data into small bits with delays between them",
    (Param("average_size", int, 64, "bytes per slice", minimum=1),
     Param("size_variation", int, 32, "bytes of variation", minimum=0),
     Param("delay_us", int, 1000, "microseconds between slices", minimum=0)),
    {"average_size": "average_size", "size_variation": "size_variation", "delay": "delay_us"},
)  # fmt: skip
LimitData = _toxic(
    "limit_data", "limit_data", "close connections after a number of bytes",
    (Param("bytes", int, REQUIRED, "bytes before the connection is closed", minimum=1),),
    {"bytes": "bytes"},
)  # fmt: skip


__all__ = ["ToxicFault", "Latency", "Bandwidth", "SlowClose", "Timeout", "ResetPeer", "Slicer", "LimitData"]
_ = Fault  # re-exported for type checkers of subclasses
