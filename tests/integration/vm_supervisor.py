#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The test bed's VM supervisor: boots and shuts down simulated VMs.

    /usr/bin/python3 vm_supervisor.py SPEC.json SOCKET

A simulated VM is a systemd user manager (systemd_harness.UserManager: its
own cgroup, namespaces and runtime directory) running the VM's agent as the
Type=notify unit givc-NAME.service. The managers are owned by this process,
from its main thread (a single-threaded select loop), not by the test
process and not by the host's manager: the host's microvm@NAME.service only
runs vm_boot.py, which asks for the VM over SOCKET.

Protocol: line based, on a unix stream socket.
  boot NAME   -> `booted` once the VM's agent unit is active, or
                 `failed REASON`. The VM then stays up as long as that
                 connection stays open; when the client closes it (or half-
                 closes it, or dies), the VM's agent and manager are stopped,
                 and only then is the connection closed by the supervisor.
  status      -> one line of JSON: {NAME: {manager_pid, cgroup, runtime_dir,
                 agent_pid, since}} of the running VMs.
  kill NAME   -> the VM is torn down at once (as if it crashed); its boot
                 connection is closed, so its microvm@ unit fails.
                 Answer `killed` or `failed REASON`.
  stop-all    -> every VM is shut down; answer `stopped N`.
  ping        -> `pong`.

SPEC.json (re-read at every boot, so VMs can be added while running):
  {"runtime_base": DIR, "events": FILE,
   "vms": {NAME: {"agent_unit": "givc-NAME.service",
                  "units": {"UNIT-FILE-NAME": "unit text", ...},
                  "boot_timeout": 90}}}
Every manager started and every VM gone is appended to "events" as a JSON
line, so that the test bed can check that nothing was left behind even if
this process is gone.

