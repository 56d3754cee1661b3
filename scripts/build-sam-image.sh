#!/usr/bin/env bash
# Build a Lambda-compatible python3.11 base image from Debian packages, for `sam local` without a
# registry. SAM CLI uses the base image public.ecr.aws/lambda/python:3.11-x86_64 (with
# --skip-pull-image, whatever is local under that name). With internet you can pull AWS's own image
# instead; this script then leaves it alone.
#
#   scripts/build-sam-image.sh            build unless the image exists and is current (no-op)
#   FORCE=1 scripts/build-sam-image.sh    rebuild, and drop SAM's derived images built on the old one
#
# Environment: SAM_IMAGE (tag), SAM_IMAGE_MIRROR (Debian mirror; default: read from this machine's apt
# configuration), PYTHON (host python with pip, for the runtime client wheels), DOCKER (client).
# Needs root (or sudo) for debootstrap, and a running dockerd (scripts/start-dockerd.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${SAM_IMAGE:-public.ecr.aws/lambda/python:3.11-x86_64}
DOCKER=${DOCKER:-/usr/bin/docker}
PYTHON=${PYTHON:-python3}
SUITE=bookworm                      # Debian 12: Python 3.11, as the Lambda runtime
MARK="deepfake-detector sam-local python3.11"   # image comment: tells our image from AWS's
INPUTS=("$HERE/scripts/build-sam-image.sh" "$HERE/docker/bootstrap" "$HERE/docker/lambda-entrypoint.sh"
        "$HERE/docker/requirements.txt")
DIGEST=$(cat "${INPUTS[@]}" | sha256sum | cut -c1-16)
WANT="$MARK inputs=$DIGEST"

say() { echo "sam-image: $*"; }
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

"$DOCKER" info >/dev/null 2>&1 || { say "no Docker daemon (run scripts/start-dockerd.sh)" >&2; exit 1; }

# Derived images SAM builds on top of the base (emulator + layers); stale once the base changes.
drop_derived() {
    local repo=${IMAGE%%:*} tag=${IMAGE##*:} ref
    local version=${tag%-*} arch=${tag##*-}      # 3.11-x86_64 -> 3.11, x86_64
    local rapid="$repo:$version-rapid-$arch" samcli="samcli/lambda-${repo##*/}:$tag-"
    "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | while read -r ref; do
        if [ "$ref" = "$rapid" ] || [[ $ref == "$samcli"* ]]; then
            say "removing SAM's derived image $ref"
            "$DOCKER" rmi "$ref" >/dev/null || say "could not remove $ref (in use?)" >&2
        fi
    done
}

OLD_ID=
if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    OLD_ID=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")
    have=$("$DOCKER" image inspect -f '{{.Comment}}' "$IMAGE")
    if [ "${FORCE:-0}" != 1 ]; then
        if [ "$have" = "$WANT" ]; then
            say "$IMAGE is up to date (nothing to do; FORCE=1 rebuilds)"
            exit 0
        elif [[ $have != "$MARK"* ]]; then
            say "$IMAGE exists and was not built here (AWS's image?): using it as it is (FORCE=1 replaces it)"
            exit 0
        fi
        say "$IMAGE was built from older inputs: rebuilding"
    fi
fi

command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || {
    say "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
MIRROR=${SAM_IMAGE_MIRROR:-$("$PYTHON" "$HERE/scripts/apt_mirror.py" --suite "$SUITE")}
MIRROR_HOST=   # what must not remain in the image (a file: mirror has no host)
case $MIRROR in http://* | https://* | ftp://*) MIRROR_HOST=$(echo "$MIRROR" | sed -E 's#^[a-z]+://##; s#[/:].*##') ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sam-image.XXXXXX")
ROOT="$WORK/rootfs"
cleanup() {
    # debootstrap mounts proc/sys inside the target; never delete through a live mount.
    local m
    for m in $(findmnt -rno TARGET 2>/dev/null | grep -F "$ROOT/" | sort -r); do
        $SUDO umount -l "$m" || true
    done
    $SUDO rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

t0=$(date +%s)
say "debootstrap $SUITE (minbase + python3) from the apt mirror of this machine"
$SUDO env PATH="/usr/sbin:/usr/bin:/sbin:/bin" nice -n 10 debootstrap --variant=minbase \
    --include=python3,ca-certificates "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.out" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.out" >&2; say "debootstrap failed" >&2; exit 1; }
say "debootstrap done in $(( $(date +%s) - t0 ))s"

say "runtime interface client -> /var/runtime"
$SUDO mkdir -p "$ROOT/var/runtime" "$ROOT/var/task" "$ROOT/opt" "$ROOT/var/lang/bin"
$SUDO nice -n 10 "$PYTHON" -m pip install --quiet --quiet --disable-pip-version-check --no-compile --no-deps \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
    --platform manylinux_2_5_x86_64 --target "$ROOT/var/runtime" -r "$HERE/docker/requirements.txt"
$SUDO rm -rf "$ROOT/var/runtime/bin"
$SUDO install -m 0755 "$HERE/docker/bootstrap" "$ROOT/var/runtime/bootstrap"
$SUDO install -m 0755 "$HERE/docker/lambda-entrypoint.sh" "$ROOT/lambda-entrypoint.sh"
# AWS's image keeps its interpreter in /var/lang/bin; keep that path valid.
for exe in python3.11 python3 python; do $SUDO ln -sf /usr/bin/python3.11 "$ROOT/var/lang/bin/$exe"; done

say "trimming docs, locales, apt state; removing every trace of the mirror"
$SUDO rm -rf "$ROOT"/usr/share/{doc,man,info,locale,lintian,linda}/* "$ROOT"/var/lib/apt/lists/* \
    "$ROOT"/var/cache/apt/* "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/log/* "$ROOT/debootstrap" \
    "$ROOT"/var/lib/dpkg/*-old "$ROOT"/etc/apt/sources.list.d/* \
    "$ROOT"/usr/lib/dpkg/methods/apt   # dselect's apt method: its setup script names a mirror
printf '%s\n' "# No package sources: this image is built offline by scripts/build-sam-image.sh." \
    | $SUDO tee "$ROOT/etc/apt/sources.list" >/dev/null
$SUDO find "$ROOT" -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
if [ -n "$MIRROR_HOST" ] && \
   $SUDO grep -rlF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "$MIRROR_HOST" "$ROOT" >"$WORK/leaks"; then
    say "the mirror host still appears in:" >&2; sed "s#^$ROOT##" "$WORK/leaks" >&2; exit 1
fi

say "importing as $IMAGE"
[ -z "$OLD_ID" ] || drop_derived
$SUDO tar -C "$ROOT" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . \
  | "$DOCKER" import --message "$WANT" \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV TZ=:/etc/localtime' \
    -c 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
    -c 'ENV LD_LIBRARY_PATH=/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
    -c 'ENV LAMBDA_TASK_ROOT=/var/task' \
    -c 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    -c 'WORKDIR /var/task' \
    -c 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
    - "$IMAGE" >/dev/null
NEW_ID=$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    DOCKER=$DOCKER "$HERE/scripts/sam-prune-images.sh"  # the old base and what SAM built on it
fi

# Smoke check: the interpreter, the runtime client and the tools SAM's derived build runs.
"$DOCKER" run --rm --entrypoint /bin/sh "$IMAGE" -c \
    'command -v mv chmod cp rm >/dev/null && cd /var/runtime && python3.11 -c "import awslambdaric, sys; print(sys.version.split()[0])"' \
    | sed 's/^/sam-image: python /'
say "built $IMAGE ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}')) in $(( $(date +%s) - t0 ))s"
