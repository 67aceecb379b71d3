# SPDX-License-Identifier: Apache-2.0
"""Real systemd user managers (one per simulated VM) and D-Bus mocks for tests.

The machines this runs on have no systemd as PID 1 and a cgroup v1 "hybrid"
layout with an empty cgroup2 tree at /sys/fs/cgroup/unified. Each
UserManager runs `systemd --user` as root

  * in its own cgroup2 sub-cgroup /sys/fs/cgroup/unified/givc-test-NAME-XXXX
    (the forked child moves *itself* there before exec, never the caller),
  * in new mount and cgroup namespaces (`unshare -m -C`), with a private tmpfs
    on /run/systemd (containing system/, else the manager refuses to start)
    and cgroup2 mounted on /sys/fs/cgroup, so the manager runs in unified mode
    (freeze/thaw and CPUUsageNSec work) with the sub-cgroup as its root,
  * with its own XDG_RUNTIME_DIR (bus at DIR/bus, private socket at
    DIR/systemd/private) and its own XDG config/data/state/cache homes.

Nothing is left behind: stop() is idempotent; a module registry plus atexit
(and SIGTERM turned into KeyboardInterrupt when nobody else handles it) stops
whatever is still running; and a small guardian process per manager, in its
own session, kills the sub-cgroup (cgroup.kill), removes it and the runtime
directory if the test process dies without stopping the manager (e.g. SIGKILL
after a meson timeout).

DbusMockServices runs python-dbusmock servers for org.freedesktop.timedate1
and org.freedesktop.locale1 on any bus address; dbus_daemon() starts a private
bus for tests that do not need a manager.

Only the standard library is used, except DbusMockServices (python3-dbus).
Run with Debian's /usr/bin/python3.
"""

import atexit
import ctypes
import os
import random
import select
import shlex
import shutil
import signal
import string
import subprocess
import sys
import termios
import tempfile
import threading
import time

__all__ = ['UserManager', 'DbusMockServices', 'dbus_daemon', 'HarnessError',
           'CGROUP2_ROOT', 'SYSTEMD', 'LOCALED_TEMPLATE', 'wait_until', 'remove_cgroup']

CGROUP2_ROOT = '/sys/fs/cgroup/unified'
SYSTEMD = '/lib/systemd/systemd'
DEBIAN_PYTHON = '/usr/bin/python3'
LOCALED_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dbusmock_localed.py')

_POLL = 0.02          # seconds between polls of a condition (not a synchronisation sleep)
_CMD_TIMEOUT = 30     # upper bound for any single systemctl/busctl invocation


class HarnessError(RuntimeError):
    """Something in the test environment did not come up / go away in time."""


class Started:
    """`with X(...) as x:` starts x (x.start()) and stops it (x.stop()) at the end, whatever happens."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def wait_until(predicate, timeout, what='condition', poll=_POLL):
    """Poll predicate() until it returns a true value (returned) or raise HarnessError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f'timed out after {timeout}s waiting for {what}')
        time.sleep(poll)


def _random_suffix(n=6):
    return ''.join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def _read(path, default=''):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return default


def _pid_alive(pid):
    """True if pid exists and is not a zombie."""
    stat = _read(f'/proc/{pid}/stat')
    if not stat:
        return False
    # state is the first field after the parenthesised comm
    return stat[stat.rfind(')') + 2:][:1] not in ('Z', 'X', '')


try:
    _libc = ctypes.CDLL(None, use_errno=True)   # loaded here, not in a forked child
except OSError:
    _libc = None


