"""Entry point when this folder is run as a normal Pulumi project (`pulumi up` with a Python host).

The kit itself runs the same program inline through the Automation API (infra/lifecycle.py).
"""

import os

import pulumi

from infra import images, topology
from infra.program import ProgramArgs, build
from infra.resources import select_backend

_topo = topology.parse(pulumi.Config("stackdrill").get_object("topology"), source="stack config")
build(
    _topo,
    ProgramArgs(
        stack=pulumi.get_stack(),
        image=os.environ.get("STACKDRILL_IMAGE") or images.app_image(),
        owner_pid="0",
        backend=select_backend(),
    ),
    pulumi.Config("stackdrill").require_secret("redisPassword"),
)
