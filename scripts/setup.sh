#!/usr/bin/env bash
# stackdrill set-up: one idempotent step per call, one progress line per step.
# Usage: scripts/setup.sh docker|python|pulumi|toxiproxy|base-image|browser|all
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${STACKDRILL_STATE:-$ROOT/.state}"
# Everything built once (Pulumi CLI, Toxiproxy, pip's wheels, the base image as a `docker save`
# tarball) lives here; a pipeline caches STACKDRILL_CACHE between runs.
CACHE="${STACKDRILL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stackdrill}"
PULUMI_VERSION="$(grep -oE 'github.com/pulumi/pulumi/pkg/v3 v[0-9.]+' "$ROOT/tools/pulumi-cli/go.mod" | head -1 | cut -d' ' -f2)"
TOXIPROXY_VERSION="v2.12.0"
UV_VERSION="0.13.9"  # installs the venv (pip is the fallback)
# Toxiproxy is built with one patch of ours (tools/toxiproxy-concurrent-dial.patch): each client's
# upstream dial runs off the accept loop, with a 1 s timeout. The build is named by the patch.
TOXIPROXY_PATCH="$ROOT/tools/toxiproxy-concurrent-dial.patch"
TOXIPROXY_BUILD="$TOXIPROXY_VERSION-$(sha256sum <"$TOXIPROXY_PATCH" | cut -c1-8)"
PY="${PYTHON:-python3}"
mkdir -p "$STATE/bin" "$CACHE"
[ -n "$PULUMI_VERSION" ] || { echo "[setup] cannot read the Pulumi version from tools/pulumi-cli/go.mod" >&2; exit 1; }

say() { printf '[setup] %-11s %s\n' "$1" "$2"; }
die() { printf '[setup] %-11s FAILED: %s\n' "$1" "$2" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1" "needs root to run apt-get/dockerd; run as root or install $2 yourself"
}

apt_install() {
    local step="$1"; shift
    need_root "$step" "$*"
    command -v apt-get >/dev/null || die "$step" "apt-get not found; install $* with your package manager"
    if [ ! -f "$STATE/apt-updated" ]; then
        apt-get update -qq >"$STATE/apt.log" 2>&1 || die "$step" "apt-get update failed (see $STATE/apt.log)"
        touch "$STATE/apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$STATE/apt.log" 2>&1 \
        || die "$step" "apt-get install $* failed (see $STATE/apt.log)"
}

step_docker() {
    local t0; t0="$(now)"
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        say docker "installing docker.io and debootstrap from Debian"
        apt_install docker "docker.io" "debootstrap"
    fi
    if docker info >/dev/null 2>&1; then
        say docker "already running (engine $(docker version -f '{{.Server.Version}}' 2>/dev/null))"
        return
    fi
    need_root docker "a running Docker engine"
    # A dockerd killed with its session leaves pid files behind; dockerd refuses to start over them.
    # The pid is stale unless it names a live (not zombie) dockerd/containerd process.
    for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        [ -f "$pidfile" ] || continue
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
        comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
        if [ -z "$pid" ] || [ -z "$state" ] || [ "$state" = Z ] || { [ "$comm" != dockerd ] && [ "$comm" != containerd ]; }; then
            say docker "removing stale pid file $pidfile (pid ${pid:-?} is gone)"
            rm -f "$pidfile"
        fi
    done
    say docker "starting dockerd (log: $STATE/dockerd.log)"
    # Published ports by iptables DNAT, not docker-proxy: a client connecting to an LB whose
    # container is starting is refused (and tries the next edge), as it would be by a real
    # host, instead of being accepted by docker-proxy and then reset (a lost request).
    nohup setsid dockerd --userland-proxy=false >"$STATE/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        if docker info >/dev/null 2>&1; then
            say docker "started engine $(docker version -f '{{.Server.Version}}') in $(took "$t0")"
            return
        fi
        sleep 0.5
    done
    tail -5 "$STATE/dockerd.log" >&2 || true
    die docker "dockerd did not answer within 60 s (see $STATE/dockerd.log)"
}

