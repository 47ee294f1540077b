"""The service image: a wheelhouse built on the host, our services and Toxiproxy on the base image.

Tagged by a hash of everything that goes in, so it is rebuilt only when something changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from infra import docker_resources
from infra.errors import ToolchainError
from infra.host import ROOT, cache_dir
from infra.toolchain import base_image_tag, toxiproxy_binary, toxiproxy_build

log = logging.getLogger(__name__)
SERVICES = ROOT / "services"


def service_requirements() -> list[str]:
    """The pinned `services` extra of pyproject.toml: what the services import."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["project"]["optional-dependencies"]["services"])


def wheelhouse() -> Path:
    """Site-packages for the image (CPython 3.11, manylinux), built once per requirement set."""
    reqs = service_requirements()
    digest = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:12]
    target = cache_dir() / "pydeps" / digest
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(tmp), "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
        "--python-version", "3.11.2", "--implementation", "cp", "--abi", "cp311", *reqs,
    ]  # fmt: skip
    log.info("building the service wheelhouse: %s", " ".join(reqs))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolchainError(f"building the service wheelhouse failed (is PyPI reachable?): {proc.stderr[-300:]}")
    (tmp / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def app_image() -> str:
    """Build (if needed) and return the tag of the service image."""
    base = base_image_tag()
    tox = toxiproxy_binary()
    if not tox.exists():
        raise ToolchainError(f"Toxiproxy binary {tox} missing; fix: make setup")
    deps = wheelhouse()
    h = hashlib.sha256()
    for part in (base, deps.name, _tree_hash(SERVICES), toxiproxy_build()):
        h.update(part.encode())
    tag = f"stackdrill/app:{h.hexdigest()[:12]}"
    if docker_resources.image_exists(tag):
        return tag
    saved = saved_image(tag)
    if saved is not None and saved.is_file():
        try:
            docker_resources.load_image(saved)
        except Exception as exc:  # a truncated or foreign tarball: build instead
            log.warning("could not load %s (%s); building %s", saved, exc, tag)
        if docker_resources.image_exists(tag):
            log.info("loaded %s from %s", tag, saved)
            return tag
    if not docker_resources.image_exists(base):
        raise ToolchainError(f"base image {base} not found; fix: make setup (or set BASE_IMAGE)")
    with tempfile.TemporaryDirectory(prefix="stackdrill-image-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(deps, ctx / "pydeps", ignore=shutil.ignore_patterns(".complete"))
        shutil.copytree(SERVICES, ctx / "services", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(tox, ctx / "toxiproxy-server")
        shutil.copy2(SERVICES / "images" / "Dockerfile", ctx / "Dockerfile")
        log.info("building %s on %s", tag, base)
        docker_resources.build_image(ctx, tag, {"BASE_IMAGE": base})
    if saved is not None:
        docker_resources.save_image(tag, saved)
    return tag


def saved_image(tag: str) -> Path | None:
    """Where a pipeline's cache keeps the service image (`STACKDRILL_CACHE` set), else None.

    Older tags of the service image are removed from the cache when a new one is saved, so the
    cache holds one service image, as it holds one base image per package list.
    """
    if not os.environ.get("STACKDRILL_CACHE"):
        return None
    return cache_dir() / "images" / (tag.replace("/", "_").replace(":", "_") + ".tar")


def _prune_saved(keep: Path) -> None:
    for old in keep.parent.glob("stackdrill_app_*.tar"):
        if old != keep:
            old.unlink(missing_ok=True)


def main() -> None:
    """`python -m infra.images`: build or load the service image now (set-up's last step)."""
    import time

    t0 = time.monotonic()
    try:
        tag = app_image()
        saved = saved_image(tag)
        if saved is not None and not saved.is_file():  # built before the cache was set
            docker_resources.save_image(tag, saved)
    except ToolchainError as exc:
        print(f"[setup] service-image FAILED: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    if saved is not None:
        _prune_saved(saved)
    where = f" (cached in {saved})" if saved is not None else ""
    print(f"[setup] service-image {tag} ready in {time.monotonic() - t0:.1f} s{where}", flush=True)


if __name__ == "__main__":
    main()
