#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The demonstration run by the README's first command: the whole system on
# one machine. The multi-VM test bed (tests/integration/testbed.py) brings
# up a host agent, an admin VM, a system VM and an application VM, each VM
# a real systemd user manager on its own loopback address that the host's
# manager boots through microvm@NAME.service, with certificates from `givc
# certs`.
# Then the CLI drives it the way a person or the GUI would, narrated.
# Everything it starts is stopped, and everything it creates removed, when
# it ends or is interrupted.
#
# Usage: tests/demo.sh [PATH-TO-GIVC]

set -eu

cd "$(dirname "$0")/.."
GIVC=$(readlink -f "${1:-build/applets/givc}")
[ -x "$GIVC" ] || { echo "no givc binary at '$GIVC'; build first (meson compile -C build)" >&2; exit 1; }
PYTHON=/usr/bin/python3

# Short: unix socket paths live under it.
WORK=$(mktemp -d /tmp/givc-demo-XXXXXX)
BED_PID=""
WATCH_PID=""
cleanup() {
        status=$?
        if [ -n "$WATCH_PID" ]; then
                kill -TERM "$WATCH_PID" 2>/dev/null || true
                wait "$WATCH_PID" 2>/dev/null || true
        fi
        # The logs first: stopping the test bed removes them.
        if [ "$status" -ne 0 ] && [ -d "$WORK/bed/logs" ]; then
                echo "The demonstration failed; the logs say:" >&2
                tail -n 20 "$WORK"/bed/logs/*.log "$WORK/bed.err" >&2 2>/dev/null || true
        fi
        if [ -n "$BED_PID" ] && kill -0 "$BED_PID" 2>/dev/null; then
                echo
                echo "Stopping the VMs, the agents and the admin…"
                kill -TERM "$BED_PID" 2>/dev/null || true
                wait "$BED_PID" 2>/dev/null || status=1
        fi
        rm -rf "$WORK"
        exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
        printf '\n\033[1m== %s\033[0m\n' "$*"
}

say() {
        printf '%s\n' "$*" | fold -s -w 100
}

# Shows a command, then runs it.
run() {
        printf '\033[2m$ %s\033[0m\n' "$*"
        "$@"
}

json() {
        "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
                "$WORK/bed.json" "$1"
}

step "1. Bringing up a host, an admin VM, a system VM and an application VM"
say "Each VM gets its own loopback address, its own systemd manager and its own certificate from" \
    "'givc certs'. Only the host and gui-vm start now; chromium-vm stays off until it is needed."
"$PYTHON" tests/integration/testbed.py up --givc "$GIVC" --workdir "$WORK/bed" --with-admin \
        --boot gui-vm --port 0 --admin-port 0 >"$WORK/bed.json" 2>"$WORK/bed.err" &
BED_PID=$!
until "$PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$WORK/bed.json" 2>/dev/null; do
        kill -0 "$BED_PID" 2>/dev/null || { BED_PID=""; echo "the test bed did not come up" >&2; exit 1; }
        sleep 0.2
done
ADMIN=$(json 'd["admin"]["address"]')
HOST=$(json 'd["vms"]["ghaf-host"]["address"]')
echo "  admin        admin-vm      $ADMIN"
echo "  host agent   ghaf-host     $HOST"
echo "  VM           gui-vm        127.0.0.3 (running)"
echo "  VM           chromium-vm   127.0.0.5 (not running; apps: foot, clearexit)"
echo
run "$GIVC" certs show "$WORK/bed/certs/ghaf-host/ghaf-host-cert.pem"

# The CLI as the host uses it: admin address, name, CA and the host's own certificate.
set -- $(json '" ".join(d["cli"][2:])')
CLI_OPTIONS="$*"
set --
cli() {
        # shellcheck disable=SC2086
        "$GIVC" cli $CLI_OPTIONS "$@"
}
show() {
        printf '\033[2m$ givc cli %s\033[0m\n' "$*"
        cli "$@"
}

step "2. The registry: every agent and the services they announced"
say "Agents registered themselves with the admin when they started; the admin checked that each one's" \
    "certificate carries the name it registered under."
# The host agent started before the admin and registers on its next retry: wait for both.
cli test ensure --retry 30 givc-ghaf-host.service
cli test ensure --retry 30 givc-gui-vm.service
show query-list

step "3. A second terminal watches the registry change"
cli watch >"$WORK/watch.txt" 2>&1 &
WATCH_PID=$!
say "(givc cli watch, running in the background; its output is shown at the end)"

step "4. Starting foot in chromium-vm, which is not running"
say "The admin asks the host agent to start microvm@chromium-vm.service, waits for the VM's agent to" \
    "register, then starts the application there."
start=$(date +%s%N)
show start foot --vm chromium-vm
end=$(date +%s%N)
echo "(took $(( (end - start) / 1000000 )) ms, the VM boot included)"
show query-list

step "5. Pausing it: systemd freezes its cgroup"
show pause foot@0.service
show query --by-name foot@0.service

step "6. Resuming and stopping it"
show resume foot@0.service
show query --by-name foot@0.service --as-json
show stop foot@0.service
say "Stopped applications leave the registry."
show query --by-type 14

step "7. What the watching terminal saw"
sleep 1
kill -TERM "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
sed 's/^/  | /' "$WORK/watch.txt"

step "8. A stranger is turned away"
say "A client whose certificate comes from another CA is refused by the admin:"
"$GIVC" certs ca "$WORK/rogue-ca" >/dev/null
"$GIVC" certs issue --ca "$WORK/rogue-ca" --name ghaf-host --out "$WORK/rogue" >/dev/null
cat "$WORK/bed/certs/ghaf-host/ca-cert.pem" "$WORK/rogue-ca/ca-cert.pem" >"$WORK/rogue/both-cas.pem"
# It trusts the admin's CA too, so it gets as far as it can: the admin refuses its certificate.
status=0
show --cacert "$WORK/rogue/both-cas.pem" --cert "$WORK/rogue/ghaf-host/ghaf-host-cert.pem" \
        --key "$WORK/rogue/ghaf-host/ghaf-host-key.pem" query-list || status=$?
echo "(exit status $status, as it should be)"
[ "$status" -eq 1 ]

step "Done: a registry of three machines, an application started in a VM that had to boot, paused," \
     "resumed and stopped, every change streamed, and a stranger refused."
