"""Where the kit's tools live (Pulumi CLI, dynamic-provider script, Toxiproxy, base image) and `doctor`.

Set-up (scripts/setup.sh, run by `make setup`) puts them in place; this module finds them,
checks them, and says for each missing one the command that fixes it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.errors import ToolchainError
from infra.host import ROOT, cache_dir, state_dir

TOXIPROXY_VERSION = "v2.12.0"


def pulumi_version() -> str:
    """The pinned Pulumi version, read from the wrapper go.mod kept in the repo."""
    text = (ROOT / "tools" / "pulumi-cli" / "go.mod").read_text()
    match = re.search(r"github.com/pulumi/pulumi/pkg/v3 (v[0-9.]+)", text)
    if not match:
        raise ToolchainError("tools/pulumi-cli/go.mod does not pin github.com/pulumi/pulumi/pkg/v3")
    return match.group(1)


def bin_dir() -> Path:
    """Folder with `pulumi` and `pulumi-resource-pulumi-python`, put on PATH for the engine."""
    return state_dir() / "bin"


def dynamic_plugin() -> Path:
    """The dynamic-provider host's launcher set-up writes (`exec <venv python> -u -m infra.dynamic_host`)."""
    return bin_dir() / "pulumi-resource-pulumi-python"


def built_pulumi_binary() -> Path:
    """Where set-up builds the pinned Pulumi CLI (scripts/setup.sh, step pulumi)."""
    return cache_dir() / "pulumi" / pulumi_version() / "bin" / "pulumi"


def pulumi_binary() -> Path | None:
    """The Pulumi CLI set-up chose (state/bin/pulumi), or one on PATH."""
    candidate = bin_dir() / "pulumi"
    if candidate.exists() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("pulumi")
    return Path(found) if found else None


@functools.cache
def toxiproxy_build() -> str:
    """The name of our Toxiproxy build: its version and the patch it carries (as scripts/setup.sh names it)."""
    patch = ROOT / "tools" / "toxiproxy-concurrent-dial.patch"
    return f"{TOXIPROXY_VERSION}-{hashlib.sha256(patch.read_bytes()).hexdigest()[:8]}"


def toxiproxy_binary() -> Path:
    """Where set-up builds the Toxiproxy server."""
    return cache_dir() / "toxiproxy" / toxiproxy_build() / "toxiproxy-server"


def base_image_tag() -> str:
    """The base image: BASE_IMAGE, else the tag set-up derives from the package list."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    # Keep in step with scripts/setup.sh: the tag is a hash of the package list alone.
    digest = hashlib.sha256((ROOT / "services" / "images" / "base-packages.txt").read_bytes()).hexdigest()[:12]
    return f"stackdrill/base:{digest}"


def engine_env() -> dict[str, str]:
    """Environment for the Pulumi CLI and its plugins: PATH, PULUMI_HOME, no update checks."""
    home = state_dir() / "pulumi-home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "stackdrill-throwaway"),
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        # Throwaway local stacks: write the state once at the end, not after every step.
        "PULUMI_SKIP_CHECKPOINTS": "true",
    }


@dataclass(frozen=True)
class Check:
    """One line of `stackdrill doctor`."""

    component: str
    ok: bool
    detail: str
    fix: str = ""


def _run(cmd: list[str], timeout_s: float = 20) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _check_docker() -> Check:
    if not shutil.which("docker") and not shutil.which("dockerd"):
        fix = "make setup (installs docker.io with apt-get)"
        if not shutil.which("apt-get"):
            fix = "install Docker with your package manager (apt-get not found)"
        return Check("docker engine", False, "docker is not installed", fix)
    try:
        import docker

        version = docker.from_env(timeout=5).version().get("Version", "?")
    except Exception as exc:  # noqa: BLE001 - any failure here means "not reachable"
        fix = "make setup (starts dockerd)" if os.geteuid() == 0 else "start dockerd as root, or run make setup as root"
        return Check("docker engine", False, f"not reachable ({exc.__class__.__name__}): dockerd stopped?", fix)
    return Check("docker engine", True, f"engine {version}")


def _check_pulumi() -> Check:
    binary = pulumi_binary()
    want = pulumi_version()
    if binary is None:
        fix = "make setup (builds the CLI from the Go module proxy, about 6 min)"
        if not shutil.which("go"):
            fix = "install Go >= 1.25 (apt-get install golang), then make setup"
        return Check("pulumi cli", False, "not found", fix)
    code, out = _run([str(binary), "version"])
    if code != 0:
        return Check(
            "pulumi cli",
            False,
            f"{binary} does not run: {out[-120:]}",
            "rm -rf ~/.cache/stackdrill/pulumi && make setup",
        )
    note = "" if out.strip() == want else f" (kit pins {want})"
    return Check("pulumi cli", True, f"{out.strip()} at {binary}{note}")


def _check_dynamic_plugin() -> Check:
    script = dynamic_plugin()
    if not script.exists() or not os.access(script, os.X_OK):
        return Check("dynamic provider", False, f"{script} missing", "make setup")
    match = re.search(r'exec "([^"]+)"', script.read_text())
    if not match or not Path(match.group(1)).exists():
        return Check("dynamic provider", False, f"{script} points at a missing interpreter", "make setup")
    return Check("dynamic provider", True, f"{script}")


def _check_toxiproxy() -> Check:
    binary = toxiproxy_binary()
    if not binary.exists():
        fix = "make setup" if shutil.which("go") else "install Go (apt-get install golang), then make setup"
        return Check("toxiproxy", False, f"{binary} missing", fix)
    code, out = _run([str(binary), "-version"])
    version = out.split()[-1] if out else "?"
    return Check("toxiproxy", code == 0, f"{version} at {binary}", "" if code == 0 else "make setup")


def _check_base_image() -> Check:
    tag = base_image_tag()
    try:
        import docker

        docker.from_env(timeout=5).images.get(tag)
    except Exception as exc:  # noqa: BLE001
        name = exc.__class__.__name__
        why = "not built" if name == "ImageNotFound" else f"cannot ask Docker ({name})"
        return Check("base image", False, f"{tag} {why}", "make setup (debootstrap + docker import)")
    return Check("base image", True, tag)


def _check_python() -> Check:
    missing = []
    for dist in ("pulumi", "docker", "pydantic", "typer", "rich", "hdrhistogram", "aiohttp", "pytest"):
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        return Check("python packages", False, f"missing {', '.join(missing)}", "make setup")
    return Check(
        "python packages",
        True,
        f"pulumi {importlib.metadata.version('pulumi')}, docker {importlib.metadata.version('docker')}",
    )


def doctor() -> list[Check]:
    """Check every component the kit needs; never raises."""
    return [
        _check_docker(),
        _check_pulumi(),
        _check_dynamic_plugin(),
        _check_toxiproxy(),
        _check_base_image(),
        _check_python(),
    ]


def require_ready() -> None:
    """Raise ToolchainError with the first missing component and its fix."""
    for check in doctor():
        if not check.ok:
            raise ToolchainError(f"{check.component}: {check.detail}; fix: {check.fix}")
