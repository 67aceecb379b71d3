#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`givc cli` against the multi-VM test bed (testbed.py).

Every command, with its table and its JSON (parsed, against upstream's
field names and values), with effects checked in the VMs' own managers;
every error path with its exit status (1: the request failed, 2: a bad
command line) and its one line on stderr; the environment; help; and the
bash completion. One test bed per class.
"""

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import givctest
import systemd_harness
import testbed
from systemd_harness import wait_until

APP_VM = 'chromium-vm'
SYS_VM = 'gui-vm'
COMPLETION = os.path.join(givctest.SOURCE_ROOT, 'applets', 'completion', 'givc.bash')

# upstream's QueryResult (spec §3.2), key for key, in serde's order
KEYS = ['name', 'description', 'status', 'trust_level', 'vm_type', 'service_type', 'vm_name', 'agent_name']
EVENTS = ('UnitRegistered', 'UnitStatusChanged', 'UnitShutdown')
COMMANDS = ('start', 'stop', 'pause', 'resume', 'query-list', 'query', 'watch', 'set-locale', 'set-timezone',
            'poweroff', 'reboot', 'suspend', 'wakeup', 'test', 'health')
# what the CLI reads from the environment (and nothing of the caller's may leak in)
CLI_ENV = ('ADDR', 'PORT', 'NAME', 'CA_CERT', 'HOST_CERT', 'HOST_KEY', 'TIMEOUT', 'NO_TLS')


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in CLI_ENV and not (k.startswith('GIVC_') and k[5:] in CLI_ENV)}
    env.update(extra)
    return env


def parse_json_line(text):
    """The one line of text as JSON, objects as lists of (key, value) pairs (to see the order)."""
    lines = text.splitlines()
    assert len(lines) == 1, f'expected one line of JSON, got {text!r}'
    return json.loads(lines[0], object_pairs_hook=list)


def as_dict(pairs):
    return dict(pairs)


class Watch:
    """`givc cli watch …` in the background; its stdout lines in a queue."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip('\n'))
        self.lines.put(None)

    def next_line(self, timeout=30):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f'watch printed nothing within {timeout}s; so far {self.seen}') from None
        if line is None:
            raise AssertionError(f'watch exited ({self.proc.wait()}): {self.proc.stderr.read()!r}; '
                                 f'printed {self.seen}')
        self.seen.append(line)
        return line

    def wait(self, timeout=30):
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return code, self.proc.stderr.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


class BedCase(givctest.TestCase):
    """A test bed with a running admin, shared by the tests of the class."""

    @classmethod
    def setUpClass(cls):
        if not givctest.GIVC or not os.path.exists(givctest.GIVC):
            raise AssertionError('$GIVC must point at the givc binary')
        cls.workdir = tempfile.mkdtemp(prefix='givc-cli-')
        cls.bed = testbed.TestBed(givctest.GIVC, cls.workdir, port=None, admin_port=None)
        cls.bed.start()
        try:
            cls.bed.start_admin(extra_args=cls.admin_extra_args())
            cls.wait_registered(cls.bed.unit(cls.bed.host_name))
        except BaseException:
            cls.bed.stop()
            shutil.rmtree(cls.workdir, ignore_errors=True)
            raise

    @classmethod
    def admin_extra_args(cls):
        return ()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.bed.stop()
            left = [cg for cg in cls.bed.own_cgroups() if os.path.exists(cg)]
            assert not left, f'cgroups left behind: {left}'
            alive = [pid for pid in cls.bed.recorded_pids() if systemd_harness._pid_alive(pid)]
            assert not alive, f'processes left behind: {alive}'
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def wait_registered(cls, name, timeout=60):
        r = cls.bed.cli('test', 'ensure', '--retry', str(timeout), name, timeout=timeout + 30)
        if r.returncode != 0:
            raise AssertionError(f'{name} did not register: {r.stderr}\n--- admin ---\n{cls.bed.admin_log()}')

    # -- running the CLI ------------------------------------------------------------

    def cli(self, *args, **kw):
        return self.bed.cli(*args, **kw)

    def ok(self, *args, **kw):
        r = self.cli(*args, **kw)
        self.assertEqual(r.returncode, 0, f'givc cli {" ".join(args)}: {r.stderr}')
        self.assertEqual(r.stderr, '')
        return r

    def assertFails(self, r, code, *texts):
        """Exit status code, nothing on stdout, one line on stderr containing every text."""
        self.assertEqual(r.returncode, code, f'stdout {r.stdout!r}, stderr {r.stderr!r}')
        self.assertEqual(r.stdout, '')
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        for text in texts:
            self.assertIn(text, lines[0])
        return lines[0]

    def query_list(self):
        """query-list --as-json, checked against upstream's format; {name: entry}."""
        r = self.ok('query-list', '--as-json')
        items = parse_json_line(r.stdout)
        self.assertIsInstance(items, list)
        for pairs in items:
            self.assertEqual([k for k, _ in pairs], KEYS)
        return {e['name']: e for e in map(as_dict, items)}

    def status_of(self, name):
        e = self.query_list().get(name)
        return e and e['status']

    def wait_status(self, name, status, timeout=30):
        seen = []

        def check():
            seen[:] = [self.status_of(name)]
            return seen[0] == status
        try:
            wait_until(check, timeout, f'{name} {status}')
        except systemd_harness.HarnessError:
            self.fail(f'{name} is {seen[0]!r}, not {status!r} within {timeout}s')

    def ensure_booted(self, vm):
        if not self.bed.vm_running(vm):
            self.bed.boot(vm)
        self.wait_status(self.bed.unit(vm), 'Running', 60)

    def app_units(self, app):
        return sorted(n for n in self.query_list() if n.startswith(app + '@'))

    def stop_all(self, app):
        if self.app_units(app):
            self.ok('stop', app)
        wait_until(lambda: not self.app_units(app), 30, f'every {app} to leave the registry')

    def unit_prop(self, vm, unit, prop):
        return self.bed.vm_manager(vm).show(unit, prop).get(prop)

    def wait_prop(self, vm, unit, prop, *values, timeout=15):
        """The effect in the VM's own manager: unit's prop becomes one of values."""
        seen = []

        def check():
            seen[:] = [self.unit_prop(vm, unit, prop)]
            return seen[0] in values
        try:
            wait_until(check, timeout, f'{unit} {prop}')
        except systemd_harness.HarnessError:
            self.fail(f'{vm}: {unit} {prop} is {seen[0]!r}, not one of {values} within {timeout}s')

    def watch(self, *args):
        w = Watch([*self.bed.cli_argv(), 'watch', *args])
        self.addCleanup(w.stop)
        return w


