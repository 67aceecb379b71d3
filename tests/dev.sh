#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The two set-up commands of the README, for a fresh Debian 12 machine (as
# root; apt-get is used only for packages that are missing):
#
#   tests/dev.sh demo   install, build, and run the demonstration
#   tests/dev.sh test   install, build, and run every test suite: unit and
#                       integration tests, then the unit tests again under
#                       AddressSanitizer + UBSan
#
# BUILD_DIR (default: build) and ASAN_BUILD_DIR (default: build-asan) pick the
# build directories. With CI=true warnings are errors.

set -eu

cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}

PACKAGES="meson ninja-build pkg-config gcc libc6-dev
libgrpc-dev protobuf-compiler protobuf-c-compiler libprotobuf-c-dev
libsystemd-dev libssl-dev openssl libjson-c-dev libcmocka-dev
python3 python3-grpcio python3-protobuf protobuf-compiler-grpc
python3-dbusmock dbus-daemon systemd valgrind iproute2 nix-bin"

install_missing() {
        missing=""
        for p in $PACKAGES; do
                status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
                case "$status" in
                *" installed") ;;
                *) missing="$missing $p" ;;
                esac
        done
        [ -z "$missing" ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
                echo "Missing Debian packages:$missing" >&2
                echo "Run this as root, or install them first." >&2
                exit 1
        fi
        echo "Installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing
}

werror() {
        [ "${CI:-}" = "true" ] && echo "-Dwerror=true" || echo "-Dwerror=false"
}

build() {
        if [ -f "$BUILD_DIR/build.ninja" ]; then
                meson configure "$BUILD_DIR" "$(werror)" >/dev/null
        else
                meson setup "$BUILD_DIR" "$(werror)"
        fi
        meson compile -C "$BUILD_DIR"
}

run_tests() {
        meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2

        # The installed layout: the binary and its three role names.
        destdir=$(mktemp -d)
        trap 'rm -rf "$destdir"' EXIT
        meson install -C "$BUILD_DIR" --destdir "$destdir" --quiet
        for role in agent admin cli; do
                link="$destdir/usr/local/bin/givc-$role"
                [ "$(readlink "$link")" = "givc" ] || { echo "missing symlink $link" >&2; exit 1; }
        done
        [ -f "$destdir/usr/local/share/givc/proto/admin/admin.proto" ] || {
                echo "protos not installed" >&2
                exit 1
        }
        echo "install layout: OK"

        if [ -f "$ASAN_BUILD_DIR/build.ninja" ]; then
                meson configure "$ASAN_BUILD_DIR" "$(werror)" >/dev/null
        else
                meson setup "$ASAN_BUILD_DIR" "$(werror)" -Db_sanitize=address,undefined -Db_lundef=false \
                        -Dbuildtype=debug
        fi
        meson compile -C "$ASAN_BUILD_DIR"
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
                meson test -C "$ASAN_BUILD_DIR" --suite unit --print-errorlogs --num-processes 2
}

case "${1:-}" in
demo)
        install_missing
        build
        exec tests/demo.sh "$BUILD_DIR/applets/givc"
        ;;
test)
        install_missing
        build
        run_tests
        ;;
*)
        echo "Usage: $0 demo|test" >&2
        exit 2
        ;;
esac
