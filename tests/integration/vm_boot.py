#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The main process of the test bed's `microvm@.service` (Type=notify).

    /usr/bin/python3 vm_boot.py NAME SUPERVISOR_SOCKET

Asks the VM supervisor (vm_supervisor.py) to boot the simulated VM NAME and
tells systemd READY=1 once the supervisor answered `booted`, i.e. once the
VM's own manager runs and its agent unit is up: the start job of
microvm@NAME.service completes only then, as a real VM's would once it booted.

It then stays until
  * SIGTERM (the unit is stopped): it half-closes the connection, which makes
    the supervisor shut the VM down, waits until the supervisor has done so
    (it closes the connection) and exits 0, so `systemctl stop` returns once
    the VM is gone;
  * the supervisor closes the connection by itself (the VM was killed, or the
    supervisor went away): the VM died, exit 1 so that the unit fails.

`failed REASON` from the supervisor: the reason on stderr, exit 1.
Only the standard library; run with /usr/bin/python3.
"""

import os
import select
import signal
import socket
import sys

STOP_TIMEOUT = 80       # seconds to wait for the VM's shutdown (TimeoutStopSec is longer)


def notify(message):
    """sd_notify(): send message to $NOTIFY_SOCKET, if there is one."""
    address = os.environ.get('NOTIFY_SOCKET')
    if not address:
        return False
    if address.startswith('@'):
        address = '\0' + address[1:]        # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(address)
        s.sendall(message.encode())
    return True


def say(text):
    print(f'vm_boot[{os.getpid()}]: {text}', file=sys.stderr, flush=True)


def main(argv):
    if len(argv) != 3:
        print('usage: vm_boot.py NAME SUPERVISOR_SOCKET', file=sys.stderr)
        return 2
    name, path = argv[1], argv[2]

    # Signals arrive as bytes on a pipe, so one select() waits for everything.
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        conn.connect(path)
        conn.sendall(f'boot {name}\n'.encode())
    except OSError as e:
        say(f'cannot reach the VM supervisor at {path}: {e}')
        return 1

    booted = False
    buf = b''
    while True:
        ready, _, _ = select.select([conn, rfd], [], [])
        if rfd in ready:
            try:
                os.read(rfd, 64)
            except BlockingIOError:
                pass
            return shut_down(conn, name, booted)
        data = conn.recv(4096)
        if not data:
            if booted:
                say(f'VM {name} went down (the supervisor closed the connection)')
            else:
                say(f'the supervisor closed the connection while booting VM {name}')
            return 1
        if booted:
            continue            # nothing else is expected; ignore
        buf += data
        if b'\n' not in buf:
            continue
        line, _, buf = buf.partition(b'\n')
        line = line.decode(errors='replace').strip()
        if line == 'booted':
            booted = True
            say(f'VM {name} booted')
            notify(f'READY=1\nSTATUS=VM {name} running')
        elif line.startswith('failed'):
            say(f'booting VM {name} failed: {line[len("failed"):].strip()}')
            return 1
        else:
            say(f'unexpected answer from the supervisor: {line!r}')
            return 1


def shut_down(conn, name, booted):
    """Stopped: let the supervisor shut the VM down and wait until it has."""
    notify(f'STOPPING=1\nSTATUS=shutting VM {name} down')
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        return 0
    conn.settimeout(STOP_TIMEOUT)
    try:
        while conn.recv(4096):
            pass
    except socket.timeout:
        say(f'VM {name} did not shut down within {STOP_TIMEOUT}s')
        return 1
    except OSError:
        pass
    say(f'VM {name} shut down' if booted else f'boot of VM {name} cancelled')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