step_python() {
    local t0 stamp; t0="$(now)"
    stamp="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
    if [ -x "$ROOT/.venv/bin/python" ] && [ "$(cat "$ROOT/.venv/.stackdrill-stamp" 2>/dev/null)" = "$stamp" ]; then
        say python "already done (.venv matches pyproject.toml)"
        return
    fi
    command -v "$PY" >/dev/null || die python "$PY not found; install Python >= 3.11"
    [ -x "$ROOT/.venv/bin/python" ] || "$PY" -m venv "$ROOT/.venv" || die python "python3 -m venv failed; apt-get install python3-venv"
    if [ -n "${STACKDRILL_CACHE:-}" ]; then
        export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$CACHE/pip}" UV_CACHE_DIR="${UV_CACHE_DIR:-$CACHE/uv}"
    fi
    # uv installs the ~70 pinned packages from its cache in ~3 s where pip takes ~25 s (measured
    # here, both caches warm: 8.4-9.2 s against 29 s for the whole step); pip stays the fallback.
    # uv reads the CA bundle pip is configured with (a TLS-inspecting proxy).
    local cert; cert="$(cd / && "$ROOT/.venv/bin/python" -m pip config get global.cert 2>/dev/null || true)"
    if "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" >/dev/null 2>&1 \
        && SSL_CERT_FILE="${SSL_CERT_FILE:-${cert:-/etc/ssl/certs/ca-certificates.crt}}" \
            "$ROOT/.venv/bin/uv" pip install -q --python "$ROOT/.venv/bin/python" -e "$ROOT[dev,services]"; then
        :
    else
        say python "uv failed; installing with pip"
        "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev,services]" \
            || die python "pip install failed (is PyPI reachable?)"
    fi
    echo "$stamp" >"$ROOT/.venv/.stackdrill-stamp"
    say python "installed .venv with stackdrill[dev,services] in $(took "$t0")"
}

step_pulumi() {
    local t0 dest; t0="$(now)"
    dest="$CACHE/pulumi/$PULUMI_VERSION/bin"
    mkdir -p "$dest"
    # Dynamic providers: the engine runs this plugin; it must use the kit's interpreter.
    # infra.dynamic_host is `python -m pulumi.dynamic` serving more than 4 calls at once.
    cat >"$STATE/bin/pulumi-resource-pulumi-python" <<SCRIPT
#!/bin/sh
exec "$ROOT/.venv/bin/python" -u -m infra.dynamic_host "\$@"
SCRIPT
    chmod +x "$STATE/bin/pulumi-resource-pulumi-python"
    if command -v pulumi >/dev/null 2>&1 && [ -z "${STACKDRILL_BUILD_PULUMI:-}" ]; then
        ln -sf "$(command -v pulumi)" "$STATE/bin/pulumi"
        say pulumi "using pulumi on PATH ($(pulumi version))"
        return
    fi
    if [ -x "$dest/pulumi" ]; then
        ln -sf "$dest/pulumi" "$STATE/bin/pulumi"
        say pulumi "already built ($PULUMI_VERSION in $dest)"
        return
    fi
    command -v go >/dev/null || die pulumi "go not found; install Go >= 1.25 (or put a pulumi $PULUMI_VERSION CLI on PATH)"
    say pulumi "building Pulumi CLI $PULUMI_VERSION from the Go module proxy (first time: about 6 min, 3 GiB of Go caches)"
    (cd "$ROOT/tools/pulumi-cli" && GOFLAGS=-mod=mod go build -o "$dest/pulumi.tmp" \
        -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) >"$STATE/pulumi-build.log" 2>&1 \
        || die pulumi "go build failed (see $STATE/pulumi-build.log)"
    mv "$dest/pulumi.tmp" "$dest/pulumi"
    ln -sf "$dest/pulumi" "$STATE/bin/pulumi"
    say pulumi "built $PULUMI_VERSION in $(took "$t0")"
}

step_toxiproxy() {
    local t0 dest src mod; t0="$(now)"
    dest="$CACHE/toxiproxy/$TOXIPROXY_BUILD"
    if [ -x "$dest/toxiproxy-server" ]; then
        say toxiproxy "already built ($TOXIPROXY_BUILD in $dest)"
        return
    fi
    command -v go >/dev/null || die toxiproxy "go not found; install Go >= 1.22"
    mkdir -p "$dest"
    say toxiproxy "building Toxiproxy $TOXIPROXY_VERSION (+ concurrent upstream dials) from the Go module proxy"
    mod="$(go mod download -json "github.com/Shopify/toxiproxy/v2@$TOXIPROXY_VERSION" 2>"$STATE/toxiproxy-build.log" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$mod" ] || die toxiproxy "go mod download failed (see $STATE/toxiproxy-build.log)"
    src="$STATE/toxiproxy-src"
    rm -rf "$src" && cp -r "$mod" "$src" && chmod -R u+w "$src"
    (cd "$src" && git apply "$TOXIPROXY_PATCH") >>"$STATE/toxiproxy-build.log" 2>&1 \
        || die toxiproxy "the patch does not apply to $TOXIPROXY_VERSION (see $STATE/toxiproxy-build.log)"
    (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$dest/toxiproxy-server.tmp" \
        -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION#v}" ./cmd/server) \
        >>"$STATE/toxiproxy-build.log" 2>&1 || die toxiproxy "go build failed (see $STATE/toxiproxy-build.log)"
    mv "$dest/toxiproxy-server.tmp" "$dest/toxiproxy-server"
    rm -rf "$src"
    say toxiproxy "built $TOXIPROXY_BUILD in $(took "$t0")"
}

