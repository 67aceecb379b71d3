#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The demonstration run by the README's first command: certificates from
# `givc certs`, an admin server on mutual TLS, and our own client checking it.
# Everything it starts is stopped, and everything it creates removed, when it
# ends or is interrupted.
#
# Usage: tests/demo.sh [PATH-TO-GIVC]

set -eu

GIVC=$(readlink -f "${1:-build/applets/givc}")
[ -x "$GIVC" ] || { echo "no givc binary at '$GIVC'; build first (meson compile -C build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/givc-demo-XXXXXX)
ADMIN_PID=""
cleanup() {
        if [ -n "$ADMIN_PID" ] && kill -0 "$ADMIN_PID" 2>/dev/null; then
                kill -TERM "$ADMIN_PID" 2>/dev/null || true
                wait "$ADMIN_PID" 2>/dev/null || true
        fi
        rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
        printf '\n\033[1m== %s\033[0m\n' "$*"
}

free_port() {
        /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

step "1. A certificate authority and two certificates, made by 'givc certs'"
"$GIVC" certs ca "$WORK/ca"
"$GIVC" certs issue --ca "$WORK/ca" --name admin-vm --ip 127.0.0.1
"$GIVC" certs issue --ca "$WORK/ca" --name ghaf-host
echo
"$GIVC" certs show "$WORK/ca/admin-vm/admin-vm-cert.pem"

step "2. The admin service, listening on 127.0.0.1 with mutual TLS"
PORT=$(free_port)
"$GIVC" admin --addr 127.0.0.1 --port "$PORT" --use-tls --state-dir "$WORK/admin-state" \
        --ca-cert "$WORK/ca/admin-vm/ca-cert.pem" \
        --host-cert "$WORK/ca/admin-vm/admin-vm-cert.pem" \
        --host-key "$WORK/ca/admin-vm/admin-vm-key.pem" 2>"$WORK/admin.log" &
ADMIN_PID=$!

cli() {
        "$GIVC" cli --addr 127.0.0.1 --port "$PORT" --name admin-vm \
                --cacert "$WORK/ca/ghaf-host/ca-cert.pem" \
                --cert "$WORK/ca/ghaf-host/ghaf-host-cert.pem" \
                --key "$WORK/ca/ghaf-host/ghaf-host-key.pem" "$@"
}

# Wait until it answers (it is usually ready within a few milliseconds).
tries=0
until cli --timeout 1s health >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || { echo "the admin did not come up:" >&2; cat "$WORK/admin.log" >&2; exit 1; }
        kill -0 "$ADMIN_PID" 2>/dev/null || { echo "the admin exited:" >&2; cat "$WORK/admin.log" >&2; exit 1; }
        sleep 0.1
done
echo "admin (pid $ADMIN_PID) is listening on 127.0.0.1:$PORT"

step "3. The host's client (certificate 'ghaf-host') asks the admin whether it is serving"
printf 'givc cli health                                -> '
cli health
printf 'givc cli health grpc.health.v1.Health          -> '
cli health grpc.health.v1.Health
printf 'givc cli health grpc.reflection.v1.ServerReflection -> '
cli health grpc.reflection.v1.ServerReflection

step "4. A client with a certificate from a different CA is turned away by the server"
"$GIVC" certs ca "$WORK/rogue-ca" >/dev/null
"$GIVC" certs issue --ca "$WORK/rogue-ca" --name ghaf-host >/dev/null
# openssl as the rogue client: it trusts the real CA, but presents a certificate of its own CA.
# (With TLS 1.3 the client only learns of the refusal after its side of the handshake.)
echo | openssl s_client -connect "127.0.0.1:$PORT" -alpn h2 \
        -CAfile "$WORK/ca/ghaf-host/ca-cert.pem" \
        -cert "$WORK/rogue-ca/ghaf-host/ghaf-host-cert.pem" \
        -key "$WORK/rogue-ca/ghaf-host/ghaf-host-key.pem" >"$WORK/rogue.out" 2>&1 || true
# The server says why, in its log.
tries=0
until grep -q "certificate verify failed" "$WORK/admin.log"; do
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || { echo "unexpected: the admin did not refuse the rogue client" >&2; exit 1; }
        sleep 0.1
done
grep "Handshake failed" "$WORK/admin.log" | head -1 | sed 's/^/admin log: /'
echo "(refused, as it should be)"

step "5. The admin is stopped with SIGTERM"
kill -TERM "$ADMIN_PID"
status=0
wait "$ADMIN_PID" || status=$?
ADMIN_PID=""
echo "exit status: $status"
echo
echo "What the admin logged:"
sed 's/^/  | /' "$WORK/admin.log"

[ "$status" -eq 0 ] || exit 1
step "Done: certificates made, a server on mutual TLS checked by our client, a stranger refused, a clean stop."