# ---------------------------------------------------------------------------------------

class Commands(BedCase):
    """Every command that talks to the admin, with the bed's host and VMs."""

    def test_start_boots_vm_then_stop_pause_resume(self):
        bed = self.bed
        agent = bed.unit(APP_VM)
        if bed.vm_running(APP_VM):
            self.stop_all('foot')
            bed.shutdown_vm(APP_VM)
            # Until its monitor finds the agent gone, the admin would still call it (and fail).
            wait_until(lambda: self.status_of(agent) in (None, 'PoweredOff'), 30,
                       f'the admin to see {agent} gone')
        self.assertFalse(bed.vm_running(APP_VM))

        # The VM is not running: the admin boots it through the host.
        self.ok('start', 'foot', '--vm', APP_VM)
        self.assertTrue(bed.vm_running(APP_VM))
        self.assertEqual(bed.vm_unit_state(APP_VM), 'active')
        [unit] = self.app_units('foot')
        self.assertEqual(self.unit_prop(APP_VM, unit, 'ActiveState'), 'active')
        self.assertEqual(self.status_of(unit), 'Running')

        # pause / resume: the unit's cgroup is frozen and thawed in the VM's manager
        self.ok('pause', unit)
        self.wait_prop(APP_VM, unit, 'FreezerState', 'frozen')
        self.wait_status(unit, 'Paused')
        self.ok('resume', unit)
        self.wait_prop(APP_VM, unit, 'FreezerState', 'running')
        self.wait_status(unit, 'Running')

        # stop: the unit is gone from the VM, and the entry from the registry
        self.ok('stop', unit)
        self.wait_prop(APP_VM, unit, 'ActiveState', 'inactive', 'failed')
        wait_until(lambda: unit not in self.query_list(), 30, f'{unit} to leave the registry')

    def test_start_in_running_vm_with_arguments(self):
        self.ensure_booted(APP_VM)
        before = set(self.app_units('foot'))
        # Options may follow the application (as upstream's clap allows); after --, its arguments.
        self.ok('start', 'foot', '--vm', APP_VM, '--', '--maximized', 'https://ghaf.dev')
        [unit] = set(self.app_units('foot')) - before
        m = self.bed.vm_manager(APP_VM)
        self.assertEqual(m.show(unit, 'ActiveState')['ActiveState'], 'active')
        self.assertIn('--maximized https://ghaf.dev', m.show(unit, 'ExecStart')['ExecStart'])
        e = self.query_list()[unit]
        self.assertEqual((e['vm_type'], e['service_type'], e['vm_name'], e['agent_name']),
                         ('AppVM', 'App', f'microvm@{APP_VM}.service', f'givc-{APP_VM}.service'))

        # An argument the application does not allow: the admin's (agent's) refusal.
        r = self.cli('start', 'foot', '--vm', APP_VM, '--', 'plainword')
        self.assertFails(r, 1, "invalid application argument 'plainword'", 'INVALID_ARGUMENT')
        self.assertEqual(set(self.app_units('foot')), before | {unit})
        self.stop_all('foot')
        self.wait_prop(APP_VM, unit, 'ActiveState', 'inactive', 'failed')

    def test_bare_app_name_means_every_instance(self):
        self.ensure_booted(APP_VM)
        self.stop_all('foot')
        for _ in range(2):
            self.ok('start', 'foot', '--vm', APP_VM)
        units = self.app_units('foot')
        self.assertEqual(len(units), 2)
        self.ok('pause', 'foot')
        for unit in units:
            self.wait_prop(APP_VM, unit, 'FreezerState', 'frozen')
            self.wait_status(unit, 'Paused')
        rows = {line.split()[0]: line.split()[1:] for line in self.ok('query-list').stdout.splitlines()[1:]}
        for unit in units:
            self.assertEqual(rows[unit], ['Paused', APP_VM, 'AppVM/App', f'givc-{APP_VM}.service'])
        self.ok('resume', 'foot')
        for unit in units:
            self.wait_prop(APP_VM, unit, 'FreezerState', 'running')
        self.ok('stop', 'foot')
        for unit in units:
            self.wait_prop(APP_VM, unit, 'ActiveState', 'inactive', 'failed')
        wait_until(lambda: not self.app_units('foot'), 30, 'foot to leave the registry')

    def test_unknown_application(self):
        self.ensure_booted(APP_VM)
        self.assertFails(self.cli('start', 'nosuchapp', '--vm', APP_VM), 1, 'NOT_FOUND')
        self.assertFails(self.cli('stop', 'nosuchapp@0.service'), 1, "'nosuchapp@0.service'", 'NOT_FOUND')
        self.assertFails(self.cli('pause', 'nosuchapp'), 1, "'nosuchapp'", 'NOT_FOUND')
        self.assertFails(self.cli('resume', 'nosuchapp'), 1, 'NOT_FOUND')
        # No VM of that name: nothing to boot.
        self.assertFails(self.cli('start', 'foot', '--vm', 'no-such-vm'), 1, 'NOT_FOUND')

    def test_query_list_table_and_json(self):
        self.ensure_booted(APP_VM)
        entries = self.query_list()
        host = entries['givc-ghaf-host.service']
        self.assertEqual(host, {'name': 'givc-ghaf-host.service', 'description': host['description'],
                                'status': 'Running', 'trust_level': 'Warning', 'vm_type': 'Host',
                                'service_type': 'Mgr', 'vm_name': None, 'agent_name': 'givc-ghaf-host.service'})
        vm = entries[f'microvm@{APP_VM}.service']
        self.assertEqual((vm['vm_type'], vm['service_type'], vm['vm_name'], vm['agent_name']),
                         ('Host', 'Svc', None, 'givc-ghaf-host.service'))
        agent = entries[f'givc-{APP_VM}.service']
        self.assertEqual((agent['status'], agent['vm_type'], agent['service_type'], agent['agent_name']),
                         ('Running', 'AppVM', 'Mgr', f'givc-{APP_VM}.service'))
        for e in entries.values():
            self.assertIn(e['status'], ('Running', 'PoweredOff', 'Paused'))
            self.assertEqual(e['trust_level'], 'Warning')
            self.assertIn(e['vm_type'], ('Host', 'AdmVM', 'SysVM', 'AppVM'))
            self.assertIn(e['service_type'], ('Mgr', 'Svc', 'App', 'VM'))
            self.assertIsInstance(e['description'], str)
            if e['vm_type'] == 'Host':
                self.assertIsNone(e['vm_name'])

        r = self.ok('query-list')
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ['NAME', 'STATUS', 'VM', 'TYPE', 'AGENT'])
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(set(rows), set(self.query_list()))
        self.assertEqual(rows['givc-ghaf-host.service'][1:],
                         ['Running', '-', 'Host/Mgr', 'givc-ghaf-host.service'])
        self.assertEqual(rows[f'givc-{APP_VM}.service'][1:],
                         ['Running', APP_VM, 'AppVM/Mgr', f'givc-{APP_VM}.service'])

    def test_query_filters(self):
        self.ensure_booted(APP_VM)
        names = set(self.query_list())

        def query(*args):
            items = parse_json_line(self.ok('query', '--as-json', *args).stdout)
            for pairs in items:
                self.assertEqual([k for k, _ in pairs], KEYS)
            return sorted(as_dict(e)['name'] for e in items)

        self.assertEqual(query(), sorted(names))
        self.assertEqual(query('--by-type', '0'), ['givc-ghaf-host.service'])
        self.assertEqual(query('--by-type', '12'), [f'givc-{APP_VM}.service'])
        self.assertEqual(query('--by-type', '1'), sorted(n for n in names if n.startswith('microvm@')))
        self.assertEqual(query('--by-name', 'givc-ghaf-host.service'), ['givc-ghaf-host.service'])
        self.assertEqual(query('--by-name', 'givc-ghaf-host.service', '--by-name', f'givc-{APP_VM}.service',
                               '--by-name', 'not-registered.service'),
                         sorted(['givc-ghaf-host.service', f'givc-{APP_VM}.service']))
        self.assertEqual(query('--by-type', '0', '--by-name', 'givc-ghaf-host.service',
                               '--by-name', f'givc-{APP_VM}.service'), ['givc-ghaf-host.service'])
        self.assertEqual(query('--by-type', '14', '--by-name', 'givc-ghaf-host.service'), [])
        self.assertEqual(query('--by-type', '3'), [])

        r = self.ok('query', '--by-type', '12')
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ['NAME', 'STATUS', 'VM', 'TYPE', 'AGENT'])
        self.assertEqual([line.split()[0] for line in lines[1:]], [f'givc-{APP_VM}.service'])

        for bad in ('15', 'x', '-1', ''):
            self.assertFails(self.cli('query', '--by-type', bad), 2, "see 'givc cli query --help'")
        self.assertFails(self.cli('query', '--by-name'), 2, '--by-name', "see 'givc cli query --help'")

    def test_watch_json_events_in_order(self):
        self.ensure_booted(APP_VM)
        w = self.watch('--initial', '--as-json')
        initial = parse_json_line(w.next_line())
        self.assertIsInstance(initial, list)
        self.assertIn('givc-ghaf-host.service', [as_dict(e)['name'] for e in initial])
        for pairs in initial:
            self.assertEqual([k for k, _ in pairs], KEYS)

        before = set(self.app_units('foot'))
        self.ok('start', 'foot', '--vm', APP_VM)
        [unit] = set(self.app_units('foot')) - before
        self.ok('pause', unit)
        self.ok('stop', unit)

        # One event a line; those of our unit: registered, paused, gone (others may come between).
        events = []
        deadline = time.monotonic() + 30
        while not events or events[-1][0] != 'UnitShutdown':
            self.assertLess(time.monotonic(), deadline, f'no UnitShutdown of {unit}: {w.seen}')
            [(tag, pairs)] = parse_json_line(w.next_line())
            self.assertIn(tag, EVENTS)
            self.assertEqual([k for k, _ in pairs], KEYS)
            e = as_dict(pairs)
            if e['name'] == unit:
                self.assertEqual((e['vm_type'], e['service_type'], e['vm_name'], e['agent_name']),
                                 ('AppVM', 'App', f'microvm@{APP_VM}.service', f'givc-{APP_VM}.service'))
                events.append((tag, e['status']))
        self.assertEqual(events[0], ('UnitRegistered', 'Running'), events)
        self.assertIn(('UnitStatusChanged', 'Paused'), events)
        self.assertEqual({tag for tag, _ in events[1:-1]}, {'UnitStatusChanged'}, events)

    def test_watch_limit(self):
        self.ensure_booted(APP_VM)
        # --initial tells when the watch is subscribed; then exactly 2 events and exit 0.
        w = self.watch('--initial', '--limit', '2', '--as-json')
        parse_json_line(w.next_line())
        before = set(self.app_units('foot'))
        self.ok('start', 'foot', '--vm', APP_VM)
        [unit] = set(self.app_units('foot')) - before
        self.ok('pause', unit)
        code, err = w.wait()
        self.assertEqual((code, err), (0, ''))
        self.assertEqual(len(w.seen), 3, w.seen)
        for line in w.seen[1:]:
            [(tag, pairs)] = parse_json_line(line)
            self.assertIn(tag, EVENTS)

        # Table mode, no --initial: EVENT column, one row per event; exits after 1.
        w = self.watch('--limit', '1')
        deadline = time.monotonic() + 30
        paused = True
        while w.proc.poll() is None:
            self.assertLess(time.monotonic(), deadline, 'watch --limit 1 did not exit')
            self.ok('resume' if paused else 'pause', unit)
            paused = not paused
            try:
                w.proc.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
        code, err = w.wait()
        self.assertEqual((code, err), (0, ''))
        self.assertEqual(len(w.seen), 2, w.seen)
        self.assertEqual(w.seen[0].split(), ['EVENT', 'NAME', 'STATUS', 'VM', 'TYPE', 'AGENT'])
        self.assertIn(w.seen[1].split()[0], ('Added', 'Updated', 'Removed'))

        # --limit 0: nothing to wait for.
        r = self.ok('watch', '--limit', '0')
        self.assertEqual(r.stdout, '')
        self.ok('stop', unit)

    def test_watch_table_initial(self):
        w = self.watch('--initial')
        header = w.next_line()
        self.assertEqual(header.split(), ['NAME', 'STATUS', 'VM', 'TYPE', 'AGENT'])
        rows = set()
        while 'givc-ghaf-host.service' not in rows:
            rows.add(w.next_line().split()[0])

    def test_set_locale_and_timezone(self):
        for locale in ('en_US.UTF-8', 'C', 'POSIX', 'C.UTF-8', 'fi_FI@euro.UTF-8', 'fi_FI@euro'):
            self.ok('set-locale', locale)
        for tz in ('UTC', 'Asia/Abu_Dhabi', 'Etc/GMT+8', 'GMT-0', 'America/Argentina/Rio_Gallegos'):
            self.ok('set-timezone', tz)
        # What the admin keeps (and gives agents that register later).
        self.ok('set-locale', 'ar_AE.UTF-8')
        self.ok('set-timezone', 'Europe/Helsinki')
        state = ''.join(testbed._read(os.path.join(self.bed.state_dir, f))
                        for f in os.listdir(self.bed.state_dir))
        self.assertIn('ar_AE.UTF-8', state)
        self.assertIn('Europe/Helsinki', state)

        # Invalid values are refused before any request.
        for locale in ('`rm -Rf --no-preserve-root /`', '; whoami', 'iwaenfli'):
            self.assertFails(self.cli('set-locale', locale), 2, f"'{locale}' is not a valid locale",
                             "see 'givc cli set-locale --help'")
        for tz in ('/foobar', '`whoami`', 'Almost//Valid'):
            self.assertFails(self.cli('set-timezone', tz), 2, f"'{tz}' is not a valid timezone",
                             "see 'givc cli set-timezone --help'")

    def test_power(self):
        bed = self.bed
        bed.reset_targets()
        try:
            for command, target in (('poweroff', 'poweroff'), ('reboot', 'reboot'), ('suspend', 'suspend')):
                self.ok(command)
                self.assertEqual(bed.targets_reached(), [target])
                bed.reset_targets()
            r = self.cli('wakeup')
            self.assertFails(r, 1, 'UNIMPLEMENTED')
            self.assertEqual(bed.targets_reached(), [])
        finally:
            bed.reset_targets()

    def test_health(self):
        r = self.ok('health')
        self.assertEqual(r.stdout, 'SERVING\n')
        r = self.ok('health', 'admin.AdminService')
        self.assertEqual(r.stdout, 'SERVING\n')
        self.assertFails(self.cli('health', 'no.Such'), 1, 'NOT_FOUND')

    def test_test_ensure(self):
        self.ok('test', 'ensure', '--retry', '1', 'givc-ghaf-host.service')
        self.ok('test', 'ensure', 'givc-ghaf-host.service')
        self.ok('test', 'ensure', '--type', '0', 'givc-ghaf-host.service')
        r = self.cli('test', 'ensure', '--retry', '2', 'not-there.service')
        self.assertFails(r, 1, "test failed 'not-there.service' not registered")
        self.assertFails(self.cli('test', 'ensure', '--type', '12', 'givc-ghaf-host.service'), 1,
                         "test failed 'givc-ghaf-host.service' registered but of wrong type")
        self.assertFails(self.cli('test', 'ensure', '--vm', APP_VM, 'givc-ghaf-host.service'), 1,
                         "test failed 'givc-ghaf-host.service' registered but on wrong VM")
        self.ensure_booted(APP_VM)
        agent = f'givc-{APP_VM}.service'
        self.ok('test', 'ensure', '--type', '12', '--vm', APP_VM, agent)
        self.ok('test', 'ensure', '--vm', f'microvm@{APP_VM}.service', agent)
        self.assertFails(self.cli('test', 'ensure', '--vm', SYS_VM, agent), 1, 'on wrong VM')
        for bad in (('--retry', '0'), ('--retry', 'x'), ('--type', '15')):
            self.assertFails(self.cli('test', 'ensure', *bad, agent), 2, "see 'givc cli test --help'")

    def test_test_ensure_waits_for_late_registration(self):
        bed = self.bed
        unit = bed.unit(SYS_VM)
        # Only this test boots it: not registered yet.
        self.assertNotIn(unit, self.query_list())
        waiter = subprocess.Popen([*bed.cli_argv(), 'test', 'ensure', '--retry', '60', unit],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # It keeps asking while the VM is down...
            with self.assertRaises(subprocess.TimeoutExpired):
                waiter.wait(2)
            booted = []
            boot = threading.Thread(target=lambda: booted.append(bed.boot(SYS_VM) or True), daemon=True)
            boot.start()
            out, err = waiter.communicate(timeout=120)
            boot.join(150)
            self.assertEqual(booted, [True])
            self.assertEqual((waiter.returncode, out, err), (0, '', ''))
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.communicate()
        e = self.query_list()[unit]
        self.assertEqual((e['vm_type'], e['service_type']), ('SysVM', 'Mgr'))


# ---------------------------------------------------------------------------------------

class Connection(BedCase):
    """Reaching the admin: environment, unix socket, and everything that goes wrong."""

    @classmethod
    def admin_extra_args(cls):
        cls.unix_path = os.path.join(cls.workdir, 'admin.sock')
        return ('--listen-unix', cls.unix_path)

    def setUp(self):
        super().setUp()
        if not self.bed.admin_running():
            self.bed.start_admin(extra_args=self.admin_extra_args())
        self.paths = self.bed.paths(self.bed.host_name)

    def run_cli(self, *args, env=None, timeout=60):
        return subprocess.run([self.bed.givc, 'cli', *args], capture_output=True, text=True,
                              env=clean_env() if env is None else env, timeout=timeout)

    def options(self, **kw):
        o = {'addr': self.bed.addr('admin-vm'), 'port': str(self.bed.admin_port), 'name': 'admin-vm',
             'cacert': self.paths['ca'], 'cert': self.paths['cert'], 'key': self.paths['key']}
        o.update(kw)
        out = []
        for k, v in o.items():
            if v is not None:
                out += [f'--{k}', v]
        return out

    def foreign(self):
        certs = givctest.Certs(os.path.join(self.tmp, 'foreign'))
        return certs.issue('ghaf-host', ips=['127.0.0.2'])

    def test_environment(self):
        p = self.paths
        plain = {'ADDR': self.bed.addr('admin-vm'), 'PORT': str(self.bed.admin_port), 'NAME': 'admin-vm',
                 'CA_CERT': p['ca'], 'HOST_CERT': p['cert'], 'HOST_KEY': p['key']}
        r = self.run_cli('health', env=clean_env(**plain))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, 'SERVING\n', ''))

        # GIVC_-prefixed variables win over the plain ones.
        bad = {'ADDR': '127.0.0.99', 'PORT': '1', 'NAME': 'gui-vm', 'CA_CERT': '/nonexistent/ca.pem',
               'HOST_CERT': '/nonexistent/cert.pem', 'HOST_KEY': '/nonexistent/key.pem'}
        prefixed = {'GIVC_' + k: v for k, v in plain.items()}
        r = self.run_cli('health', env=clean_env(**bad, **prefixed))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, 'SERVING\n', ''))
        # Each one on its own.
        for key in plain:
            r = self.run_cli('--timeout', '3s', 'health', env=clean_env(**dict(plain, **{key: bad[key]})))
            self.assertEqual(r.returncode, 1, f'{key}={bad[key]}: {r.stderr}')
            r = self.run_cli('health', env=clean_env(**dict(plain, **{key: bad[key], 'GIVC_' + key: plain[key]})))
            self.assertEqual(r.returncode, 0, f'GIVC_{key} should win: {r.stderr}')

        # Options win over both.
        r = self.run_cli(*self.options(), 'health',
                         env=clean_env(**bad, **{'GIVC_' + k: v for k, v in bad.items()}))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, 'SERVING\n', ''))

        # The wrong one is named.
        r = self.run_cli('health', env=clean_env(**dict(plain, HOST_KEY='/nonexistent/key.pem')))
        self.assertFails(r, 1, '/nonexistent/key.pem')

    def test_unix_socket(self):
        r = self.run_cli(*self.options(addr='unix:' + self.unix_path, port=None), 'query-list', '--as-json')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('givc-ghaf-host.service', [e['name'] for e in json.loads(r.stdout)])
        r = self.run_cli('health', env=clean_env(ADDR='unix:' + self.unix_path, NAME='admin-vm',
                                                 CA_CERT=self.paths['ca'], HOST_CERT=self.paths['cert'],
                                                 HOST_KEY=self.paths['key']))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, 'SERVING\n', ''))
        # Nothing there.
        r = self.run_cli(*self.options(addr='unix:' + os.path.join(self.tmp, 'none.sock'), port=None),
                         'health')
        self.assertFails(r, 1, 'none.sock')

    def test_admin_down(self):
        self.bed.stop_admin()
        r = self.cli('query-list')
        self.assertFails(r, 1, 'cannot connect', self.bed.address('admin-vm'), 'UNAVAILABLE')
        self.assertFails(self.cli('start', 'foot', '--vm', APP_VM), 1, 'cannot connect')
        self.assertFails(self.cli('watch'), 1, 'cannot connect')
        self.assertFails(self.cli('test', 'ensure', '--retry', '3', 'givc-ghaf-host.service'), 1,
                         'cannot connect')

    def test_watch_ends_when_admin_stops(self):
        # Several at once: while the admin shuts down, each one's reconnection
        # finds it in another state (listening, closing, gone).
        for _ in range(2):
            watches = [self.watch('--initial', *(('--as-json',) if i % 2 else ())) for i in range(4)]
            for w in watches:
                w.next_line()
            self.bed.stop_admin()
            for w in watches:
                code, err = w.wait(60)
                self.assertEqual(code, 1, f'{w.proc.args}: {err!r}')
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn('Failed to watch the registry: the admin went away', err)
            self.bed.start_admin(extra_args=self.admin_extra_args())

    def test_wrong_ca(self):
        other = self.foreign()
        # Everything from another CA: the admin's certificate cannot be verified.
        r = self.run_cli(*self.options(cacert=other['ca'], cert=other['cert'], key=other['key']), 'health')
        line = self.assertFails(r, 1, 'another CA issued it', other['ca'])
        self.assertIn('UNAVAILABLE', line)
        # Our own certificate not issued by our --cacert: refused before connecting.
        r = self.run_cli(*self.options(cacert=other['ca']), 'health')
        self.assertFails(r, 1, f"'{self.paths['cert']}' was not issued by the CA in '{other['ca']}'")
        r = self.run_cli(*self.options(cert=other['cert'], key=other['key']), 'health')
        self.assertFails(r, 1, f"'{other['cert']}' was not issued by the CA in '{self.paths['ca']}'")
        # Trusting both CAs, with the foreign certificate: the admin refuses it.
        both = os.path.join(self.tmp, 'both-ca.pem')
        with open(both, 'wb') as f:
            f.write(givctest.read(other['ca']) + givctest.read(self.paths['ca']))
        r = self.run_cli(*self.options(cacert=both, cert=other['cert'], key=other['key']), 'health')
        line = self.assertFails(r, 1, other['cert'], 'CA')
        self.assertNotIn('--notls', line)

    def test_wrong_name(self):
        r = self.run_cli(*self.options(name='gui-vm'), 'query-list')
        self.assertFails(r, 1, "'gui-vm'", "'admin-vm'", '--name')
        # Without --name, the address: the admin's certificate has its IP.
        r = self.run_cli(*self.options(name=None), 'health')
        self.assertEqual((r.returncode, r.stdout), (0, 'SERVING\n'), r.stderr)

    def test_notls_against_tls(self):
        r = self.run_cli(*self.options(), '--notls', 'health')
        self.assertFails(r, 1, 'leave out --notls')
        r = self.run_cli(*self.options(cacert=None, cert=None, key=None), '--notls', 'query-list')
        self.assertFails(r, 1, 'leave out --notls')
        r = self.run_cli(*self.options(), 'health', env=clean_env(GIVC_NO_TLS='true'))
        self.assertFails(r, 1, 'leave out --notls')

    def test_missing_files(self):
        for key in ('cacert', 'cert', 'key'):
            missing = os.path.join(self.tmp, f'no-{key}.pem')
            r = self.run_cli(*self.options(**{key: missing}), 'health')
            self.assertFails(r, 1, missing)
        # Not given at all: exit 2, which option is missing.
        for key, text in (('cacert', '--cacert'), ('cert', '--cert'), ('key', '--key')):
            r = self.run_cli(*self.options(**{key: None}), 'health')
            self.assertFails(r, 2, text, '--notls')

    def test_timeout_silent_server(self):
        # A listener that accepts and never says a word: TLS and plaintext.
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            s.listen(16)
            port = str(s.getsockname()[1])
            for extra in ((), ('--notls',)):
                start = time.monotonic()
                r = self.run_cli(*self.options(addr='127.0.0.1', port=port), '--timeout', '2s', *extra,
                                 'query-list')
                elapsed = time.monotonic() - start
                self.assertFails(r, 1, 'DEADLINE_EXCEEDED', 'within 2000 ms')
                self.assertLess(elapsed, 12)
            # The default: 5 s.
            start = time.monotonic()
            r = self.run_cli(*self.options(addr='127.0.0.1', port=port), 'health')
            self.assertFails(r, 1, 'DEADLINE_EXCEEDED', '5000 ms')
            self.assertLess(time.monotonic() - start, 15)
            # GIVC_TIMEOUT
            r = self.run_cli(*self.options(addr='127.0.0.1', port=port), 'watch',
                             env=clean_env(GIVC_TIMEOUT='1s'))
            self.assertFails(r, 1, 'DEADLINE_EXCEEDED', '1000 ms')

    def test_server_hangs_up(self):
        # A listener that closes each connection at once (an admin shutting
        # down): the CLI's own TLS probe then writes to a closed connection,
        # which must give a message, not kill it with SIGPIPE.
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            s.listen(16)
            stop = threading.Event()

            def hang_up():
                s.settimeout(0.1)
                while not stop.is_set():
                    try:
                        c, _ = s.accept()
                    except (socket.timeout, OSError):
                        continue
                    c.close()
            t = threading.Thread(target=hang_up, daemon=True)
            t.start()
            try:
                port = str(s.getsockname()[1])
                # Without TLS, such a server looks like a TLS one (which hangs up on plaintext).
                for extra, pattern in (((), 'closed the connection during the TLS handshake'),
                                       (('--notls',), 'leave out --notls|closed the connection')):
                    for _ in range(3):
                        r = self.run_cli(*self.options(addr='127.0.0.1', port=port), '--timeout', '5s', *extra,
                                         'query-list')
                        line = self.assertFails(r, 1, '127.0.0.1:' + port, 'UNAVAILABLE')
                        self.assertRegex(line, pattern)
            finally:
                stop.set()
                t.join(10)

    def test_timeout_stopped_admin(self):
        pid = self.bed.admin.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            r = self.cli('--timeout', '2s', 'query-list')
            self.assertLess(time.monotonic() - start, 12)
            self.assertFails(r, 1, 'DEADLINE_EXCEEDED')
        finally:
            os.kill(pid, signal.SIGCONT)
        self.ok('health')

    def test_bad_command_lines(self):
        see = "see 'givc cli"
        for args, text in (
                (('nope',), "Unknown command 'nope'"),
                (('--bogus', 'health'), "unknown option '--bogus'"),
                (('-x', 'health'), "unknown option '-x'"),
                ((), 'No command given'),
                (('start',), 'missing'),
                (('start', 'a', 'b'), "unexpected argument 'b'"),
                (('start', '--vm'), "'--vm' needs a value"),
                (('start', 'foot', '--bogus'), "unknown option '--bogus'"),
                (('stop',), 'missing'),
                (('pause', 'a', 'b'), "unexpected argument 'b'"),
                (('resume',), 'missing'),
                (('query-list', 'x'), "unexpected argument 'x'"),
                (('query-list', '--by-type', '1'), "unknown option '--by-type'"),
                (('watch', '--limit', 'x'), "'x'"),
                (('watch', '--limit'), "'--limit' needs a value"),
                (('set-locale',), 'missing'),
                (('set-timezone', 'UTC', 'x'), "unexpected argument 'x'"),
                (('poweroff', 'now'), "unexpected argument 'now'"),
                (('wakeup', '--force'), "unknown option '--force'"),
                (('test',), "'ensure'"),
                (('test', 'foo'), "unknown test 'foo'"),
                (('test', 'ensure'), 'missing'),
                (('health', 'a', 'b'), "unexpected argument 'b'"),
                (('help', 'nope'), "Unknown command 'nope'"),
                (('--timeout', 'soon', 'health'), "'soon'")):
            r = self.cli(*args)
            self.assertFails(r, 2, text, see)
        # The admin got none of those: still nothing of 'a' in the registry.
        self.assertNotIn('a', self.query_list())

    def test_no_address(self):
        r = self.run_cli('health')
        self.assertFails(r, 2, 'no admin address', '--addr')
        r = self.run_cli('--port', str(self.bed.admin_port), 'query-list')
        self.assertFails(r, 2, 'no admin address')
        r = self.run_cli('--addr', self.bed.addr('admin-vm'), 'query-list')
        self.assertFails(r, 2, 'no admin port', '--port')
        r = self.run_cli('--addr', self.bed.addr('admin-vm'), '--port', '0', 'query-list')
        self.assertFails(r, 2, "'0'")
        # The command's own mistakes come first: the admin's address is needed only to call it.
        r = self.run_cli('query', '--by-type', '99')
        self.assertFails(r, 2, "--by-type '99' is not a type")
        r = self.run_cli('--addr', self.bed.addr('admin-vm'), '--port', '1', '--cacert', '/nonexistent', 'start')
        self.assertFails(r, 2, 'missing the application')


