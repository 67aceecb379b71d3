# SPDX-License-Identifier: Apache-2.0
"""Tests of the integration-test harness itself (systemd_harness.py).

Checks, against real `systemd --user` managers run one per simulated VM, that
  * two managers run side by side and a transient unit of the same name in each
    is independent (own cgroup, stopping one leaves the other running);
  * freeze/thaw works (FreezerState and the unit cgroup's cgroup.events), and
    CPUUsageNSec is reported (the managers run in unified cgroup mode);
  * template units from the runtime unit dir work (microvm@chromium-vm.service);
  * stop() leaves nothing behind: no sub-cgroup, no runtime dir, no process of
    the manager, its units or its helpers; also after a failed start, and when
    the test process is SIGKILLed (the guardian process cleans up);
and that the python-dbusmock stand-ins for systemd-localed and
systemd-timedated work on a private bus (and on a manager's bus), record
SetLocale/SetTimezone calls and update their properties.

Needs root, cgroup2 at /sys/fs/cgroup/unified, systemd, unshare, busctl,
dbus-daemon and Debian's python3-dbus and python3-dbusmock; run with
/usr/bin/python3:  /usr/bin/python3 tests/integration/test_harness.py -v
A missing prerequisite is a failure, never a skip (and says what is missing).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import systemd_harness as h  # noqa: E402


def missing_prerequisites():
    missing = []
    if os.geteuid() != 0:
        missing.append('root')
    if not os.path.exists(os.path.join(h.CGROUP2_ROOT, 'cgroup.procs')):
        missing.append(f'cgroup2 mounted at {h.CGROUP2_ROOT}')
    if not os.access(h.SYSTEMD, os.X_OK):
        missing.append(h.SYSTEMD)
    for tool in ('unshare', 'systemctl', 'systemd-run', 'busctl', 'dbus-daemon', 'mount'):
        if not shutil.which(tool):
            missing.append(tool)
    for module in ('dbus', 'dbusmock'):
        r = subprocess.run([h.DEBIAN_PYTHON, '-c', f'import {module}'], capture_output=True)
        if r.returncode != 0:
            missing.append(f'{module} for {h.DEBIAN_PYTHON}')
    if not os.path.exists(h.LOCALED_TEMPLATE):
        missing.append(h.LOCALED_TEMPLATE)
    return missing


def setUpModule():
    missing = missing_prerequisites()
    if missing:
        # Never skip (CI=true or not): a missing prerequisite must be visible.
        raise RuntimeError('test prerequisites missing (CI=%s): %s'
                           % (os.environ.get('CI', ''), ', '.join(missing)))


def alive(pid):
    return h._pid_alive(pid)


def cgroup_pids(path):
    return h._cgroup_pids(path)


def our_givc_cgroups():
    return sorted(d for d in os.listdir(h.CGROUP2_ROOT) if d.startswith('givc-test-'))


class HarnessTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='givc-harness-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def assert_gone(self, managers, pids):
        for m in managers:
            self.assertFalse(os.path.exists(m.cgroup), f'{m.cgroup} still exists')
            self.assertFalse(os.path.exists(m.runtime_dir), f'{m.runtime_dir} still exists')
        still = sorted(p for p in pids if alive(p))
        self.assertEqual(still, [], 'processes of the stopped managers are still running: '
                         + '; '.join(h._read(f'/proc/{p}/cmdline').replace('\0', ' ') for p in still))


class TestUserManager(HarnessTestCase):

    def test_two_managers(self):
        a = h.UserManager('vm-a', base_dir=self.tmp)
        b = h.UserManager('vm-b', base_dir=self.tmp)
        pids = set()
        with a, b:
            self.assertEqual(a.runtime_dir, os.path.join(self.tmp, 'vm-a'))
            self.assertEqual(os.stat(a.runtime_dir).st_mode & 0o777, 0o700)
            self.assertEqual(a.bus_address, f'unix:path={a.runtime_dir}/bus')
            self.assertEqual(a.env()['XDG_RUNTIME_DIR'], a.runtime_dir)
            self.assertEqual(b.env()['DBUS_SESSION_BUS_ADDRESS'], b.bus_address)
            self.assertNotEqual(a.cgroup, b.cgroup)
            for m in (a, b):
                self.assertTrue(os.path.basename(m.cgroup).startswith(f'givc-test-{m.name}-'))
                self.assertIn(m.pid, cgroup_pids(m.cgroup))
                self.assertTrue(m.systemctl('is-system-running', check=False).stdout.strip())
                pids |= {m.pid, m._guard.pid}

            # The same transient unit in both, independent of each other.
            unit = a.run('sleeper', '/bin/sleep', '300')
            self.assertEqual(unit, 'sleeper.service')
            b.run('sleeper', '/bin/sleep', '300')
            pa = int(a.show(unit, 'MainPID')['MainPID'])
            pb = int(b.show(unit, 'MainPID')['MainPID'])
            self.assertNotEqual(pa, pb)
            self.assertTrue(alive(pa) and alive(pb))
            pids |= {pa, pb}
            ca, cb = a.cgroup_path(unit), b.cgroup_path(unit)
            self.assertTrue(ca.startswith(a.cgroup + '/'), ca)
            self.assertTrue(cb.startswith(b.cgroup + '/'), cb)
            self.assertEqual(cgroup_pids(ca), {pa})
            self.assertEqual(cgroup_pids(cb), {pb})
            self.assertEqual(a.cgroup_events(unit)['populated'], '1')

            a.systemctl('stop', unit)
            a.wait_for(unit, 'ActiveState', 'inactive')
            h.wait_until(lambda: not alive(pa), 10, f'pid {pa} to go')
            self.assertEqual(b.show(unit, 'ActiveState'), {'ActiveState': 'active'})
            self.assertTrue(alive(pb))

            # Freeze/thaw in b.
            b.systemctl('freeze', unit)
            b.wait_for(unit, 'FreezerState', 'frozen')
            self.assertEqual(b.cgroup_events(unit)['frozen'], '1')
            b.systemctl('thaw', unit)
            b.wait_for(unit, 'FreezerState', 'running')
            self.assertEqual(b.cgroup_events(unit)['frozen'], '0')
            self.assertEqual(b.show(unit, 'ActiveState')['ActiveState'], 'active')

            # CPU accounting works in unified mode.
            cpu = b.show(unit, 'CPUUsageNSec')['CPUUsageNSec']
            self.assertTrue(cpu.isdigit(), f'CPUUsageNSec={cpu!r}')

            # Template unit from the runtime unit dir.
            path = a.write_unit('microvm@.service', textwrap.dedent('''\
                [Unit]
                Description=Simulated microvm %i

                [Service]
                ExecStart=/bin/sleep 300
                '''))
            self.assertEqual(os.path.dirname(path), a.unit_dir)
            self.assertEqual(a.unit_dir, os.path.join(a.runtime_dir, 'systemd', 'user'))
            a.daemon_reload()
            vm = 'microvm@chromium-vm.service'
            a.systemctl('start', vm)
            a.wait_for(vm, 'ActiveState', 'active')
            props = a.show(vm, 'Id', 'MainPID', 'Description', 'LoadState')
            self.assertEqual(props['Id'], vm)
            self.assertEqual(props['Description'], 'Simulated microvm chromium-vm')
            pv = int(props['MainPID'])
            self.assertEqual(cgroup_pids(a.cgroup_path(vm)), {pv})
            self.assertEqual(b.show(vm, 'LoadState')['LoadState'], 'not-found')
            pids.add(pv)

            # A frozen unit must not hold up stop(): leave b's unit frozen.
            b.systemctl('freeze', unit)
            b.wait_for(unit, 'FreezerState', 'frozen')

            # Everything else running in the managers' cgroups (dbus-daemon, ...).
            for m in (a, b):
                pids |= cgroup_pids(m.cgroup)

        self.assert_gone([a, b], pids)
        self.assertFalse(any(n.startswith(('givc-test-vm-a-', 'givc-test-vm-b-'))
                             for n in our_givc_cgroups()))
        # Idempotent.
        a.stop()
        b.stop()

    def test_failed_start_leaves_nothing(self):
        m = h.UserManager('early', base_dir=self.tmp)
        try:
            m.start(timeout=0)      # fails unless the manager is up at the first poll
        except h.HarnessError as e:
            self.assertIn('early', str(e))
        pid, guard = m.pid, m._guard.pid
        m.stop()
        self.assert_gone([m], {pid, guard})
        m.stop()

    def test_name_clash_leaves_nothing(self):
        os.mkdir(os.path.join(self.tmp, 'taken'))
        m = h.UserManager('taken', base_dir=self.tmp)
        with self.assertRaises(h.HarnessError):
            m.start()
        self.assertIsNone(m.cgroup)
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, 'taken')))   # not ours: kept
        m.stop()

    def test_guardian_cleans_up_after_sigkill(self):
        # A test process that dies by SIGKILL (e.g. after a meson timeout) gets no
        # atexit; the guardian must remove the manager, its units and cgroup.
        script = textwrap.dedent('''\
            import os, signal, sys
            sys.path.insert(0, %r)
            import systemd_harness as h
            m = h.UserManager('orphan', base_dir=%r)
            m.start()
            m.run('sleeper', '/bin/sleep', '300')
            pids = h._cgroup_pids(m.cgroup)
            print(m.cgroup, m.runtime_dir, m._guard.pid, *sorted(pids), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            ''') % (os.path.dirname(os.path.abspath(__file__)), self.tmp)
        r = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, -9, r.stderr)
        cgroup, runtime_dir, guard, *rest = r.stdout.split()
        pids = {int(guard), *map(int, rest)}
        self.assertGreaterEqual(len(rest), 2)    # at least the manager and sleep
        h.wait_until(lambda: not os.path.exists(cgroup) and not os.path.exists(runtime_dir),
                     30, 'the guardian to remove ' + cgroup)
        h.wait_until(lambda: not any(alive(p) for p in pids), 10, f'{sorted(pids)} to go')


class TestDbusMock(HarnessTestCase):

    def setUp(self):
        super().setUp()
        self.address, stop = h.dbus_daemon(self.tmp)
        self.addCleanup(stop)

    def busctl(self, address, *args):
        r = subprocess.run(['busctl', f'--address={address}', *args],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def check_services(self, address):
        with h.DbusMockServices(address, log_dir=self.tmp) as mocks:
            pids = [p.pid for p in mocks.procs.values()]
            self.assertEqual(mocks.locale(), ['LANG=C'])
            self.assertEqual(mocks.timezone(), 'Etc/Utc')

            self.busctl(address, 'call', 'org.freedesktop.locale1', '/org/freedesktop/locale1',
                        'org.freedesktop.locale1', 'SetLocale', 'asb', '1', 'LANG=de_DE.UTF-8', 'false')
            self.assertEqual(mocks.locale(), ['LANG=de_DE.UTF-8'])
            calls = [(m, a) for _ts, m, a in mocks.calls(mocks.LOCALE)]
            self.assertIn(('SetLocale', [['LANG=de_DE.UTF-8'], False]), calls)
            out = self.busctl(address, 'get-property', 'org.freedesktop.locale1', '/org/freedesktop/locale1',
                              'org.freedesktop.locale1', 'Locale')
            self.assertEqual(out.strip(), 'as 1 "LANG=de_DE.UTF-8"')

            self.busctl(address, 'call', 'org.freedesktop.locale1', '/org/freedesktop/locale1',
                        'org.freedesktop.locale1', 'SetX11Keyboard', 'ssssbb', 'fi', 'pc105', '', '',
                        'true', 'false')
            self.assertEqual(mocks.get(mocks.LOCALE, 'X11Layout'), 'fi')
            self.assertEqual(mocks.get(mocks.LOCALE, 'VConsoleKeymap'), '')

            self.busctl(address, 'call', 'org.freedesktop.timedate1', '/org/freedesktop/timedate1',
                        'org.freedesktop.timedate1', 'SetTimezone', 'sb', 'Europe/Helsinki', 'false')
            self.assertEqual(mocks.timezone(), 'Europe/Helsinki')
            calls = [(m, a) for _ts, m, a in mocks.calls(mocks.TIMEDATE)]
            self.assertEqual(calls, [('SetTimezone', ['Europe/Helsinki', False])])
        self.assertFalse(any(alive(p) for p in pids))

    def test_private_bus(self):
        self.assertEqual(self.address, f'unix:path={self.tmp}/bus')
        self.check_services(self.address)

    def test_parameters(self):
        with h.DbusMockServices(self.address, timedate_parameters={'Timezone': 'UTC'},
                                locale_parameters={'Locale': ['LANG=fi_FI.UTF-8', 'LC_TIME=C']}) as mocks:
            self.assertEqual(mocks.timezone(), 'UTC')
            self.assertEqual(mocks.locale(), ['LANG=fi_FI.UTF-8', 'LC_TIME=C'])
            self.assertEqual(mocks.calls(mocks.LOCALE), [])

    def test_on_manager_bus(self):
        # The "system bus" of an agent under test can be a manager's own bus.
        with h.UserManager('vm-bus', base_dir=self.tmp) as m:
            self.check_services(m.bus_address)

    def test_daemon_stop(self):
        address, stop = h.dbus_daemon(self.tmp, name='other')
        path = address[len('unix:path='):]
        self.assertTrue(os.path.exists(path))
        stop()
        stop()
        self.assertFalse(os.path.exists(path))


if __name__ == '__main__':
    unittest.main(verbosity=2)
