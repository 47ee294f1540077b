"""Entry point when this folder is run as a normal Pulumi project (`pulumi up` with a Python host).

The kit itself runs the same program inline through the Automation API (infra/lifecycle.py).
"""

import os

import pulumi

from infra import docker_resources, images, topology
from infra.components.networks import network_name
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
        back_subnet=docker_resources.pick_subnet(network_name(pulumi.get_stack(), "back"), pulumi.get_stack()),
    ),
    pulumi.Config("stackdrill").require_secret("redisPassword"),
)