# ---------------------------------------------------------------------------------------

class Help(givctest.TestCase):
    """Help needs no admin, no address and no certificates."""

    def run_cli(self, *args):
        return subprocess.run([givctest.GIVC, 'cli', *args], capture_output=True, text=True, env=clean_env(),
                              timeout=30)

    def test_general_help(self):
        for args in (('--help',), ('-h',), ('help',), ('help', '--help'), ('--addr', '1.2.3.4', '--help')):
            r = self.run_cli(*args)
            self.assertEqual((r.returncode, r.stderr), (0, ''), args)
            self.assertTrue(r.stdout.startswith('Usage: givc cli'), r.stdout)
            for command in COMMANDS:
                self.assertIn(command, r.stdout)
        r = self.run_cli('--version')
        self.assertEqual((r.returncode, r.stderr), (0, ''))
        self.assertNotEqual(r.stdout.strip(), '')

    def test_command_help(self):
        for command in COMMANDS:
            for argv in ((command, '--help'), (command, '-h'), ('help', command)):
                r = self.run_cli(*argv)
                self.assertEqual((r.returncode, r.stderr), (0, ''), argv)
                self.assertTrue(r.stdout.startswith('Usage:'), (argv, r.stdout))
                self.assertIn(f' {command}', r.stdout.splitlines()[0])
                # Every command teaches by example, with itself.
                self.assertRegex(r.stdout, r'\nExamples?( \(.*\))?:\n', argv)
                self.assertIn(f'givc cli ', r.stdout.split('Example')[1], argv)
            # --help anywhere among the command's own arguments
            r = self.run_cli(*((command, 'ensure') if command == 'test' else (command,)), 'x', '--help')
            self.assertEqual(r.returncode, 0, (command, r.stderr))
            self.assertTrue(r.stdout.startswith('Usage:'))
        r = self.run_cli('test', 'ensure', '--help')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('--retry', r.stdout)