SIGTERM, SIGINT, SIGHUP or EOF on stdin: all VMs are shut down, exit 0.
"""

import json
import os
import select
import shutil
import signal
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import systemd_harness  # noqa: E402

AGENT_STOP_TIMEOUT = 30


def log(text):
    print(f'vm_supervisor[{os.getpid()}] {time.strftime("%H:%M:%S")}: {text}', file=sys.stderr, flush=True)


def one_line(text):
    return ' '.join(str(text).split()) or 'unknown error'


class VM:
    def __init__(self, name, manager, agent_unit, conn):
        self.name = name
        self.manager = manager
        self.agent_unit = agent_unit
        self.conn = conn
        self.since = time.time()
        self.agent_pid = None


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.vm = None          # the VM this connection holds up


class Supervisor:
    def __init__(self, spec_path, sock_path):
        self.spec_path = spec_path
        self.sock_path = sock_path
        self.vms = {}           # name -> VM
        self.conns = {}         # fileno -> Conn
        self.listener = None
        self.quit = False
        self.stdin_open = True

    # -- bookkeeping ---------------------------------------------------------

    def spec(self):
        with open(self.spec_path) as f:
            return json.load(f)

    def event(self, spec, **fields):
        fields.setdefault('time', time.time())
        path = spec.get('events') if spec else None
        if not path:
            return
        try:
            with open(path, 'a') as f:
                f.write(json.dumps(fields) + '\n')
        except OSError as e:
            log(f'cannot record event {fields}: {e}')

    def status(self):
        return {name: {'manager_pid': vm.manager.pid, 'cgroup': vm.manager.cgroup,
                       'runtime_dir': vm.manager.runtime_dir, 'agent_pid': vm.agent_pid,
                       'agent_unit': vm.agent_unit, 'since': vm.since}
                for name, vm in self.vms.items()}

    # -- VMs -----------------------------------------------------------------

    def boot(self, name, conn):
        try:
            spec = self.spec()
        except (OSError, ValueError) as e:
            return f'failed cannot read {self.spec_path}: {one_line(e)}'
        vm_spec = spec.get('vms', {}).get(name)
        if vm_spec is None:
            return f'failed unknown VM {name!r}'
        if name in self.vms:
            holder = self.vms[name].conn
            if holder is not None and self.at_eof(holder):
                self.drop(holder)       # its client is gone already: finish that shutdown first
            else:
                return f'failed VM {name} is already running'

        base = spec['runtime_base']
        stale = os.path.join(base, name)
        if os.path.lexists(stale):      # left by a supervisor that was killed
            shutil.rmtree(stale, ignore_errors=True)
        manager = systemd_harness.UserManager(name, base_dir=base)
        agent_unit = vm_spec.get('agent_unit', f'givc-{name}.service')
        try:
            manager.start(timeout=vm_spec.get('manager_timeout', 60))
        except Exception as e:  # noqa: BLE001
            self.event(spec, event='boot-failed', vm=name, reason=one_line(e)[:2000])
            return f'failed the manager of {name} did not start: {one_line(e)[:500]}'
        self.event(spec, event='manager', vm=name, manager_pid=manager.pid, cgroup=manager.cgroup,
                   runtime_dir=manager.runtime_dir)
        vm = VM(name, manager, agent_unit, conn)
        try:
            for unit, text in vm_spec.get('units', {}).items():
                manager.write_unit(unit, text)
            manager.daemon_reload()
            timeout = vm_spec.get('boot_timeout', 90)
            r = manager.systemctl('start', agent_unit, check=False, timeout=timeout + 5)
            if r.returncode != 0:
                raise RuntimeError(f'systemctl start {agent_unit}: {r.stderr.strip()}')
            shown = manager.show(agent_unit, 'ActiveState', 'MainPID')
            if shown.get('ActiveState') != 'active':
                raise RuntimeError(f'{agent_unit} is {shown.get("ActiveState")}')
            vm.agent_pid = int(shown.get('MainPID') or 0) or None
        except Exception as e:  # noqa: BLE001
            reason = one_line(e)
            self.teardown(vm, 'boot failed', spec)
            self.event(spec, event='boot-failed', vm=name, reason=reason[:2000])
            return f'failed {name}: {reason[:500]}'
        self.vms[name] = vm
        conn.vm = vm
        self.event(spec, event='booted', vm=name, manager_pid=manager.pid, cgroup=manager.cgroup,
                   agent_pid=vm.agent_pid)
        log(f'booted {name} (manager {manager.pid}, agent {vm.agent_pid})')
        return 'booted'

    def teardown(self, vm, reason, spec=None):
        """Stop the VM's agent and manager; never raises."""
        if spec is None:
            try:
                spec = self.spec()
            except (OSError, ValueError):
                spec = None
        result = {}
        errors = []
        try:
            if vm.manager.proc is not None and vm.manager.proc.poll() is None:
                r = vm.manager.systemctl('stop', vm.agent_unit, check=False, timeout=AGENT_STOP_TIMEOUT + 5)
                if r.returncode != 0:
                    errors.append(f'stop {vm.agent_unit}: {r.stderr.strip()}')
                result = vm.manager.show(vm.agent_unit, 'Result', 'ExecMainStatus', 'ExecMainCode')
        except Exception as e:  # noqa: BLE001
            errors.append(f'stopping {vm.agent_unit}: {e}')
        try:
            vm.manager.stop()
        except Exception as e:  # noqa: BLE001
            errors.append(f'stopping the manager: {e}')
        self.vms.pop(vm.name, None)
        self.event(spec, event='down', vm=vm.name, reason=reason, agent_result=result,
                   cgroup=vm.manager.cgroup, cgroup_gone=not os.path.exists(vm.manager.cgroup or ''),
                   leftover_pids=sorted(vm.manager.leftover_pids), errors=errors)
        log(f'{vm.name} down ({reason})' + (f'; problems: {errors}' if errors else ''))
        return errors

    # -- connections -----------------------------------------------------------

    @staticmethod
    def at_eof(conn):
        try:
            return conn.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b''
        except BlockingIOError:
            return False
        except OSError:
            return True

    @staticmethod
    def send(conn, text):
        try:
            conn.sock.sendall((text + '\n').encode())
        except OSError:
            pass

    def close(self, conn):
        self.conns.pop(conn.sock.fileno(), None)
        try:
            conn.sock.close()
        except OSError:
            pass

    def drop(self, conn, reason='connection closed'):
        """The client went away: shut down the VM it held up, then close."""
        vm = conn.vm
        conn.vm = None
        if vm is not None:
            vm.conn = None
            self.teardown(vm, reason)
        self.close(conn)

    def command(self, conn, line):
        word, _, arg = line.strip().partition(' ')
        arg = arg.strip()
        if word == 'boot' and arg and conn.vm is None:
            answer = self.boot(arg, conn)
            self.send(conn, answer)
            if answer != 'booted':
                self.close(conn)
        elif word == 'status':
            self.send(conn, json.dumps(self.status()))
        elif word == 'ping':
            self.send(conn, 'pong')
        elif word == 'kill' and arg:
            vm = self.vms.get(arg)
            if vm is None:
                self.send(conn, f'failed VM {arg} is not running')
                return
            holder = vm.conn
            vm.conn = None
            self.teardown(vm, 'killed')
            if holder is not None:
                holder.vm = None
                self.close(holder)      # its vm_boot sees the VM die
            self.send(conn, 'killed')
        elif word == 'stop-all':
            n = self.stop_all('stop-all')
            self.send(conn, f'stopped {n}')
        else:
            self.send(conn, f'failed bad command {line.strip()!r}')

    def stop_all(self, reason):
        n = 0
        for vm in list(self.vms.values()):
            holder = vm.conn
            vm.conn = None
            self.teardown(vm, reason)
            if holder is not None:
                holder.vm = None
                self.close(holder)
            n += 1
        return n

    def readable(self, conn):
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        if not data:
            self.drop(conn)
            return
        if conn.vm is not None:
            return              # a VM's connection carries nothing after `boot`
        conn.buf += data
        while b'\n' in conn.buf and conn.sock.fileno() in self.conns:
            line, _, conn.buf = conn.buf.partition(b'\n')
            self.command(conn, line.decode(errors='replace'))
            if conn.vm is not None:
                conn.buf = b''
                break
        if len(conn.buf) > 4096:
            self.close(conn)

    # -- main loop ---------------------------------------------------------------

    def run(self):
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd)

        def on_signal(signum, frame):
            self.quit = True
        # Before any UserManager exists, so the harness does not install its own.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)

        if os.path.lexists(self.sock_path):
            os.unlink(self.sock_path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(self.sock_path)
        self.listener.listen(64)
        log(f'listening on {self.sock_path}')
        try:
            while not self.quit:
                fds = [self.listener, rfd] + [c.sock for c in self.conns.values()]
                if self.stdin_open:
                    fds.append(0)
                ready, _, _ = select.select(fds, [], [])
                if rfd in ready:
                    try:
                        os.read(rfd, 64)
                    except BlockingIOError:
                        pass
                if self.quit:
                    break
                if 0 in ready:
                    if not os.read(0, 4096):
                        log('stdin closed: shutting down')
                        self.stdin_open = False
                        break
                if self.listener in ready:
                    try:
                        sock, _ = self.listener.accept()
                        sock.setblocking(True)
                        self.conns[sock.fileno()] = Conn(sock)
                    except OSError:
                        pass
                for s in ready:
                    if isinstance(s, socket.socket) and s is not self.listener:
                        conn = self.conns.get(s.fileno())
                        if conn is not None and conn.sock is s:
                            try:
                                self.readable(conn)
                            except Exception:  # noqa: BLE001 - keep serving
                                log('error: ' + traceback.format_exc())
        finally:
            n = self.stop_all('supervisor exiting')
            for conn in list(self.conns.values()):
                self.close(conn)
            try:
                self.listener.close()
                os.unlink(self.sock_path)
            except OSError:
                pass
            log(f'exiting; shut down {n} VM(s)')
        return 0


def main(argv):
    if len(argv) != 3:
        print('usage: vm_supervisor.py SPEC.json SOCKET', file=sys.stderr)
        return 2
    return Supervisor(argv[1], argv[2]).run()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