step_base_image() {
    local t0 tag pkgs mirror rootfs saved; t0="$(now)"
    docker info >/dev/null 2>&1 || die base-image "Docker engine not running; run: make setup"
    if [ -n "${BASE_IMAGE:-}" ]; then
        say base-image "using BASE_IMAGE=$BASE_IMAGE"
        return
    fi
    tag="stackdrill/base:$(sha256sum <"$ROOT/services/images/base-packages.txt" | cut -c1-12)"
    saved="$CACHE/images/${tag//[:\/]/_}.tar"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        echo "$tag" >"$STATE/base-image"
        if [ -n "${STACKDRILL_CACHE:-}" ] && [ ! -f "$saved" ]; then
            mkdir -p "$CACHE/images"
            docker save -o "$saved.tmp" "$tag" && mv "$saved.tmp" "$saved"
            say base-image "already built ($tag); saved to $saved"
            return
        fi
        say base-image "already built ($tag)"
        return
    fi
    if [ -f "$saved" ] && docker load -q -i "$saved" >/dev/null 2>&1 && docker image inspect "$tag" >/dev/null 2>&1; then
        echo "$tag" >"$STATE/base-image"
        say base-image "loaded $tag from $saved in $(took "$t0")"
        return
    fi
    command -v debootstrap >/dev/null || apt_install base-image debootstrap
    need_root base-image "debootstrap"
    pkgs="$(grep -v '^\s*#' "$ROOT/services/images/base-packages.txt" | grep -v '^\s*$' | paste -sd, -)"
    mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    rootfs="$STATE/rootfs"
    rm -rf "$rootfs"
    say base-image "debootstrap bookworm (minbase + $pkgs) from $mirror"
    debootstrap --variant=minbase --include="$pkgs" bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
        || die base-image "debootstrap failed (see $STATE/debootstrap.log)"
    # Services run as this unprivileged user.
    chroot "$rootfs" useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'LABEL stackdrill.kit=base' - "$tag" >/dev/null \
        || die base-image "docker import failed"
    rm -rf "$rootfs"
    echo "$tag" >"$STATE/base-image"
    mkdir -p "$CACHE/images"
    docker save -o "$saved.tmp" "$tag" && mv "$saved.tmp" "$saved" || say base-image "could not save $tag to $saved"
    say base-image "built $tag in $(took "$t0") (saved to $saved)"
}

step_browser() {
    local t0; t0="$(now)"
    if command -v chromium >/dev/null; then
        say browser "already installed ($(chromium --version 2>/dev/null | head -1))"
        return
    fi
    say browser "installing Debian's chromium (headless checks of the HTML report)"
    apt_install browser chromium
    say browser "installed $(chromium --version 2>/dev/null | head -1) in $(took "$t0")"
}

step_service_image() {
    docker info >/dev/null 2>&1 || die service-image "Docker engine not running; run: make setup"
    # Builds it (or loads it from STACKDRILL_CACHE) now, so the first `up` does not wait for it.
    "$ROOT/.venv/bin/python" -m infra.images || die service-image "see the line above"
}

case "${1:-all}" in
    docker) step_docker ;;
    python) step_python ;;
    pulumi) step_pulumi ;;
    toxiproxy) step_toxiproxy ;;
    base-image) step_base_image ;;
    service-image) step_service_image ;;
    browser) step_browser ;;
    all) step_docker; step_python; step_pulumi; step_toxiproxy; step_base_image; step_service_image ;;
    *) die setup "unknown step '$1' (docker|python|pulumi|toxiproxy|base-image|service-image|browser|all)" ;;
esac