class Completion(givctest.TestCase):
    """applets/completion/givc.bash, as bash runs it for <TAB>."""

    def complete(self, *words, cword=None):
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _givc; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run(['bash', '--norc', '--noprofile', '-c', script, 'bash', COMPLETION, *words],
                           capture_output=True, text=True, env=clean_env(), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(filter(None, r.stdout.splitlines()))

    def test_givc_cli(self):
        g = givctest.GIVC
        self.assertEqual(self.complete(g, 'cli', 'st'), ['start', 'stop'])
        self.assertEqual(self.complete(g, 'cli', 'query', '--by'), ['--by-name', '--by-type'])
        self.assertEqual(self.complete(g, 'cli', '--addr', 'x', 'watch', '--'),
                         ['--as-json', '--initial', '--limit'])
        # Exactly the global options: not those of commands or their arguments in the examples.
        self.assertEqual(self.complete(g, 'cli', '--'),
                         ['--addr', '--cacert', '--cert', '--debug', '--help', '--key', '--name', '--notls',
                          '--port', '--timeout', '--version'])
        self.assertEqual(self.complete(g, 'cli', 'test', 'ensure', '--'), ['--retry', '--type', '--vm'])
        self.assertEqual(self.complete(g, 'cli', 'test', ''), ['ensure'])
        self.assertEqual(self.complete(g, 'cli', 'help', 'set-'), ['set-locale', 'set-timezone'])
        self.assertIn('query-list', self.complete(g, 'cli', ''))

    def test_givc_cli_symlink(self):
        link = os.path.join(self.tmp, 'givc-cli')
        os.symlink(givctest.GIVC, link)
        self.assertEqual(self.complete(link, '--ca'), ['--cacert'])
        self.assertEqual(self.complete(link, 're'), ['reboot', 'resume'])
        self.assertEqual(self.complete(link, '--notls', 'start', '--'), ['--vm'])

    def test_givc_applets(self):
        offered = self.complete(givctest.GIVC, '')
        for applet in ('agent', 'admin', 'cli', 'certs'):
            self.assertIn(applet, offered)
        self.assertEqual(self.complete(givctest.GIVC, 'c'), ['certs', 'cli'])


if __name__ == '__main__':
    givctest.main()
