"""Every error stackdrill raises, under one root.

    StackdrillError
    +-- TopologyError      bad topology input, raised before anything is created
    +-- ScenarioError      bad scenario or fault spec, raised before the stack is touched
    +-- ToolchainError     Docker, Pulumi or Toxiproxy missing or unusable (message holds the fix)
    +-- StackError         a stack could not be brought up, read or torn down
    |   +-- UnknownStack   no stack of that name is deployed (bad input)
    |   +-- StackNotSteady a live stack did not reach its steady state (the kit's run errors, no verdict)
    +-- FaultError         a fault could not be applied or did not take effect (.fault, .target)
    |   +-- RevertError    a fault could not be reverted (.fault, .target)
    +-- SLOViolation       a path missed its SLO; also an AssertionError so pytest reports a failure

Messages say what went wrong, where, the bad value, and how to fix it.

Every command exits 2 on bad input (TopologyError, ScenarioError, UnknownStack) and 3 when the
kit could not run (ToolchainError, any other StackError, FaultError): `exit_code_of`.
"""

from __future__ import annotations


class StackdrillError(Exception):
    """Root of every error the kit raises on purpose."""


class TopologyError(StackdrillError):
    """The topology is invalid; nothing has been created."""


class ScenarioError(StackdrillError):
    """A scenario, fault name, target or parameter is invalid; the stack was not touched."""


class ToolchainError(StackdrillError):
    """A tool the kit needs is missing or not running; the message says how to fix it."""


class StackError(StackdrillError):
    """A stack operation (up, down, read outputs) failed."""


class UnknownStack(StackError):
    """No stack of that name is deployed: the user named the wrong one."""


class StaleNetwork(StackError):
    """A kit network the Docker engine refuses to remove although nothing is attached to it."""


class StackNotSteady(StackError):
    """The stack did not converge to its steady state in time: no verdict can be given on it."""


class FaultError(StackdrillError):
    """A fault could not be applied, or did not take effect."""

    def __init__(self, message: str, *, fault: str = "", target: str = "") -> None:
        super().__init__(message)
        self.fault = fault
        self.target = target


class RevertError(FaultError):
    """A fault could not be reverted; the journal keeps it for `stackdrill reap`."""


class SLOViolation(StackdrillError, AssertionError):
    """A traffic path missed its SLO in a window."""


EXIT_BAD_INPUT = 2
EXIT_KIT_ERROR = 3


def exit_code_of(exc: StackdrillError) -> int:
    """2 for a user's mistake (nothing was created), 3 when the kit itself could not run."""
    if isinstance(exc, TopologyError | ScenarioError | UnknownStack):
        return EXIT_BAD_INPUT
    return EXIT_KIT_ERROR
