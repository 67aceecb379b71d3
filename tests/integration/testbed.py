#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The multi-VM test bed: upstream's admin VM test, on one machine.

Each simulated VM is a givc agent with its own systemd user manager, its own
loopback address (127.0.0.x) and its own certificate from `givc certs`:

  ghaf-host    127.0.0.2   the host: a user manager started by the test bed,
                           running the agent givc-ghaf-host.service (TYPE 0),
                           the template microvm@.service and stand-ins for
                           poweroff/reboot/suspend.target
  admin-vm     127.0.0.10  the admin: a plain child process (start_admin())
  gui-vm       127.0.0.3   system VM (TYPE 8), booted by microvm@gui-vm
  chromium-vm  127.0.0.5   application VM (TYPE 12) with the applications
                           `foot` and `clearexit`, booted by microvm@chromium-vm

Booting a VM is real: starting microvm@NAME.service in the host's manager
(with systemctl, or through the host agent's StartUnit, as the admin does)
runs vm_boot.py, which asks the VM supervisor (vm_supervisor.py, a separate
process owning the VMs' managers) to start the VM's manager and its agent
unit, and becomes ready only when that agent is up. Stopping the unit shuts
the VM down; when the VM dies, the unit fails.

As a library:

    with TestBed(givc, workdir) as bed:
        bed.start_admin()
        bed.boot('chromium-vm')
        with bed.channel('chromium-vm') as ch: ...

From the command line (the README's demo):

    /usr/bin/python3 testbed.py up --givc PATH --workdir DIR [--with-admin]
        [--boot VM]... [--port N] [--admin-port N] [--debug]

prints a JSON description of the bed and runs until SIGTERM or SIGINT.
"""

import argparse
import atexit
import contextlib
import copy
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import givctest  # noqa: E402
import systemd_harness  # noqa: E402
from systemd_harness import HarnessError, UserManager, wait_until  # noqa: E402

PYTHON = '/usr/bin/python3'
SUPERVISOR = os.path.join(HERE, 'vm_supervisor.py')
VM_BOOT = os.path.join(HERE, 'vm_boot.py')

HOST = 'ghaf-host'
ADMIN = 'admin-vm'

# An application that runs until stopped, whatever its arguments.
FOOT_SCRIPT = '#!/bin/sh\nexec sleep 3600\n'

STAND_IN_TARGETS = ('poweroff.target', 'reboot.target', 'suspend.target')

# Upstream's admin VM test (spec §7.2), on loopback addresses. One dict per
# VM; role 'host' (one), 'admin' (one) or 'vm' (booted by microvm@NAME).
# In 'applications', a command starting with '@bin/' is a script of the
# test bed's bin/ directory (see SCRIPTS).
DEFAULT_VMS = [
    {'name': HOST, 'role': 'host', 'addr': '127.0.0.2', 'type': 0, 'subtype': 1,
     'services': ['microvm@gui-vm.service', 'microvm@chromium-vm.service',
                  'poweroff.target', 'reboot.target', 'suspend.target'],
     'parent': ''},
    {'name': ADMIN, 'role': 'admin', 'addr': '127.0.0.10'},
    {'name': 'gui-vm', 'role': 'vm', 'addr': '127.0.0.3', 'type': 8, 'subtype': 9,
     'services': [], 'parent': 'microvm@gui-vm.service'},
    {'name': 'chromium-vm', 'role': 'vm', 'addr': '127.0.0.5', 'type': 12, 'subtype': 13,
     'services': [], 'parent': 'microvm@chromium-vm.service',
     'applications': [
         {'name': 'foot', 'command': '@bin/foot', 'args': ['flag', 'url', 'file']},
         {'name': 'clearexit', 'command': '/bin/sleep 1'},
     ]},
]

SCRIPTS = {'foot': FOOT_SCRIPT}


class TestBedError(RuntimeError):
    pass


def _unit_quote(word):
    """A word for ExecStart= (systemd's quoting), specifiers left alone."""
    if word and all(c.isalnum() or c in '/._-%@:=+,' for c in word):
        return word
    return '"' + word.replace('\\', '\\\\').replace('"', '\\"') + '"'


def _read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def port_free_on_all(addrs, port):
    for addr in addrs:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((addr, port))
            except OSError:
                return False
    return True


def pick_port(addrs, avoid=()):
    """A TCP port free on every address in addrs (the agents share one port)."""
    for _ in range(200):
        port = givctest.free_port(addrs[0])
        if port not in avoid and port_free_on_all(addrs, port):
            return port
    raise TestBedError(f'no port free on all of {addrs}')


class ManagerView(UserManager):
    """The UserManager API (systemctl, show, wait_for, cgroup_events, env,
    runtime_dir, write_unit, daemon_reload, run, log) for a VM's manager
    that runs in the VM supervisor. It cannot be started or stopped from
    here: boot or shut down the VM instead."""

    def __init__(self, name, runtime_dir, cgroup, pid):
        super().__init__(name)
        self._runtime_dir = runtime_dir
        self.cgroup = cgroup
        self._pid = pid

    @property
    def pid(self):
        return self._pid

    def start(self, timeout=None):
        raise TestBedError(f'{self.name}: boot the VM instead')

    def stop(self, timeout=None):
        raise TestBedError(f'{self.name}: shut the VM down instead')


class _Admin(givctest.Server):
    """givctest.Server, for a givc binary given by path. It gets SIGTERM
    when the thread that started it dies (setpriv --pdeathsig), so a killed
    test process leaves no admin behind."""

    def __init__(self, givc, *args, **kw):
        super().__init__(*args, wrapper=('setpriv', '--pdeathsig', 'TERM', '--'), **kw)
        self.givc = givc

    def start(self, timeout=20, expect_ready=True):
        saved = givctest.GIVC
        givctest.GIVC = self.givc       # Server.start runs givctest.GIVC
        try:
            return super().start(timeout, expect_ready)
        finally:
            givctest.GIVC = saved

    def close(self):
        for f in (getattr(self, '_log', None), self._notify):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()


class TestBed(systemd_harness.Started):
    """Host, admin and VMs of upstream's admin VM test, as local processes.

    The admin's default options beyond listener and TLS: ADMIN_DEFAULT_ARGS
    (format fields {state_dir} and {workdir}); replace them per instance
    with admin_default_args=, add to them with admin_args=.
    """

    ADMIN_DEFAULT_ARGS = ('--state-dir', '{state_dir}', '--monitor-interval', '1s')

    def __init__(self, givc, workdir, vms=None, admin_args=(), port=9000, admin_port=9001,
                 admin_default_args=None, debug=False):
        self.givc = os.path.abspath(givc)
        if not os.access(self.givc, os.X_OK):
            raise TestBedError(f'{givc} is not an executable')
        self.workdir = os.path.abspath(workdir)
        # the longest unix socket path is WORKDIR/run/NAME/systemd/private (108 bytes max)
        if len(self.workdir) > 60:
            raise TestBedError(f'work directory path too long for unix sockets: {self.workdir}')
        self.vms = {}
        for vm in copy.deepcopy(DEFAULT_VMS if vms is None else list(vms)):
            self._add(vm)
        roles = [vm['role'] for vm in self.vms.values()]
        if roles.count('host') != 1 or roles.count('admin') != 1:
            raise TestBedError('a test bed needs exactly one host and one admin')
        self.admin_args = list(admin_args)
        self.admin_default_args = list(self.ADMIN_DEFAULT_ARGS if admin_default_args is None
                                       else admin_default_args)
        self.debug = debug
        self._port_arg = port
        self._admin_port_arg = admin_port
        self.port = port
        self.admin_port = admin_port

        self.ca_dir = os.path.join(self.workdir, 'certs', 'ca')
        self.cert_dir = os.path.join(self.workdir, 'certs')
        self.log_dir = os.path.join(self.workdir, 'logs')
        self.config_dir = os.path.join(self.workdir, 'config')
        self.bin_dir = os.path.join(self.workdir, 'bin')
        self.run_dir = os.path.join(self.workdir, 'run')
        self.state_dir = os.path.join(self.workdir, 'admin-state')
        self.spec_path = os.path.join(self.config_dir, 'vms.json')
        self.events_path = os.path.join(self.log_dir, 'vm-events.jsonl')
        self.targets_path = os.path.join(self.log_dir, 'targets-reached')
        self.supervisor_socket = os.path.join(self.workdir, 'supervisor.sock')
        self.supervisor_log = os.path.join(self.log_dir, 'supervisor.log')

        self.host_manager = None
        self.supervisor = None
        self.admin = None
        self._admin_runs = 0
        self._admin_pids = []
        self._host_agent_pids = []
        self._started = False
        self._stopped = False
        self._lock = threading.RLock()

    # -- configuration ---------------------------------------------------------

    def _add(self, vm):
        for key in ('name', 'role', 'addr'):
            if not vm.get(key):
                raise TestBedError(f'VM {vm!r} has no {key}')
        if vm['role'] not in ('host', 'admin', 'vm'):
            raise TestBedError(f'VM {vm["name"]}: role must be host, admin or vm')
        if vm['name'] in self.vms:
            raise TestBedError(f'VM {vm["name"]} twice')
        vm.setdefault('type', {'host': 0, 'admin': 4, 'vm': 12}[vm['role']])
        vm.setdefault('subtype', vm['type'] + 1)
        vm.setdefault('services', [])
        if isinstance(vm['services'], str):
            vm['services'] = vm['services'].split()
        vm.setdefault('parent', f'microvm@{vm["name"]}.service' if vm['role'] == 'vm' else '')
        vm.setdefault('applications', [])
        vm.setdefault('env', {})            # more environment for its agent
        vm.setdefault('agent_args', [])     # more options for its agent
        self.vms[vm['name']] = vm

    def add_vm(self, vm):
        """Add a VM (a dict like those of DEFAULT_VMS, role 'vm' by default).

        Before start(): simply part of the bed. After: its certificate is
        issued, the supervisor learns about it, and the host agent is
        restarted with microvm@NAME.service whitelisted."""
        vm = dict(vm)
        vm.setdefault('role', 'vm')
        if vm['role'] != 'vm':
            raise TestBedError('only VMs (role "vm") can be added')
        with self._lock:
            self._add(vm)
            host = self.host()
            unit = f'microvm@{vm["name"]}.service'
            if unit not in host['services']:
                host['services'].insert(0, unit)
            if self._started and not self._stopped:
                self._issue(vm['name'], vm['addr'])
                self._write_scripts()
                self._write_spec()
                self._write_agent_env(self.host())
                self.host_manager.systemctl('restart', self.unit(HOST), timeout=60)
                self._note_host_agent()
        return vm

    def host(self):
        return next(vm for vm in self.vms.values() if vm['role'] == 'host')

    @property
    def host_name(self):
        return self.host()['name']

    @property
    def admin_name(self):
        return next(name for name, vm in self.vms.items() if vm['role'] == 'admin')

    def vm_names(self):
        """The names of the VMs the host can boot."""
        return [name for name, vm in self.vms.items() if vm['role'] == 'vm']

    def addr(self, name):
        return self.vms[name]['addr']

    def address(self, name):
        """HOST:PORT of an agent or of the admin."""
        vm = self.vms[name]
        return f'{vm["addr"]}:{self.admin_port if vm["role"] == "admin" else self.port}'

    @staticmethod
    def unit(name):
        """The agent's unit name (givc-NAME.service)."""
        return f'givc-{name}.service'

    def paths(self, name):
        """{'ca','cert','key'} of NAME's certificate."""
        d = os.path.join(self.cert_dir, name)
        return {'ca': os.path.join(d, 'ca-cert.pem'),
                'cert': os.path.join(d, name + '-cert.pem'),
                'key': os.path.join(d, name + '-key.pem')}

    def agent_log_path(self, name):
        return os.path.join(self.log_dir, f'{name}-agent.log')

    def agent_log(self, name):
        return _read(self.agent_log_path(name))

    def vm_log_path(self, name):
        """Output of vm_boot.py for microvm@NAME.service."""
        return os.path.join(self.log_dir, f'microvm-{name}.log')

    # -- certificates, files ---------------------------------------------------

    def _givc(self, *args, timeout=60):
        return subprocess.run([self.givc, *args], capture_output=True, text=True, timeout=timeout)

    def _issue(self, name, ip):
        p = self.paths(name)
        if all(os.path.exists(f) for f in p.values()):
            return p
        args = ['certs', 'issue', '--ca', self.ca_dir, '--out', self.cert_dir, '--name', name, '--force']
        if ip:
            args += ['--ip', ip]
        r = self._givc(*args)
        if r.returncode != 0:
            raise TestBedError(f'givc certs issue {name}: {r.stderr.strip()}')
        return p

    def _certs(self):
        if not os.path.exists(os.path.join(self.ca_dir, 'ca-cert.pem')):
            r = self._givc('certs', 'ca', self.ca_dir, '--force')
            if r.returncode != 0:
                raise TestBedError(f'givc certs ca: {r.stderr.strip()}')
        for name, vm in self.vms.items():
            self._issue(name, vm['addr'])

    def _write_scripts(self):
        for name, text in SCRIPTS.items():
            path = os.path.join(self.bin_dir, name)
            with open(path, 'w') as f:
                f.write(text)
            os.chmod(path, 0o755)

    def _applications(self, vm):
        apps = copy.deepcopy(vm['applications'])
        for app in apps:
            if app.get('command', '').startswith('@bin/'):
                app['command'] = os.path.join(self.bin_dir, app['command'][len('@bin/'):])
        return apps

    def agent_env(self, name):
        """The agent's configuration, upstream's environment variables."""
        vm = self.vms[name]
        p = self.paths(name)
        env = {
            'AGENT': json.dumps({'addr': vm['addr'], 'name': name, 'port': str(self.port), 'protocol': 'tcp'},
                                sort_keys=True),
            'ADMIN_SERVER': json.dumps({'addr': self.addr(self.admin_name), 'name': self.admin_name,
                                        'port': str(self.admin_port), 'protocol': 'tcp'}, sort_keys=True),
            'TLS_CONFIG': json.dumps({'caCertPath': p['ca'], 'certPath': p['cert'], 'enable': True,
                                      'keyPath': p['key']}, sort_keys=True),
            'TYPE': str(vm['type']),
            'SUBTYPE': str(vm['subtype']),
            'SERVICES': ' '.join(vm['services']),
            'PARENT': vm['parent'],
        }
        apps = self._applications(vm)
        if apps:
            env['APPLICATIONS'] = json.dumps(apps, sort_keys=True)
        if self.debug:
            env['DEBUG'] = 'true'
        env.update(vm['env'])
        return env

    def _write_agent_env(self, vm):
        path = os.path.join(self.config_dir, f'{vm["name"]}.env')
        lines = []
        for key, value in self.agent_env(vm['name']).items():
            if "'" in value or '\n' in value:
                raise TestBedError(f'{vm["name"]}: {key} cannot go into an environment file: {value!r}')
            lines.append(f"{key}='{value}'\n")
        with open(path, 'w') as f:
            f.writelines(lines)
        return path

    def agent_unit_text(self, name, description):
        vm = self.vms[name]
        env_file = self._write_agent_env(vm)
        log = self.agent_log_path(name)
        argv = [self.givc, 'agent', '--user', *vm['agent_args']]
        return (f'[Unit]\nDescription={description}\n\n'
                f'[Service]\nType=notify\n'
                f'ExecStart={" ".join(_unit_quote(a) for a in argv)}\n'
                f'EnvironmentFile={env_file}\n'
                f'TimeoutStopSec=30\n'
                f'StandardOutput=append:{log}\nStandardError=append:{log}\n')

    def _write_spec(self):
        spec = {'runtime_base': self.run_dir, 'events': self.events_path, 'vms': {}}
        for name in self.vm_names():
            unit = self.unit(name)
            spec['vms'][name] = {
                'agent_unit': unit,
                'units': {unit: self.agent_unit_text(name, f'givc agent of {name} (test bed)')},
                'boot_timeout': 90,
            }
        tmp = self.spec_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(spec, f, indent=1)
        os.replace(tmp, self.spec_path)

    def _host_units(self):
        m = self.host_manager
        boot = [PYTHON, VM_BOOT, '%i', self.supervisor_socket]
        m.write_unit('microvm@.service', (
            '[Unit]\nDescription=Simulated VM %i (givc test bed)\n\n'
            '[Service]\nType=notify\nNotifyAccess=main\n'
            f'ExecStart={" ".join(_unit_quote(a) for a in boot)}\n'
            'TimeoutStartSec=150\nTimeoutStopSec=100\n'
            f'StandardOutput=append:{self.log_dir}/microvm-%i.log\n'
            f'StandardError=append:{self.log_dir}/microvm-%i.log\n'))
        m.write_unit('testbed-reached@.service', (
            '[Unit]\nDescription=Record that %i.target was reached (givc test bed)\n\n'
            '[Service]\nType=oneshot\n'
            f'ExecStart=/bin/sh -c {_unit_quote("echo %i >> " + shlex.quote(self.targets_path))}\n'))
        for target in STAND_IN_TARGETS:
            base = target[:-len('.target')]
            m.write_unit(target, (
                f'[Unit]\nDescription=stand-in {base} (givc test bed)\n'
                f'Wants=testbed-reached@{base}.service\nAfter=testbed-reached@{base}.service\n'))
        m.write_unit(self.unit(self.host_name),
                     self.agent_unit_text(self.host_name, 'givc agent of the host (test bed)'))
        m.daemon_reload()

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout=90):
        """Certificates, the VM supervisor, the host's manager and agent.

        The admin is not started (start_admin()), nor any VM (boot())."""
        with self._lock:
            if self._started:
                raise TestBedError('test bed already started')
            self._started = True
            atexit.register(self._atexit)
            try:
                self._start(timeout)
            except BaseException as e:
                try:
                    self.stop()
                except Exception as e2:  # noqa: BLE001
                    print(f'testbed: cleanup after the failed start: {e2}', file=sys.stderr)
                if isinstance(e, Exception) and not isinstance(e, TestBedError):
                    raise TestBedError(f'test bed did not start: {e}') from e
                raise
        return self

    def _start(self, timeout):
        for d in (self.workdir, self.cert_dir, self.log_dir, self.config_dir, self.bin_dir, self.run_dir,
                  self.state_dir):
            os.makedirs(d, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.targets_path)
        agent_addrs = [vm['addr'] for vm in self.vms.values() if vm['role'] != 'admin']
        if self._port_arg is None:
            self.port = pick_port(agent_addrs)
        if self._admin_port_arg is None:
            self.admin_port = pick_port([self.addr(self.admin_name)], avoid=(self.port,))
        self._certs()
        self._write_scripts()
        self._write_spec()

        # The supervisor: its own session (no terminal signals); it goes when
        # we do (stdin EOF, and SIGTERM from PR_SET_PDEATHSIG).
        log = open(self.supervisor_log, 'ab')
        try:
            self.supervisor = subprocess.Popen(
                [PYTHON, SUPERVISOR, self.spec_path, self.supervisor_socket],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, close_fds=True,
                start_new_session=True, preexec_fn=systemd_harness._set_pdeathsig)
        finally:
            log.close()

        def supervisor_up():
            if self.supervisor.poll() is not None:
                raise TestBedError(f'the VM supervisor exited ({self.supervisor.returncode}):\n'
                                   + _read(self.supervisor_log))
            try:
                return self.supervisor_command('ping', timeout=5) == 'pong'
            except OSError:
                return False
        wait_until(supervisor_up, 30, 'the VM supervisor')

        self.host_manager = UserManager(self.host_name, base_dir=self.run_dir)
        self.host_manager.start(timeout=60)
        self._host_units()
        r = self.host_manager.systemctl('start', self.unit(self.host_name), check=False, timeout=timeout)
        if r.returncode != 0:
            raise TestBedError(f'the host agent did not start: {r.stderr.strip()}\n'
                               f'--- agent log ---\n{self.agent_log(self.host_name)}')
        self._note_host_agent()

    def _note_host_agent(self):
        pid = self.host_manager.show(self.unit(self.host_name), 'MainPID').get('MainPID', '0')
        if pid.isdigit() and int(pid):
            self._host_agent_pids.append(int(pid))

    def _atexit(self):
        try:
            self.stop()
        except Exception as e:  # noqa: BLE001
            print(f'testbed: stop at exit: {e}', file=sys.stderr)

    def stop(self, timeout=120):
        """Stop the admin, the VMs, the host's manager and the supervisor.

        Idempotent. Raises TestBedError if something was left behind (after
        removing it)."""
        with self._lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        errors = []
        deadline = time.monotonic() + timeout

        def left():
            return max(5.0, deadline - time.monotonic())

        if self.admin is not None:
            try:
                self.stop_admin(timeout=min(30, left()))
            except Exception as e:  # noqa: BLE001
                errors.append(f'admin: {e}')
                self.kill_admin()

        m = self.host_manager
        if m is not None and m.proc is not None and m.proc.poll() is None:
            # The regular way first: stopping microvm@ units shuts their VMs down.
            try:
                r = m.systemctl('stop', 'microvm@*.service', check=False, timeout=left())
                if r.returncode != 0:
                    errors.append(f'stopping the VMs: {r.stderr.strip()}')
            except (OSError, subprocess.SubprocessError) as e:
                errors.append(f'stopping the VMs: {e}')

        if self.supervisor is not None and self.supervisor.poll() is None:
            try:
                reply = self.supervisor_command('stop-all', timeout=left())
                if not reply.startswith('stopped'):
                    errors.append(f'supervisor stop-all: {reply!r}')
            except OSError as e:
                errors.append(f'supervisor stop-all: {e}')

        if m is not None:
            try:
                m.stop()
            except HarnessError as e:
                errors.append(str(e))

        if self.supervisor is not None:
            if self.supervisor.poll() is None:
                # SIGTERM only: closing its stdin as well would race with the
                # signal (once exiting, Python restores SIG_DFL).
                self.supervisor.send_signal(signal.SIGTERM)
                try:
                    code = self.supervisor.wait(left())
                    if code != 0:
                        errors.append(f'the VM supervisor exited with {code}')
                except subprocess.TimeoutExpired:
                    errors.append(f'the VM supervisor (pid {self.supervisor.pid}) did not exit; killed')
                    self.supervisor.kill()
                    self.supervisor.wait()
            elif self.supervisor.returncode != 0:
                errors.append(f'the VM supervisor had died ({self.supervisor.returncode}); '
                              f'see {self.supervisor_log}')
            with contextlib.suppress(OSError):
                self.supervisor.stdin.close()

        for cg in self.own_cgroups():
            if os.path.exists(cg):
                errors.append(f'cgroup {cg} was left behind')
                try:
                    systemd_harness.remove_cgroup(cg)
                except HarnessError as e:
                    errors.append(str(e))
        alive = [pid for pid in self.recorded_pids() if systemd_harness._pid_alive(pid)]
        if alive:
            errors.append(f'processes left behind: {alive}')
        atexit.unregister(self._atexit)
        if errors:
            raise TestBedError('test bed stop: ' + '; '.join(errors))

    # -- what was started ----------------------------------------------------------

    def events(self):
        """The supervisor's record: dicts with event (manager, booted,
        boot-failed, down), vm, and pids/cgroup/result."""
        out = []
        for line in _read(self.events_path).splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def own_cgroups(self):
        """Every givc-test-* cgroup this bed created (host and VM managers)."""
        cgs = []
        if self.host_manager is not None and self.host_manager.cgroup:
            cgs.append(self.host_manager.cgroup)
        for e in self.events():
            cg = e.get('cgroup')
            if cg and cg not in cgs:
                cgs.append(cg)
        return cgs

    def recorded_pids(self):
        """PIDs of everything this bed started: supervisor, admin runs, host
        manager and agent, VM managers and agents."""
        pids = set(self._admin_pids) | set(self._host_agent_pids)
        if self.supervisor is not None:
            pids.add(self.supervisor.pid)
        if self.host_manager is not None and self.host_manager.pid:
            pids.add(self.host_manager.pid)
        for e in self.events():
            for key in ('manager_pid', 'agent_pid'):
                if e.get(key):
                    pids.add(int(e[key]))
        return sorted(pids)

    # -- the VM supervisor -------------------------------------------------------------

    def supervisor_command(self, command, timeout=150):
        """Send one command line to the supervisor; its one-line answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.supervisor_socket)
            s.sendall(command.encode() + b'\n')
            buf = b''
            while b'\n' not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return buf.decode(errors='replace').strip()

    def vm_status(self):
        """{NAME: {manager_pid, cgroup, runtime_dir, agent_pid, ...}} of the running VMs."""
        reply = self.supervisor_command('status')
        try:
            return json.loads(reply)
        except ValueError:
            raise TestBedError(f'bad status from the supervisor: {reply!r}') from None

    # -- VMs ---------------------------------------------------------------------------

    def _check_vm(self, vm):
        if vm not in self.vms or self.vms[vm]['role'] != 'vm':
            raise TestBedError(f'{vm!r} is not a VM of this test bed')

    def boot(self, vm, timeout=150):
        """Start microvm@VM.service in the host's manager; returns once the
        VM's agent is up (raises TestBedError otherwise)."""
        self._check_vm(vm)
        r = self.host_manager.systemctl('start', f'microvm@{vm}.service', check=False, timeout=timeout)
        if r.returncode != 0:
            raise TestBedError(f'booting {vm} failed: {r.stderr.strip()}\n'
                               f'--- microvm@{vm} ---\n{_read(self.vm_log_path(vm))}'
                               f'--- {vm} agent ---\n{self.agent_log(vm)}')

    def shutdown_vm(self, vm, timeout=150):
        """Stop microvm@VM.service; returns once the VM is gone."""
        self._check_vm(vm)
        self.host_manager.systemctl('stop', f'microvm@{vm}.service', timeout=timeout)

    def crash_vm(self, vm):
        """Tear VM down at once, behind the host's back: microvm@VM fails."""
        self._check_vm(vm)
        reply = self.supervisor_command(f'kill {vm}')
        if reply != 'killed':
            raise TestBedError(f'kill {vm}: {reply}')

    def vm_running(self, vm):
        """True if VM's manager and agent are up (booted by the supervisor)."""
        return vm in self.vm_status()

    def vm_unit_state(self, vm):
        """ActiveState of microvm@VM.service in the host's manager."""
        return self.host_manager.show(f'microvm@{vm}.service', 'ActiveState').get('ActiveState')

    def vm_manager(self, vm):
        """The running VM's manager (ManagerView: systemctl, show, cgroup_events, env, runtime_dir...)."""
        if vm == self.host_name:
            return self.host_manager
        st = self.vm_status().get(vm)
        if st is None:
            raise TestBedError(f'VM {vm} is not running')
        return ManagerView(vm, st['runtime_dir'], st['cgroup'], st['manager_pid'])

    # -- targets -------------------------------------------------------------------------

    def targets_reached(self):
        """Stand-in targets started so far, in order, e.g. ['poweroff']."""
        return _read(self.targets_path).split()

    def reset_targets(self):
        """Stop the stand-in targets (so they can be reached again) and forget them."""
        self.host_manager.systemctl('stop', *STAND_IN_TARGETS,
                                    *(f'testbed-reached@{t[:-7]}.service' for t in STAND_IN_TARGETS),
                                    check=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.targets_path)

    # -- the admin -------------------------------------------------------------------------

    def admin_argv(self, extra_args=()):
        p = self.paths(self.admin_name)
        fields = {'state_dir': self.state_dir, 'workdir': self.workdir}
        args = ['admin', '--listen', self.address(self.admin_name), '--use-tls',
                '--ca-cert', p['ca'], '--host-cert', p['cert'], '--host-key', p['key']]
        args += [a.format(**fields) for a in self.admin_default_args]
        if self.debug:
            args.append('--debug')
        return args + list(self.admin_args) + list(extra_args)

    def start_admin(self, extra_args=(), timeout=30, env=None, expect_ready=True):
        """Run the admin as a plain child process; returns (the givctest.Server)
        once it said READY=1 (at once with expect_ready=False)."""
        with self._lock:
            if self.admin is not None and self.admin.proc.poll() is None:
                raise TestBedError('the admin is running already')
            if self.admin is not None:
                self.admin.close()
            self._admin_runs += 1
            run_env = dict(os.environ if env is None else env)
            run_env.pop('NOTIFY_SOCKET', None)
            self.admin = _Admin(self.givc, self.admin_argv(extra_args), env=run_env,
                                name=f'admin-{self._admin_runs}', workdir=self.log_dir)
            try:
                self.admin.start(timeout=timeout, expect_ready=expect_ready)
            finally:
                if self.admin.proc is not None:
                    self._admin_pids.append(self.admin.proc.pid)
            return self.admin

    def stop_admin(self, timeout=30):
        """SIGTERM the admin; its exit code (None if it was not running)."""
        if self.admin is None or self.admin.proc is None:
            return None
        try:
            return self.admin.stop(signal.SIGTERM, timeout)
        finally:
            self.admin.close()

    def kill_admin(self):
        """SIGKILL the admin; its exit status (negative signal number)."""
        if self.admin is None or self.admin.proc is None:
            return None
        self.admin.kill()
        self.admin.close()
        return self.admin.proc.returncode

    def admin_running(self):
        return self.admin is not None and self.admin.proc.poll() is None

    def admin_log(self):
        """The output of the current (or last) admin run."""
        return self.admin.logs() if self.admin is not None else ''

    def admin_logs(self):
        """The output of every admin run, in order."""
        return ''.join(_read(os.path.join(self.log_dir, f'admin-{i}.log'))
                       for i in range(1, self._admin_runs + 1))

    # -- clients ---------------------------------------------------------------------------

    def channel(self, target, client=HOST):
        """A grpc channel with mutual TLS to target's agent (or the admin),
        with client's certificate. Use as a context manager."""
        return givctest.channel(self.address(target), self.paths(client), target)

    def cli_argv(self, client=HOST):
        p = self.paths(client)
        return [self.givc, 'cli', '--addr', self.addr(self.admin_name), '--port', str(self.admin_port),
                '--name', self.admin_name, '--cacert', p['ca'], '--cert', p['cert'], '--key', p['key']]

    def cli(self, *args, client=HOST, timeout=60, input=None, env=None):
        """Run `givc cli ... ARGS` against the admin, as client; CompletedProcess (text)."""
        return subprocess.run([*self.cli_argv(client), *args], capture_output=True, text=True,
                              timeout=timeout, input=input, env=env)

    def describe(self):
        """What a script needs to know about the bed, as plain data."""
        vms = {}
        for name, vm in self.vms.items():
            d = {'role': vm['role'], 'addr': vm['addr'], 'address': self.address(name), **self.paths(name)}
            if vm['role'] != 'admin':
                d.update(type=vm['type'], subtype=vm['subtype'], unit=self.unit(name),
                         agent_log=self.agent_log_path(name), services=vm['services'],
                         applications=[a['name'] for a in vm['applications']])
            if vm['role'] == 'vm':
                d.update(microvm_unit=f'microvm@{name}.service', boot_log=self.vm_log_path(name),
                         runtime_dir=os.path.join(self.run_dir, name))
            vms[name] = d
        return {
            'workdir': self.workdir,
            'givc': self.givc,
            'port': self.port,
            'admin': {'name': self.admin_name, 'address': self.address(self.admin_name),
                      'running': self.admin_running(), 'log': self.admin.log_path if self.admin else None,
                      'argv': [self.givc, *self.admin_argv()]},
            'host_manager': {'runtime_dir': self.host_manager.runtime_dir if self.host_manager else None,
                             'log': self.host_manager.log_path if self.host_manager else None},
            'supervisor': {'socket': self.supervisor_socket, 'log': self.supervisor_log,
                           'pid': self.supervisor.pid if self.supervisor else None},
            'cli': self.cli_argv(),
            'targets_reached': self.targets_path,
            'vms': vms,
        }


# ---------------------------------------------------------------------------

def _up(args):
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)   # before the harness installs its own

    bed = TestBed(args.givc, args.workdir, port=args.port, admin_port=args.admin_port, debug=args.debug,
                  admin_default_args=args.admin_default_args)
    code = 0
    try:
        bed.start()
        if args.with_admin:
            bed.start_admin()
        for vm in args.boot:
            bed.boot(vm)
        print(json.dumps(bed.describe(), indent=2), flush=True)
        print('testbed: up; SIGTERM or SIGINT stops it', file=sys.stderr, flush=True)
        while not stop.wait(1):
            pass
    except Exception as e:  # noqa: BLE001
        print(f'testbed: {e}', file=sys.stderr)
        code = 1
    finally:
        try:
            bed.stop()
        except Exception as e:  # noqa: BLE001
            print(f'testbed: {e}', file=sys.stderr)
            code = 1
    print('testbed: stopped', file=sys.stderr)
    return code


def main(argv=None):
    parser = argparse.ArgumentParser(prog='testbed.py', description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    up = sub.add_parser('up', help='start the bed, print its JSON description, run until SIGTERM/SIGINT')
    up.add_argument('--givc', default=os.environ.get('GIVC'), required=not os.environ.get('GIVC'),
                    help='the givc binary (default: $GIVC)')
    up.add_argument('--workdir', required=True, help='where certificates, logs and runtime dirs go')
    up.add_argument('--with-admin', action='store_true', help='start the admin too')
    up.add_argument('--boot', action='append', default=[], metavar='VM', help='boot VM (repeatable)')
    up.add_argument('--port', type=int, default=9000, help='the agents\' port (0: any free one)')
    up.add_argument('--admin-port', type=int, default=9001, help='the admin\'s port (0: any free one)')
    up.add_argument('--admin-default-args', default=None, type=shlex.split,
                    help='replace the admin\'s default options (%s)' % ' '.join(TestBed.ADMIN_DEFAULT_ARGS))
    up.add_argument('--debug', action='store_true', help='debug logging of agents and admin')
    args = parser.parse_args(argv)
    args.port = args.port or None
    args.admin_port = args.admin_port or None
    return _up(args)


if __name__ == '__main__':
    sys.exit(main())