def _set_pdeathsig(sig=signal.SIGTERM):
    """In a forked child: get sig when the parent (thread) dies. Best effort."""
    try:
        if _libc is not None:
            _libc.prctl(1, int(sig), 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:   # noqa: BLE001 - must never break the exec
        pass


# ---------------------------------------------------------------------------
# Registry of everything started, torn down at exit.

_registry = []          # objects with .stop()
_registry_lock = threading.Lock()
_atexit_installed = False


def _register(obj):
    global _atexit_installed
    with _registry_lock:
        _registry.append(obj)
        if not _atexit_installed:
            atexit.register(_stop_all)
            _install_sigterm()
            _atexit_installed = True


def _unregister(obj):
    with _registry_lock:
        try:
            _registry.remove(obj)
        except ValueError:
            pass


def _stop_all():
    with _registry_lock:
        items = list(reversed(_registry))
    for obj in items:
        try:
            obj.stop()
        except Exception as e:  # noqa: BLE001 - keep cleaning up the rest
            print(f'systemd_harness: cleanup of {obj!r} failed: {e}', file=sys.stderr)


def _sigterm(signum, frame):
    # Unwind (context managers, finally, tearDown of the current test) and let
    # atexit clean up the rest. unittest re-raises KeyboardInterrupt.
    raise KeyboardInterrupt(f'signal {signum}')


def _install_sigterm():
    try:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
            signal.signal(signal.SIGTERM, _sigterm)
    except (ValueError, OSError):
        pass


# ---------------------------------------------------------------------------
# cgroup helpers (only ever applied to our own givc-test-* sub-cgroups)

def _cgroup_dirs_bottom_up(path):
    dirs = []
    for root, _subdirs, _files in os.walk(path, topdown=False):
        dirs.append(root)
    return dirs


def _cgroup_pids(path):
    pids = set()
    for d in _cgroup_dirs_bottom_up(path):
        for line in _read(os.path.join(d, 'cgroup.procs')).split():
            if line.strip().isdigit():
                pids.add(int(line))
    return pids


def _write(path, text):
    try:
        with open(path, 'w') as f:
            f.write(text)
        return True
    except OSError:
        return False


def remove_cgroup(path, timeout=10.0):
    """Kill every process in the sub-cgroup `path` and remove it bottom-up.

    Returns the set of PIDs that were still present. Only for the harness's own
    givc-test-* cgroups: refuses anything else.
    """
    if not os.path.basename(path).startswith('givc-test-') or \
            os.path.dirname(os.path.abspath(path)) != CGROUP2_ROOT:
        raise HarnessError(f'refusing to remove foreign cgroup {path}')
    if not os.path.isdir(path):
        return set()
    leftovers = _cgroup_pids(path)
    deadline = time.monotonic() + timeout
    moved = False
    while True:
        for d in _cgroup_dirs_bottom_up(path):
            _write(os.path.join(d, 'cgroup.freeze'), '0')   # frozen tasks die anyway; be sure
        pids = _cgroup_pids(path)
        if pids:
            leftovers |= pids
            # cgroup.kill is race-free against forks; SIGKILL by PID as a fallback
            if not _write(os.path.join(path, 'cgroup.kill'), '1'):
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        if not pids or moved:
            for d in _cgroup_dirs_bottom_up(path):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError:
                    break
            if not os.path.isdir(path):
                return leftovers
        if time.monotonic() >= deadline:
            if not moved:
                # Unkillable in time (e.g. D state): move them to the parent so
                # the cgroup can go, and keep them SIGKILLed.
                for pid in _cgroup_pids(path):
                    _write(os.path.join(CGROUP2_ROOT, 'cgroup.procs'), str(pid))
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                moved = True
                deadline = time.monotonic() + 2
                continue
            raise HarnessError(f'could not remove cgroup {path}; still there: '
                               f'{sorted(_cgroup_pids(path))}')
        time.sleep(_POLL)


# The guardian: `python3 systemd_harness.py --guard CGROUP RUNTIME_DIR MASTER SLAVE`,
# started in its own session with a pipe on stdin, before the manager.
#  * It copies what the manager logs into RUNTIME_DIR/manager.log. A user manager
#    logs to /dev/console, which must be a tty (else ENOTTY, nothing is logged),
#    and would otherwise be the host's console: the slave of a pty (fd SLAVE, kept
#    open so the master never reports EIO) is bind-mounted over /dev/console in
#    the manager's mount namespace, and the guardian reads the master (fd MASTER).
#  * "done" on stdin: drain and exit. EOF without "done": the test process died
#    without a clean stop(); remove the cgroup (cgroup.kill: the manager and all it
#    started) and the runtime dir.
def _guard_main(cgroup, runtime_dir, master, slave):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    os.set_blocking(master, False)
    log = os.open(os.path.join(runtime_dir, 'manager.log'), os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)

    def drain():
        while True:
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            try:
                os.write(log, chunk)
            except OSError:
                pass

    data = b''
    while True:
        try:
            ready, _, _ = select.select([0, master], [], [])
        except InterruptedError:
            continue
        if master in ready:
            drain()
        if 0 in ready:
            try:
                chunk = os.read(0, 64)
            except OSError:
                chunk = b''
            data += chunk
            if not chunk or b'done' in data:
                break
    drain()
    if b'done' in data:
        return 0
    try:
        remove_cgroup(cgroup, timeout=20)
    except Exception as e:  # noqa: BLE001
        print(f'systemd_harness guardian: {e}', file=sys.stderr)
    shutil.rmtree(runtime_dir, ignore_errors=True)
    return 0


# ---------------------------------------------------------------------------

class UserManager(Started):
    """A `systemd --user` instance standing in for one VM's service manager.

    Use as a context manager (`with UserManager('gui-vm') as m:`) or call
    start()/stop() yourself.
    """

    def __init__(self, name, base_dir=None):
        if not name or '/' in name:
            raise ValueError(f'bad manager name {name!r}')
        self.name = name
        self.base_dir = base_dir
        self._runtime_dir = None
        self._own_runtime_dir = False
        self.cgroup = None          # /sys/fs/cgroup/unified/givc-test-NAME-XXXXXX
        self.proc = None            # the manager (sh -> systemd after exec; same PID)
        self._guard = None
        self._log = None
        self._stopped = False
        self._started = False
        self.final_log = ''
        self.leftover_pids = set()  # processes remove_cgroup() found after the manager exited

    def __repr__(self):
        return f'<UserManager {self.name} pid={self.pid} dir={self._runtime_dir}>'

    # -- lifecycle ----------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def log_path(self):
        return os.path.join(self._runtime_dir, 'manager.log') if self._runtime_dir else None

    def log(self):
        """The manager's log so far (its console and stdout/stderr; after stop(): final_log)."""
        if self._stopped and not os.path.exists(self.log_path or ''):
            return self.final_log
        return _read(self.log_path) if self.log_path else ''

    def start(self, timeout=15):
        if self._started:
            raise HarnessError(f'{self!r} already started')
        self._started = True
        _register(self)
        try:
            self._start(timeout)
        except BaseException as e:
            note = ''
            try:
                self.stop()
            except Exception as e2:  # noqa: BLE001
                note = f'\n(cleanup after the failed start also failed: {e2})'
            log = self.log() + note
            if isinstance(e, Exception):
                raise HarnessError(f'{self.name}: start failed: {e}\n'
                                   f'--- manager log ({self.name}) ---\n{log}') from e
            raise
        return self

    def _start(self, timeout):
        if os.geteuid() != 0:
            raise HarnessError('UserManager needs root (cgroup2 sub-cgroups, unshare -m -C)')
        if not os.path.exists(os.path.join(CGROUP2_ROOT, 'cgroup.procs')):
            raise HarnessError(f'no cgroup2 hierarchy at {CGROUP2_ROOT}')

        # runtime dir (0700)
        if self.base_dir:
            os.makedirs(self.base_dir, exist_ok=True)
            path = os.path.join(self.base_dir, self.name)
            os.mkdir(path, 0o700)
        else:
            path = tempfile.mkdtemp(prefix=f'givc-test-{self.name}-')
        os.chmod(path, 0o700)
        self._runtime_dir = path
        self._own_runtime_dir = True
        for sub in ('config', 'data', 'state', 'cache'):
            os.mkdir(os.path.join(path, sub), 0o700)

        # sub-cgroup
        while True:
            cg = os.path.join(CGROUP2_ROOT, f'givc-test-{self.name}-{_random_suffix()}')
            try:
                os.mkdir(cg)
                break
            except FileExistsError:
                continue
        self.cgroup = cg

        self._log = open(self.log_path, 'ab')

        # A pty whose slave stands in for /dev/console inside the namespace.
        master, slave = os.openpty()
        try:
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.OPOST          # no \n -> \r\n
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            console = os.ttyname(slave)
            # guardian (before the manager exists, so every later failure is covered)
            self._guard = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), '--guard', cg, path, str(master), str(slave)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=None,
                start_new_session=True, close_fds=True, pass_fds=(master, slave))
        finally:
            os.close(master)
            os.close(slave)

        procs = os.path.join(cg, 'cgroup.procs')

        def child():
            # Runs in the forked child before exec: move *this* process (only).
            with open(procs, 'w') as f:
                f.write('0')

        env = self.env()
        env.update({
            'XDG_CONFIG_HOME': os.path.join(path, 'config'),
            'XDG_DATA_HOME': os.path.join(path, 'data'),
            'XDG_STATE_HOME': os.path.join(path, 'state'),
            'XDG_CACHE_HOME': os.path.join(path, 'cache'),
            'SYSTEMD_LOG_TARGET': 'console',   # not /dev/kmsg of the host
            'SYSTEMD_LOG_COLOR': '0',
        })
        for var in ('NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES',
                    'WATCHDOG_PID', 'WATCHDOG_USEC', 'INVOCATION_ID', 'MANAGERPID',
                    'JOURNAL_STREAM', 'SYSTEMD_EXEC_PID'):
            env.pop(var, None)
        script = ('mount -t tmpfs none /run/systemd && mkdir -p /run/systemd/system && '
                  'mount -t cgroup2 none /sys/fs/cgroup && '
                  'mount --bind ' + shlex.quote(console) + ' /dev/console && '
                  'exec ' + SYSTEMD + ' --user --log-target=console')
        self.proc = subprocess.Popen(
            ['unshare', '-m', '-C', '--propagation', 'private', 'sh', '-c', script],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=child, start_new_session=True, close_fds=True, cwd='/')

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError(f'manager {self.name} exited with status {self.proc.returncode}')
            if not (os.path.exists(os.path.join(path, 'bus')) and
                    os.path.exists(os.path.join(path, 'systemd', 'private'))):
                return False
            r = subprocess.run(['systemctl', '--user', 'is-system-running'], env=self.env(),
                               capture_output=True, text=True, timeout=_CMD_TIMEOUT)
            return r.stdout.strip() or False
        wait_until(ready, timeout, f'user manager {self.name} to come up')

    def stop(self, timeout=15):
        """Stop the manager and remove its cgroup and runtime dir. Idempotent.

        The manager's log stays available as self.final_log.
        """
        if self._stopped:
            return
        self._stopped = True
        errors = []
        cgroup_gone = self.cgroup is None
        try:
            if self.proc is not None and self.proc.poll() is None:
                # Thaw everything first: a frozen unit would hold up the stop job.
                if self.cgroup:
                    for d in _cgroup_dirs_bottom_up(self.cgroup):
                        _write(os.path.join(d, 'cgroup.freeze'), '0')
                try:
                    subprocess.run(['systemctl', '--user', '--no-block', 'exit'], env=self.env(),
                                   capture_output=True, timeout=min(timeout, _CMD_TIMEOUT))
                except (OSError, subprocess.SubprocessError) as e:
                    errors.append(f'systemctl exit: {e}')
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    errors.append(f'manager {self.name} (pid {self.proc.pid}) did not exit '
                                  f'within {timeout}s; killed')
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)   # the session/group we created
                    except OSError:
                        pass
                    try:
                        self.proc.wait(10)
                    except subprocess.TimeoutExpired:
                        errors.append(f'manager pid {self.proc.pid} survived SIGKILL')
            elif self.proc is not None:
                self.proc.wait()
            if self.cgroup:
                try:
                    self.leftover_pids = remove_cgroup(self.cgroup)
                    cgroup_gone = True
                except HarnessError as e:
                    errors.append(str(e))
        finally:
            if self._guard is not None:
                try:
                    if cgroup_gone:
                        self._guard.stdin.write(b'done\n')
                    self._guard.stdin.close()   # EOF without "done": guardian cleans up
                except OSError:
                    pass
                if cgroup_gone:
                    try:
                        self._guard.wait(10)    # it drains the console FIFO first
                    except subprocess.TimeoutExpired:
                        errors.append(f'guardian pid {self._guard.pid} did not exit')
            if self._log:
                self._log.close()
                self._log = None
            if self._runtime_dir and self._own_runtime_dir:
                self.final_log = self.log()
                if cgroup_gone:
                    shutil.rmtree(self._runtime_dir, ignore_errors=True)
                    if os.path.exists(self._runtime_dir):
                        errors.append(f'could not remove {self._runtime_dir}')
            _unregister(self)
        if errors:
            raise HarnessError(f'stopping {self.name}: ' + '; '.join(errors))

    # -- addresses and environment -------------------------------------------

    @property
    def runtime_dir(self):
        return self._runtime_dir

    @property
    def bus_address(self):
        return f'unix:path={self._runtime_dir}/bus'

    def env(self):
        """os.environ copy pointing XDG_RUNTIME_DIR and the session bus at this manager."""
        env = dict(os.environ)
        env['XDG_RUNTIME_DIR'] = self._runtime_dir
        env['DBUS_SESSION_BUS_ADDRESS'] = self.bus_address
        return env

    # -- talking to the manager ------------------------------------------------

    def systemctl(self, *args, check=True, timeout=_CMD_TIMEOUT):
        """`systemctl --user ARGS...`; CompletedProcess with text stdout/stderr."""
        r = subprocess.run(['systemctl', '--user', *args], env=self.env(),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise HarnessError(f'systemctl --user {" ".join(args)} failed ({r.returncode}): '
                               f'{r.stderr.strip()} {r.stdout.strip()}')
        return r

    def show(self, unit, *props):
        """dict property -> value (strings) from `systemctl --user show`."""
        args = ['show']
        for p in props:
            args += ['-p', p]
        out = self.systemctl(*args, '--', unit).stdout
        result = {}
        for line in out.splitlines():
            key, sep, value = line.partition('=')
            if sep:
                result[key] = value
        return result

    @property
    def unit_dir(self):
        d = os.path.join(self._runtime_dir, 'systemd', 'user')
        os.makedirs(d, exist_ok=True)
        return d

    def write_unit(self, name, text):
        path = os.path.join(self.unit_dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def daemon_reload(self):
        self.systemctl('daemon-reload')

    def wait_for(self, unit, prop, value, timeout=10):
        """Poll `show` until unit's prop == value (as strings); returns it."""
        value = str(value)
        current = [None]

        def check():
            current[0] = self.show(unit, prop).get(prop)
            return current[0] == value
        try:
            wait_until(check, timeout, f'{unit} {prop}={value}')
        except HarnessError:
            raise HarnessError(f'{self.name}: {unit} {prop} is {current[0]!r}, '
                               f'expected {value!r} within {timeout}s') from None
        return value

    def cgroup_path(self, unit):
        """The unit's cgroup directory as seen from outside the namespace."""
        cg = self.show(unit, 'ControlGroup').get('ControlGroup', '')
        if not cg:
            raise HarnessError(f'{self.name}: {unit} has no ControlGroup')
        return os.path.join(self.cgroup, cg.lstrip('/'))

    def cgroup_events(self, unit):
        """dict from the unit's cgroup.events, e.g. {'populated': '1', 'frozen': '0'}."""
        text = _read(os.path.join(self.cgroup_path(unit), 'cgroup.events'), None)
        if text is None:
            raise HarnessError(f'{self.name}: no cgroup.events for {unit}')
        return dict(line.split(None, 1) for line in text.splitlines() if line.strip())

    def run(self, unit_name, *argv, properties=(), timeout=15):
        """Start argv as transient service unit_name (systemd-run); return when active."""
        if not argv:
            raise ValueError('run() needs a command')
        unit = unit_name if '.' in unit_name else unit_name + '.service'
        args = ['systemd-run', '--user', f'--unit={unit}']
        for p in properties:
            args += ['-p', p]
        r = subprocess.run([*args, '--', *argv], env=self.env(), capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise HarnessError(f'{self.name}: systemd-run {unit} failed: {r.stderr.strip()}')
        self.wait_for(unit, 'ActiveState', 'active', timeout)
        return unit


# ---------------------------------------------------------------------------

def _to_python(v):
    """dbus-python values -> plain Python (str, int, bool, float, list, dict, tuple)."""
    import dbus
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64,
                      dbus.UInt16, dbus.UInt32, dbus.UInt64)):
        return int(v)
    if isinstance(v, dbus.Double):
        return float(v)
    if isinstance(v, dict):
        return {_to_python(k): _to_python(x) for k, x in v.items()}
    if isinstance(v, dbus.Struct):
        return tuple(_to_python(x) for x in v)
    if isinstance(v, (list, tuple)):
        return [_to_python(x) for x in v]
    return v


class DbusMockServices(Started):
    """python-dbusmock stand-ins for systemd-timedated and systemd-localed.

    Both run as `/usr/bin/python3 -m dbusmock --template T --system` with
    DBUS_SYSTEM_BUS_ADDRESS=address, i.e. they appear on the bus at `address`
    as if it were the system bus. Names: TIMEDATE, LOCALE.
    """

    TIMEDATE = 'org.freedesktop.timedate1'
    LOCALE = 'org.freedesktop.locale1'
    _SERVICES = {
        TIMEDATE: ('timedated', '/org/freedesktop/timedate1', 'org.freedesktop.timedate1'),
        LOCALE: (LOCALED_TEMPLATE, '/org/freedesktop/locale1', 'org.freedesktop.locale1'),
    }

    def __init__(self, address, log_dir=None, timedate_parameters=None, locale_parameters=None):
        self.address = address
        self.log_dir = log_dir
        self._own_log_dir = False
        self.params = {self.TIMEDATE: timedate_parameters, self.LOCALE: locale_parameters}
        self.procs = {}         # service name -> Popen
        self._logs = []
        self._bus = None
        self._stopped = False

    def __repr__(self):
        return f'<DbusMockServices on {self.address}>'

    def start(self, timeout=15):
        import json
        _register(self)
        try:
            if not self.log_dir:
                self.log_dir = tempfile.mkdtemp(prefix='givc-test-dbusmock-')
                self._own_log_dir = True
            env = dict(os.environ)
            env['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
            for name, (template, _path, _iface) in self._SERVICES.items():
                log = open(os.path.join(self.log_dir, f'dbusmock-{name}.log'), 'ab')
                self._logs.append(log)
                cmd = [DEBIAN_PYTHON, '-m', 'dbusmock', '--template', template, '--system']
                if self.params[name]:
                    cmd += ['--parameters', json.dumps(self.params[name])]
                self.procs[name] = subprocess.Popen(
                    cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=_set_pdeathsig, close_fds=True)
            bus = self.bus()
            for name, proc in self.procs.items():
                def owned(name=name, proc=proc):
                    if proc.poll() is not None:
                        raise HarnessError(f'dbusmock for {name} exited ({proc.returncode}):\n'
                                           + self.log(name))
                    return bus.name_has_owner(name)
                wait_until(owned, timeout, f'{name} on {self.address}')
        except BaseException:
            try:
                self.stop()
            except Exception:  # noqa: BLE001
                pass
            raise
        return self

    def log(self, service):
        return _read(os.path.join(self.log_dir, f'dbusmock-{self._name(service)}.log')) if self.log_dir else ''

    def bus(self):
        """A dbus-python connection to the address (cached)."""
        if self._bus is None:
            import dbus
            self._bus = dbus.bus.BusConnection(self.address)
        return self._bus

    def _name(self, service):
        """Accept 'org.freedesktop.locale1' or just 'locale1'."""
        if service not in self._SERVICES and 'org.freedesktop.' + service in self._SERVICES:
            return 'org.freedesktop.' + service
        return service

    def _obj(self, service):
        service = self._name(service)
        _template, path, _iface = self._SERVICES[service]
        return self.bus().get_object(service, path, introspect=False)

    def get(self, service, prop):
        """A property of service's main object, as plain Python."""
        _template, _path, iface = self._SERVICES[self._name(service)]
        return _to_python(self._obj(service).Get(iface, prop,
                                                 dbus_interface='org.freedesktop.DBus.Properties'))

    def locale(self):
        """The Locale property of locale1, e.g. ['LANG=C']."""
        return self.get(self.LOCALE, 'Locale')

    def timezone(self):
        """The Timezone property of timedate1."""
        return self.get(self.TIMEDATE, 'Timezone')

    def calls(self, service):
        """dbusmock call log of service: list of (timestamp, method, [args])."""
        raw = self._obj(service).GetCalls(dbus_interface='org.freedesktop.DBus.Mock')
        return [(int(ts), str(method), _to_python(list(args))) for ts, method, args in raw]

    def clear_calls(self, service):
        self._obj(service).ClearCalls(dbus_interface='org.freedesktop.DBus.Mock')

    def stop(self, timeout=10):
        if self._stopped:
            return
        self._stopped = True
        if self._bus is not None:
            try:
                self._bus.close()
            except Exception:  # noqa: BLE001
                pass
            self._bus = None
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for log in self._logs:
            log.close()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        _unregister(self)


# ---------------------------------------------------------------------------

class _DbusDaemon:
    def __init__(self, address_dir, name):
        self.path = os.path.join(address_dir, name)
        self.address = f'unix:path={self.path}'
        self.proc = None
        self._stderr = None
        self._stopped = False

    def __repr__(self):
        return f'<dbus-daemon {self.address}>'

    def start(self, timeout):
        if os.path.lexists(self.path):
            raise HarnessError(f'{self.path} already exists')
        _register(self)
        try:
            # stderr kept aside: as root it always warns it cannot raise its fd limit
            self._stderr = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                ['dbus-daemon', '--session', '--nofork', '--print-address',
                 f'--address={self.address}'],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
                preexec_fn=_set_pdeathsig, close_fds=True)
            fd = self.proc.stdout.fileno()
            buf = b''
            deadline = time.monotonic() + timeout
            while b'\n' not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError(f'dbus-daemon on {self.path} did not print its address in {timeout}s')
                ready, _, _ = select.select([fd], [], [], left)
                if ready:
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        raise HarnessError(f'dbus-daemon on {self.path} exited ({self.proc.wait()}): '
                                           + self.log())
                    buf += chunk
        except BaseException:
            self.stop()
            raise
        return self

    def log(self):
        """What the daemon wrote to stderr so far."""
        if self._stderr is None or self._stderr.closed:
            return ''
        self._stderr.seek(0)
        return self._stderr.read().decode(errors='replace')

    def stop(self, timeout=10):
        if self._stopped:
            return
        self._stopped = True
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        _unregister(self)


def dbus_daemon(address_dir, name='bus', timeout=10):
    """Start a private dbus-daemon listening on unix:path=ADDRESS_DIR/NAME.

    Returns (address, stop); stop() is idempotent and also runs at exit.
    """
    d = _DbusDaemon(address_dir, name).start(timeout)
    return d.address, d.stop


if __name__ == '__main__':
    if len(sys.argv) == 6 and sys.argv[1] == '--guard':
        sys.exit(_guard_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    print(__doc__)
    sys.exit(2)
