#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The admin service (`givc admin`) on the multi-VM test bed.

Upstream's admin VM test (spec §7.2) and what the admin promises beyond it:
registry contents, applications in running and booting VMs, the monitor,
locale and timezone for every manager agent, power targets, the state
directory across a SIGKILL, agent failures, registrations checked against
certificates, and Watch streams. The admin is driven with python3-grpcio;
every check of a unit is made with the VM's own manager (systemctl), not
through givc.

One test bed serves the whole file. Every test starts from a fresh admin
(empty state directory) and the VMs it asks for, freshly booted. Each
agent's system bus is a private dbus-daemon with python-dbusmock playing
systemd-localed and systemd-timedated, so that what reaches every agent
can be checked.
"""

import copy
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent import futures

import grpc

import givctest
import systemd_harness
import testbed
from systemd_harness import HarnessError

S = givctest.stubs()
A = S.admin_pb2

HOST, ADMIN = testbed.HOST, testbed.ADMIN
GUI, CHROMIUM = 'gui-vm', 'chromium-vm'
MANAGERS = (HOST, GUI, CHROMIUM)        # the manager agents, each with its mock localed/timedated
MONITOR_INTERVAL = 1.0                  # the bed's --monitor-interval
OK = 'Command successful.'              # upstream's CmdStatus and AppStatus (spec §3.6)

BED = None
MOCKS = {}                              # agent name -> DbusMockServices
_cleanups = []


def agent_unit(name):
    return f'givc-{name}.service'


def vm_unit(name):
    return f'microvm@{name}.service'


def setUpModule():
    global BED
    if not givctest.GIVC or not os.path.exists(givctest.GIVC):
        raise AssertionError('$GIVC must point at the givc binary')
    workdir = tempfile.mkdtemp(prefix='givc-adm-')
    _cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        bus_dir = os.path.join(workdir, 'dbus')
        os.makedirs(bus_dir)
        vms = copy.deepcopy(testbed.DEFAULT_VMS)
        for vm in vms:
            if vm['name'] not in MANAGERS:
                continue
            address, stop = systemd_harness.dbus_daemon(bus_dir, vm['name'])
            _cleanups.append(stop)
            mock = systemd_harness.DbusMockServices(address, log_dir=bus_dir).start()
            _cleanups.append(mock.stop)
            MOCKS[vm['name']] = mock
            vm['env'] = {'DBUS_SYSTEM_BUS_ADDRESS': address}
        BED = testbed.TestBed(givctest.GIVC, os.path.join(workdir, 'bed'), vms=vms, port=None, admin_port=None)
        BED.start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    errors = []
    if BED is not None:
        try:
            BED.stop()
        except Exception as e:  # noqa: BLE001
            errors.append(str(e))
        left = [cg for cg in BED.own_cgroups() if os.path.exists(cg)]
        if left:
            errors.append(f'cgroups left behind: {left}')
    while _cleanups:
        try:
            _cleanups.pop()()
        except Exception as e:  # noqa: BLE001
            errors.append(str(e))
    if errors:
        raise AssertionError('; '.join(errors))


def item_fields(item):
    """A QueryListItem as a comparable tuple (None for an absent optional field)."""
    return (item.Name, item.Description, item.VmStatus, item.TrustLevel, item.VmType, item.ServiceType,
            item.VmName if item.HasField('VmName') else None,
            item.AgentName if item.HasField('AgentName') else None)


def summary(entries):
    if entries is None:
        return 'nothing'
    return ', '.join(f'{n} ({e.VmStatus})' for n, e in sorted(entries.items())) or 'empty'


def registration(name, parent, type_, transport_name, address='127.0.0.1', port='1', description=''):
    return A.RegistryRequest(
        Name=name, Parent=parent, Type=type_,
        Transport=A.TransportConfig(Protocol='tcp', Address=address, Port=str(port), Name=transport_name),
        State=A.UnitStatus(Name=name, Description=description, LoadState='loaded', ActiveState='active'))


class WatchReader:
    """Reads a Watch stream in a thread; items and the final error are kept."""

    def __init__(self, stub, timeout=300):
        self.call = stub.Watch(A.Empty(), timeout=timeout)
        self.items = []
        self.error = None
        self.ended = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for item in self.call:
                with self.cond:
                    self.items.append(item)
                    self.cond.notify_all()
        except grpc.RpcError as e:
            self.error = e
        finally:
            with self.cond:
                self.ended = True
                self.cond.notify_all()

    def wait(self, predicate, what, timeout=30):
        """Waits until predicate(items) holds; its value."""
        with self.cond:
            self.cond.wait_for(lambda: predicate(self.items) or self.ended, timeout)
            value = predicate(self.items)
            if not value:
                state = f'the stream ended: {self.error!r}' if self.ended else f'timed out after {timeout}s'
                raise AssertionError(f'Watch: {state} waiting for {what}; got {self.describe()}')
            return value

    def wait_end(self, timeout=30):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f'the Watch stream did not end within {timeout}s')
        return self.error

    def events(self, name=None):
        """(kind, item) of every change so far, for name only if given."""
        with self.cond:
            out = []
            for it in self.items:
                kind = it.WhichOneof('Status')
                if kind == 'Initial':
                    continue
                entry = getattr(it, kind)
                if name is None or entry.Name == name:
                    out.append((kind, entry))
            return out

    def describe(self):
        return [(k, e.Name, e.VmStatus) for k, e in self.events()][-20:]

    def close(self):
        self.call.cancel()
        self.thread.join(10)


class AdminTestCase(givctest.TestCase):
    """A fresh admin (empty state directory) and the VMs of VMS, booted."""

    VMS = ()

    def setUp(self):
        super().setUp()
        self.bed = BED
        self.reset(self.VMS)
        self.ch = None
        self.connect()

    def tearDown(self):
        self.ch.close()
        super().tearDown()

    def connect(self):
        """A new channel to the admin (after a restart, the old one would fail its next call)."""
        if self.ch is not None:
            self.ch.close()
        self.ch = self.bed.channel(ADMIN)
        self.admin = S.admin_pb2_grpc.AdminServiceStub(self.ch)

    # -- the bed -----------------------------------------------------------------

    def reset(self, vms):
        bed = self.bed
        if bed.admin_running():
            self.assertEqual(bed.stop_admin(), 0, bed.admin_log())
        for vm in bed.vm_names():
            if bed.vm_unit_state(vm) in ('active', 'activating', 'deactivating'):
                bed.shutdown_vm(vm)
        bed.host_manager.systemctl('reset-failed', 'microvm@*.service', check=False)
        bed.reset_targets()
        for name in os.listdir(bed.state_dir):
            os.unlink(os.path.join(bed.state_dir, name))
        for mock in MOCKS.values():
            mock.clear_calls(mock.LOCALE)
            mock.clear_calls(mock.TIMEDATE)
        bed.start_admin()
        for vm in vms:
            bed.boot(vm)
        with bed.channel(ADMIN) as ch:
            stub = S.admin_pb2_grpc.AdminServiceStub(ch)
            agents = [agent_unit(HOST)] + [agent_unit(vm) for vm in vms]
            # Running from their registration on; the Description comes with the first poll.
            self.wait_registry(lambda q: all(a in q and q[a].VmStatus == 'Running' and q[a].Description
                                             for a in agents),
                               f'the agents {agents} registered, running and polled', stub=stub)

    def restart_admin(self, *args):
        """The admin again with more options; waits for the host agent to register again."""
        self.assertEqual(self.bed.stop_admin(), 0, self.bed.admin_log())
        self.bed.start_admin(extra_args=args)
        self.connect()
        self.wait_registry(lambda q: agent_unit(HOST) in q, 'the host agent to register again')

    def admin_log_tail(self, n=40):
        return '\n'.join(self.bed.admin_logs().splitlines()[-n:])

    # -- the registry ------------------------------------------------------------

    def query(self, stub=None):
        """The registry: {name: QueryListItem}."""
        return {i.Name: i for i in (stub or self.admin).QueryList(A.Empty(), timeout=10).List}

    def wait_registry(self, predicate, what, timeout=30, stub=None):
        """Polls QueryList until predicate(entries) holds; the entries."""
        last = None
        deadline = time.monotonic() + timeout
        while True:
            last = self.query(stub)
            if predicate(last):
                return last
            if time.monotonic() >= deadline:
                self.fail(f'timed out after {timeout}s waiting for {what}; registry: {summary(last)}\n'
                          f'--- admin log ---\n{self.admin_log_tail()}')
            time.sleep(0.05)

    def instances(self, entries, app='foot'):
        return sorted(n for n in entries if n.startswith(app + '@'))

    # -- applications --------------------------------------------------------------

    def start_app(self, app='foot', vm=CHROMIUM, args=(), stub=None):
        request = A.ApplicationRequest(AppName=app, Args=list(args))
        if vm is not None:
            request.VmName = vm
        r = (stub or self.admin).StartApplication(request, timeout=120)
        self.assertEqual((r.CmdStatus, r.AppStatus), (OK, OK))
        return r

    def start_instance(self, app='foot', vm=CHROMIUM, args=()):
        """Starts app; the name of the one new instance in the registry."""
        before = set(self.query())
        self.start_app(app, vm, args)
        new = [n for n in self.instances(self.query(), app) if n not in before]
        self.assertEqual(len(new), 1, f'new instances of {app}: {new}')
        return new[0]

    def app_request(self, name):
        return A.ApplicationRequest(AppName=name)

    def manager(self, vm=CHROMIUM):
        return self.bed.vm_manager(vm)

    def unit_state(self, unit, vm=CHROMIUM):
        return self.manager(vm).show(unit, 'LoadState', 'ActiveState', 'SubState', 'FreezerState')

    @staticmethod
    def locales(vm):
        mock = MOCKS[vm]
        return [args[0] for _, method, args in mock.calls(mock.LOCALE) if method == 'SetLocale']

    @staticmethod
    def timezones(vm):
        mock = MOCKS[vm]
        return [args[0] for _, method, args in mock.calls(mock.TIMEDATE) if method == 'SetTimezone']

    def wait_mock(self, vm, getter, value, what, timeout=30):
        try:
            systemd_harness.wait_until(lambda: value in getter(vm), timeout, f'{what} on {vm}')
        except HarnessError as e:
            self.fail(f'{e}; calls: {getter(vm)}\n--- admin log ---\n{self.admin_log_tail()}\n'
                      f'--- agent log ---\n{self.bed.agent_log(vm)[-3000:]}')

    def wait_locale(self, vm, locale):
        self.wait_mock(vm, self.locales, [f'LANG={locale}'], f'locale {locale}')

    def wait_timezone(self, vm, tz):
        self.wait_mock(vm, self.timezones, tz, f'timezone {tz}')

    def assert_rpc_error(self, code, method, request, *contains, timeout=60):
        with self.assertRaises(grpc.RpcError) as cm:
            method(request, timeout=timeout)
        e = cm.exception
        self.assertEqual(e.code(), code, e.details())
        for text in contains:
            self.assertIn(text, e.details())
        return e


class Registry(AdminTestCase):

    def test_agents_appear_with_their_names_and_types(self):
        host_units = [agent_unit(HOST), vm_unit(CHROMIUM), vm_unit(GUI)]
        q = self.wait_registry(lambda q: all(n in q for n in host_units), 'the host agent\'s services')
        # Before any VM booted: the host agent and the services it registered.
        self.assertEqual(sorted(q), host_units)
        self.assertEqual(item_fields(q[agent_unit(HOST)]),
                         (agent_unit(HOST), 'givc agent of the host (test bed)', 'Running', 'Warning', 'Host', 'Mgr',
                          None, agent_unit(HOST)))
        # Services of the host are reached through it and, unlike upstream
        # (spec §3.10), polled like everything else: the status of a VM's
        # unit follows the unit.
        q = self.wait_registry(lambda q: all(q[vm_unit(vm)].Description for vm in (GUI, CHROMIUM)),
                               'the first poll of the host\'s services')
        for vm in (GUI, CHROMIUM):
            self.assertEqual(item_fields(q[vm_unit(vm)]),
                             (vm_unit(vm), f'Simulated VM {vm} (givc test bed)', 'PoweredOff', 'Warning', 'Host',
                              'Svc', None, agent_unit(HOST)))

        for vm in (GUI, CHROMIUM):
            self.bed.boot(vm)
        q = self.wait_registry(lambda q: all(q.get(agent_unit(vm)) and q[agent_unit(vm)].VmStatus == 'Running'
                                             and q[agent_unit(vm)].Description
                                             for vm in (GUI, CHROMIUM)), 'the VM agents, polled')
        self.assertEqual(len(q), 5, summary(q))
        # VmName is the VM's unit (upstream put "bogus" here, spec §10.5).
        self.assertEqual(item_fields(q[agent_unit(GUI)]),
                         (agent_unit(GUI), 'givc agent of gui-vm (test bed)', 'Running', 'Warning', 'SysVM', 'Mgr',
                          vm_unit(GUI), agent_unit(GUI)))
        self.assertEqual(item_fields(q[agent_unit(CHROMIUM)]),
                         (agent_unit(CHROMIUM), 'givc agent of chromium-vm (test bed)', 'Running', 'Warning',
                          'AppVM', 'Mgr', vm_unit(CHROMIUM), agent_unit(CHROMIUM)))
        self.assertEqual(item_fields(q[agent_unit(HOST)])[2], 'Running')
        q = self.wait_registry(lambda q: all(q[vm_unit(vm)].VmStatus == 'Running' for vm in (GUI, CHROMIUM)),
                               'the VMs\' units to be seen running')


class Applications(AdminTestCase):

    VMS = (CHROMIUM,)

    def test_start_in_running_vm(self):
        name = self.start_instance(args=['--maximized', 'https://example.com/'])
        self.assertEqual(name, 'foot@0.service')
        q = self.query()
        self.assertEqual(item_fields(q[name]),
                         (name, 'Application service for foot', 'Running', 'Warning', 'AppVM', 'App',
                          vm_unit(CHROMIUM), agent_unit(CHROMIUM)))
        # In the VM's own manager, with the arguments; not on the host.
        m = self.manager()
        shown = m.show(name, 'ActiveState', 'SubState', 'ExecStart')
        self.assertEqual((shown['ActiveState'], shown['SubState']), ('active', 'running'))
        self.assertIn('--maximized https://example.com/', shown['ExecStart'])
        self.assertNotIn('foot@', self.bed.host_manager.systemctl('list-units', '--all').stdout)
        # A second instance gets the next number; both run.
        self.assertEqual(self.start_instance(), 'foot@1.service')
        for unit in ('foot@0.service', 'foot@1.service'):
            self.assertEqual(m.show(unit, 'ActiveState')['ActiveState'], 'active')

    def test_start_right_after_the_vm_went_down_boots_it_again(self):
        # A monitor that will not notice in time: the admin only learns that
        # the VM is gone when its agent does not answer the start.
        self.assertEqual(self.bed.stop_admin(), 0, self.bed.admin_log())
        self.bed.start_admin(extra_args=('--monitor-interval', '1h'))
        self.connect()
        self.wait_registry(lambda q: q.get(agent_unit(CHROMIUM)) and q[agent_unit(CHROMIUM)].VmStatus == 'Running',
                           'the VM agent to register again')
        self.bed.shutdown_vm(CHROMIUM)
        self.assertEqual(self.query()[agent_unit(CHROMIUM)].VmStatus, 'Running')   # stale, as intended

        name = self.start_instance()
        self.assertTrue(self.bed.vm_running(CHROMIUM))
        self.assertEqual(self.manager().show(name, 'ActiveState')['ActiveState'], 'active')
        self.assertIn(f'Cannot reach \'{agent_unit(CHROMIUM)}\'', self.bed.admin_log())

    def test_killed_app_leaves_the_registry_and_starts_again(self):
        name = self.start_instance()
        m = self.manager()
        m.systemctl('kill', '--signal=KILL', name)
        # The monitor (every second here) notices within about one round.
        self.wait_registry(lambda q: name not in q, f'{name} to leave the registry', timeout=5 * MONITOR_INTERVAL)
        self.assertNotEqual(m.show(name, 'ActiveState')['ActiveState'], 'active')
        # Starting it again works, and the name is free again.
        again = self.start_instance()
        self.assertEqual(again, name)
        self.assertEqual(self.unit_state(again)['ActiveState'], 'active')
        self.assertEqual(self.query()[again].VmStatus, 'Running')

    def test_pause_resume_stop(self):
        name = self.start_instance()
        m = self.manager()
        r = self.admin.PauseApplication(self.app_request(name), timeout=60)
        self.assertEqual((r.CmdStatus, r.AppStatus), (OK, OK))
        self.assertEqual(m.show(name, 'FreezerState')['FreezerState'], 'frozen')
        self.assertEqual(m.cgroup_events(name).get('frozen'), '1')
        self.assertEqual(self.query()[name].VmStatus, 'Paused')

        r = self.admin.ResumeApplication(self.app_request(name), timeout=60)
        self.assertEqual((r.CmdStatus, r.AppStatus), (OK, OK))
        self.assertEqual(m.show(name, 'FreezerState')['FreezerState'], 'running')
        self.assertEqual(m.cgroup_events(name).get('frozen'), '0')
        self.assertEqual(self.query()[name].VmStatus, 'Running')

        r = self.admin.StopApplication(self.app_request(name), timeout=60)
        self.assertEqual((r.CmdStatus, r.AppStatus), (OK, OK))
        self.assertEqual(self.unit_state(name)['LoadState'], 'not-found')    # a transient unit, gone
        self.assertNotIn(name, self.query())
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, self.admin.StopApplication, self.app_request(name))

    def test_bare_name_acts_on_every_instance(self):
        names = [self.start_instance(), self.start_instance()]
        m = self.manager()
        self.admin.PauseApplication(self.app_request('foot'), timeout=60)
        self.assertEqual([m.cgroup_events(n).get('frozen') for n in names], ['1', '1'])
        self.admin.ResumeApplication(self.app_request('foot'), timeout=60)
        self.assertEqual([m.cgroup_events(n).get('frozen') for n in names], ['0', '0'])
        self.admin.StopApplication(self.app_request('foot'), timeout=60)
        self.assertEqual([self.unit_state(n)['LoadState'] for n in names], ['not-found', 'not-found'])
        self.assertEqual(self.instances(self.query()), [])

    def test_app_that_exits_leaves_the_registry(self):
        watch = WatchReader(self.admin)
        self.addCleanup(watch.close)
        watch.wait(lambda items: items, 'Initial')
        name = 'clearexit@0.service'
        for run in (1, 2):      # and it can be started again (upstream's test step 7)
            self.start_app('clearexit')
            watch.wait(lambda items: [k for k, e in watch.events(name) if k == 'Removed'] == ['Removed'] * run,
                       f'{name} to leave the registry', timeout=30)
            self.assertEqual([k for k, _ in watch.events(name) if k != 'Updated'], ['Added', 'Removed'] * run)
            self.assertEqual(self.unit_state(name)['LoadState'], 'not-found')
            self.assertEqual(self.instances(self.query(), 'clearexit'), [])

    def test_bad_requests(self):
        a = self.admin
        nf, inval = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT
        self.assert_rpc_error(nf, a.StartApplication, A.ApplicationRequest(AppName='nosuch', VmName=CHROMIUM),
                              "'nosuch'")
        self.assert_rpc_error(nf, a.StartApplication, A.ApplicationRequest(AppName='foot', VmName='nosuch-vm'),
                              'nosuch-vm')
        # Without VmName the VM is APP-vm (upstream's naming): there is no foot-vm.
        self.assert_rpc_error(nf, a.StartApplication, A.ApplicationRequest(AppName='foot'), 'foot-vm')
        self.assert_rpc_error(inval, a.StartApplication, A.ApplicationRequest(AppName='', VmName=CHROMIUM))
        self.assert_rpc_error(inval, a.StartApplication, A.ApplicationRequest(AppName='foot;id', VmName=CHROMIUM))
        self.assert_rpc_error(inval, a.StartApplication,
                              A.ApplicationRequest(AppName='foot', VmName=CHROMIUM, Args=['--x;id']))
        for method in (a.PauseApplication, a.ResumeApplication, a.StopApplication):
            self.assert_rpc_error(nf, method, self.app_request('foot@99.service'), 'foot@99.service')
            self.assert_rpc_error(inval, method, self.app_request(''))
        # An agent is not an application.
        self.assert_rpc_error(inval, a.StopApplication, self.app_request(agent_unit(CHROMIUM)))
        self.assertEqual(self.instances(self.query()), [])
        self.assertNotIn('foot@', self.manager().systemctl('list-units', '--all').stdout)
        # Nothing was booted for the unknown VMs.
        self.assertEqual(sorted(self.bed.vm_status()), [CHROMIUM])


class Boot(AdminTestCase):

    def boot_events(self, vm, since=0):
        return [e['event'] for e in self.bed.events()[since:] if e.get('vm') == vm]

    def test_start_boots_the_vm(self):
        self.assertFalse(self.bed.vm_running(CHROMIUM))
        self.assertNotIn(agent_unit(CHROMIUM), self.query())
        name = self.start_instance()
        # Booted through the host agent: microvm@chromium-vm runs on the host.
        self.assertEqual(self.bed.vm_unit_state(CHROMIUM), 'active')
        self.assertTrue(self.bed.vm_running(CHROMIUM))
        self.assertEqual(self.unit_state(name)['ActiveState'], 'active')
        q = self.query()
        self.assertEqual(q[agent_unit(CHROMIUM)].AgentName, agent_unit(CHROMIUM))
        self.assertEqual((q[name].VmStatus, q[name].AgentName), ('Running', agent_unit(CHROMIUM)))
        self.assertFalse(self.bed.vm_running(GUI))

    def test_concurrent_starts_boot_the_vm_once(self):
        seen = len(self.bed.events())
        n = 4
        barrier = threading.Barrier(n)
        results = [None] * n

        def start(i):
            try:
                with self.bed.channel(ADMIN) as ch:
                    stub = S.admin_pb2_grpc.AdminServiceStub(ch)
                    barrier.wait(30)
                    r = stub.StartApplication(A.ApplicationRequest(AppName='foot', VmName=CHROMIUM), timeout=120)
                    results[i] = (r.CmdStatus, r.AppStatus)
            except Exception as e:  # noqa: BLE001
                results[i] = e
        threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        self.assertEqual(results, [(OK, OK)] * n)

        # One boot: one manager started, one boot, nothing went down.
        self.assertEqual(self.boot_events(CHROMIUM, seen), ['manager', 'booted'])
        shown = self.bed.host_manager.show(vm_unit(CHROMIUM), 'ActiveState', 'NRestarts')
        self.assertEqual((shown['ActiveState'], shown['NRestarts']), ('active', '0'))
        # Each request has its own instance, running in the VM.
        names = [f'foot@{i}.service' for i in range(n)]
        self.assertEqual(self.instances(self.query()), names)
        self.assertEqual([self.unit_state(u)['ActiveState'] for u in names], ['active'] * n)


    def test_vm_that_cannot_start(self):
        m = self.bed.host_manager
        dropin = os.path.join(m.unit_dir, f'{vm_unit(GUI)}.d')
        os.makedirs(dropin, exist_ok=True)
        path = os.path.join(dropin, 'fail.conf')
        with open(path, 'w') as f:
            f.write('[Service]\nExecStartPre=/bin/false\n')

        def undo():
            os.unlink(path)
            m.daemon_reload()
            m.systemctl('reset-failed', vm_unit(GUI), check=False)
        self.addCleanup(undo)
        m.daemon_reload()
        self.assert_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, self.admin.StartApplication,
                              A.ApplicationRequest(AppName='foot', VmName=GUI), "the VM 'gui-vm' cannot start")
        self.assertFalse(self.bed.vm_running(GUI))

    def misdirect_agent(self, vm):
        """The VM will boot, but its agent will look for the admin in the wrong place."""
        env = os.path.join(self.bed.config_dir, f'{vm}.env')
        with open(env) as f:
            original = f.read()

        def write(text):
            with open(env, 'w') as f:
                f.write(text)
        self.addCleanup(write, original)
        broken = original.replace(f'"port": "{self.bed.admin_port}"', '"port": "1"')
        self.assertNotEqual(broken, original)
        write(broken)

    def test_agent_that_does_not_register(self):
        self.restart_admin('--vm-start-timeout', '2s')
        self.misdirect_agent(CHROMIUM)
        self.assert_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, self.admin.StartApplication,
                              A.ApplicationRequest(AppName='foot', VmName=CHROMIUM),
                              "its agent 'givc-chromium-vm.service' did not register within 2 s")
        self.assertTrue(self.bed.vm_running(CHROMIUM))
        self.assertEqual(self.instances(self.query()), [])


    def start_waiting_for_a_vm(self):
        """StartApplication in chromium-vm, whose agent will not register, in the background; returns
        a function that waits for its end and gives its error."""
        self.restart_admin('--vm-start-timeout', '60s')
        self.misdirect_agent(CHROMIUM)
        result = {}

        def start():
            try:
                self.admin.StartApplication(A.ApplicationRequest(AppName='foot', VmName=CHROMIUM), timeout=90)
            except grpc.RpcError as e:
                result['error'] = e
        t = threading.Thread(target=start)
        t.start()
        self.bed.host_manager.wait_for(vm_unit(CHROMIUM), 'ActiveState', 'active', timeout=60)

        def error():
            t.join(80)
            self.assertFalse(t.is_alive())
            self.assertIn('error', result, 'the start succeeded')
            return result['error']
        return error

    def test_vm_that_dies_while_booting(self):
        error = self.start_waiting_for_a_vm()
        self.bed.crash_vm(CHROMIUM)
        # Not the 60 s deadline: the admin saw the VM go.
        e = error()
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION, e.details())
        self.assertIn("the VM 'chromium-vm' stopped before its agent 'givc-chromium-vm.service' registered",
                      e.details())
        self.bed.host_manager.systemctl('reset-failed', vm_unit(CHROMIUM), check=False)


    def test_shutdown_while_a_vm_boots(self):
        error = self.start_waiting_for_a_vm()
        # The waiting request does not hold the shutdown for the 60 s: it is told at once.
        self.assertEqual(self.bed.stop_admin(timeout=20), 0, self.bed.admin_log())
        e = error()
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
        self.assertIn('the admin is shutting down', e.details())


class LocaleAndTimezone(AdminTestCase):

    VMS = (CHROMIUM, GUI)

    def test_reach_every_manager_agent(self):
        a = self.admin
        # Invalid values are refused, and never reach anybody (checked below).
        for bad in ('`rm -Rf --no-preserve-root /`', '; whoami', 'iwaenfli', ''):
            self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, a.SetLocale, A.LocaleRequest(Locale=bad))
        for bad in ('/foobar', '`whoami`', 'Almost//Valid', ''):
            self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, a.SetTimezone, A.TimezoneRequest(Timezone=bad))

        self.assertEqual(a.SetLocale(A.LocaleRequest(Locale='fi_FI@euro.UTF-8'), timeout=30), A.Empty())
        for vm in MANAGERS:
            self.wait_locale(vm, 'fi_FI@euro.UTF-8')
            self.assertEqual(MOCKS[vm].locale(), ['LANG=fi_FI@euro.UTF-8'])
        a.SetTimezone(A.TimezoneRequest(Timezone='America/Argentina/Rio_Gallegos'), timeout=30)
        for vm in MANAGERS:
            self.wait_timezone(vm, 'America/Argentina/Rio_Gallegos')
            self.assertEqual(MOCKS[vm].timezone(), 'America/Argentina/Rio_Gallegos')
            self.assertEqual(set(map(tuple, self.locales(vm))), {('LANG=fi_FI@euro.UTF-8',)})
            self.assertEqual(set(self.timezones(vm)), {'America/Argentina/Rio_Gallegos'})

    def test_nothing_pushed_until_set(self):
        # The agents registered with this admin, which never had a locale
        # or timezone: a timezone now, and still no locale anywhere.
        self.admin.SetTimezone(A.TimezoneRequest(Timezone='UTC'), timeout=30)
        for vm in MANAGERS:
            self.wait_timezone(vm, 'UTC')
        for vm in MANAGERS:
            self.assertEqual(self.locales(vm), [], vm)
            self.assertEqual(set(self.timezones(vm)), {'UTC'}, vm)


    def test_quick_changes_end_with_the_last(self):
        # Pushes to one agent never overtake each other: after a burst, every agent has the last.
        zones = ['Europe/Helsinki', 'Asia/Tokyo', 'America/New_York', 'Africa/Cairo', 'UTC'] * 4
        for zone in zones:
            self.admin.SetTimezone(A.TimezoneRequest(Timezone=zone), timeout=30)
        for vm in MANAGERS:
            self.wait_timezone(vm, zones[-1])
        time.sleep(1)   # anything still on its way would arrive now
        for vm in MANAGERS:
            self.assertEqual(self.timezones(vm)[-1], zones[-1], vm)
            self.assertEqual(MOCKS[vm].timezone(), zones[-1], vm)


class LateAgent(AdminTestCase):

    VMS = (CHROMIUM,)

    def test_agent_registering_later_gets_the_current_values(self):
        self.admin.SetLocale(A.LocaleRequest(Locale='ar_AE.UTF-8'), timeout=30)
        self.admin.SetTimezone(A.TimezoneRequest(Timezone='Asia/Abu_Dhabi'), timeout=30)
        for vm in (HOST, CHROMIUM):
            self.wait_locale(vm, 'ar_AE.UTF-8')
            self.wait_timezone(vm, 'Asia/Abu_Dhabi')
        self.assertEqual((self.locales(GUI), self.timezones(GUI)), ([], []))
        self.bed.boot(GUI)
        self.wait_locale(GUI, 'ar_AE.UTF-8')
        self.wait_timezone(GUI, 'Asia/Abu_Dhabi')


class Power(AdminTestCase):

    def test_power_targets(self):
        for method, target in ((self.admin.Poweroff, 'poweroff'), (self.admin.Reboot, 'reboot'),
                               (self.admin.Suspend, 'suspend')):
            self.bed.reset_targets()
            self.assertEqual(method(A.Empty(), timeout=60), A.Empty())
            self.assertEqual(self.bed.targets_reached(), [target])
            self.assertEqual(self.bed.host_manager.show(f'{target}.target', 'ActiveState')['ActiveState'], 'active')
        self.assert_rpc_error(grpc.StatusCode.UNIMPLEMENTED, self.admin.Wakeup, A.Empty(), 'Not supported')
        self.assertEqual(self.bed.targets_reached(), ['suspend'])


class AdminRestart(AdminTestCase):

    VMS = (CHROMIUM,)

    def test_registry_restored_after_sigkill(self):
        self.admin.SetLocale(A.LocaleRequest(Locale='en_US.UTF-8'), timeout=30)
        kept, stopped = self.start_instance(), self.start_instance()
        # Once every entry was polled, so the statuses are settled.
        q = self.wait_registry(lambda q: q[vm_unit(CHROMIUM)].VmStatus == 'Running' and q[vm_unit(GUI)].Description,
                               'the host\'s services to be polled')
        before = {n: item_fields(e) for n, e in q.items()}
        self.assertEqual(len(before), 6, before)
        MOCKS[CHROMIUM].clear_calls(MOCKS[CHROMIUM].LOCALE)

        self.assertEqual(self.bed.kill_admin(), -signal.SIGKILL)
        # Behind the dead admin's back: one application ends.
        self.manager().systemctl('stop', stopped)
        self.bed.start_admin()
        self.connect()

        # At once, from the state directory (apps never register: only the
        # state knows about them); the stopped one may already be gone.
        after = {n: item_fields(e) for n, e in self.query().items()}
        self.assertEqual({n: f for n, f in after.items() if n != stopped},
                         {n: f for n, f in before.items() if n != stopped})
        self.assertIn(f'Restored {len(before)} registry entries', self.bed.admin_log())
        # Then the monitor checks what was restored.
        q = self.wait_registry(lambda q: stopped not in q, f'{stopped} to leave the registry')
        self.assertEqual(q[kept].VmStatus, 'Running')
        self.assertEqual(sorted(q), sorted(n for n in before if n != stopped))
        # The locale was restored too: the re-registering agent gets it.
        self.wait_locale(CHROMIUM, 'en_US.UTF-8')

    def test_second_admin_on_the_same_state_is_refused(self):
        argv = self.bed.admin_argv()
        i = argv.index('--listen')
        argv[i + 1] = f'{self.bed.addr(ADMIN)}:{givctest.free_port(self.bed.addr(ADMIN))}'
        env = dict(os.environ)
        env.pop('NOTIFY_SOCKET', None)
        r = subprocess.run([self.bed.givc, *argv], capture_output=True, text=True, timeout=30, env=env)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"another admin uses the state directory '{self.bed.state_dir}'", r.stderr)
        # The first one carries on.
        self.assertTrue(self.bed.admin_running())
        self.assertIn(agent_unit(HOST), self.query())


class AgentFailure(AdminTestCase):

    VMS = (CHROMIUM,)

    def status_of(self, *names):
        return lambda q: all(n in q for n in names) and [q[n].VmStatus for n in names]

    def test_agent_killed_and_restarted(self):
        name = self.start_instance()
        agent = agent_unit(CHROMIUM)
        m = self.manager()
        m.systemctl('kill', '--signal=KILL', agent)
        m.wait_for(agent, 'ActiveState', 'failed')
        # Its agent is unreachable: it and what it runs are not Running.
        self.wait_registry(lambda q: self.status_of(agent, name)(q) == ['PoweredOff', 'PoweredOff'],
                           f'{agent} and {name} to be PoweredOff')
        self.assertEqual(m.show(name, 'ActiveState')['ActiveState'], 'active')    # the app itself runs on
        m.systemctl('reset-failed', agent)
        m.systemctl('start', agent)
        q = self.wait_registry(lambda q: self.status_of(agent, name)(q) == ['Running', 'Running'],
                               f'{agent} and {name} to be Running again')
        self.assertEqual(len(q), 5, summary(q))

    def test_agent_that_does_not_answer(self):
        self.restart_admin('--vm-start-timeout', '2s')
        self.wait_registry(lambda q: q.get(agent_unit(CHROMIUM)), 'the VM agent to register again')
        # The VM runs, its agent is gone for good (stopped, so systemd does not restart it).
        self.manager().systemctl('stop', agent_unit(CHROMIUM))
        self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE, self.admin.StartApplication,
                              A.ApplicationRequest(AppName='foot', VmName=CHROMIUM),
                              "its agent 'givc-chromium-vm.service' did not answer within 2 s")
        self.assertEqual(self.bed.vm_unit_state(CHROMIUM), 'active')

    def test_vm_restarted_only_when_configured(self):
        self.restart_admin('--restart-vms')
        self.wait_registry(lambda q: q.get(agent_unit(CHROMIUM)), 'the VM agent to register again')
        seen = len(self.bed.events())
        self.bed.crash_vm(CHROMIUM)
        # The admin finds the agent gone and the VM down, and starts microvm@chromium-vm again.
        systemd_harness.wait_until(
            lambda: 'booted' in [e['event'] for e in self.bed.events()[seen:] if e.get('vm') == CHROMIUM],
            30, 'the VM booted again')
        self.wait_registry(lambda q: q[agent_unit(CHROMIUM)].VmStatus == 'Running', 'its agent back')
        self.assertIn('starting it again', self.bed.admin_log())

    def test_vm_crash_and_boot(self):
        name = self.start_instance()
        agent = agent_unit(CHROMIUM)
        self.bed.crash_vm(CHROMIUM)
        self.wait_registry(lambda q: self.status_of(agent, name)(q) == ['PoweredOff', 'PoweredOff'],
                           f'{agent} and {name} to be PoweredOff')
        self.bed.host_manager.wait_for(vm_unit(CHROMIUM), 'ActiveState', 'failed', timeout=30)
        # Without --restart-vms the admin leaves it down.
        time.sleep(2)
        self.assertEqual(self.bed.vm_unit_state(CHROMIUM), 'failed')
        self.assertNotIn('starting it again', self.bed.admin_log())
        self.bed.host_manager.systemctl('reset-failed', vm_unit(CHROMIUM))
        self.bed.boot(CHROMIUM)
        # The new agent registers; the application did not survive the crash.
        q = self.wait_registry(lambda q: name not in q and self.status_of(agent)(q) == ['Running'],
                               f'{agent} Running and {name} gone')
        self.assertEqual(q[agent].VmName, vm_unit(CHROMIUM))
        self.assertEqual(self.start_instance(), name)


class HungAgent(AdminTestCase):
    """An agent that accepts connections but never answers (SIGSTOP) holds up nobody else."""

    VMS = (CHROMIUM, GUI)
    ENTRIES = 200

    def test_hung_agent_with_many_entries(self):
        bed = self.bed
        hung = agent_unit(GUI)
        names = [f'hung-{i:03}.service' for i in range(self.ENTRIES)]
        with bed.channel(ADMIN, client=GUI) as ch:
            reg = S.admin_pb2_grpc.AdminServiceStub(ch)
            for name in names:
                self.assertFalse(reg.RegisterService(registration(name, hung, 9, GUI), timeout=30).HasField('Error'))
        self.wait_registry(lambda q: all(n in q for n in names), 'the services of the agent to hang')
        app = self.start_instance()
        time.sleep(1)   # the polls of the registrations are done

        pid = int(self.manager(GUI).show(hung, 'MainPID')['MainPID'])
        self.assertGreater(pid, 0)
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(os.kill, pid, signal.SIGCONT)

        # (Its services are PoweredOff all along: they are not units the agent controls.)
        self.wait_registry(lambda q: q[hung].VmStatus == 'PoweredOff', f'{hung} PoweredOff', timeout=10)
        # A change behind the admin's back in another VM shows within a few rounds. Polled one by
        # one, the hung agent's entries would hold the workers for a deadline (1 s here) each:
        # 25 s a round with 8 workers, and the change would wait behind them.
        self.manager().systemctl('freeze', app)
        self.wait_registry(lambda q: q[app].VmStatus == 'Paused', f'{app} Paused', timeout=8)
        self.manager().systemctl('thaw', app)
        self.wait_registry(lambda q: q[app].VmStatus == 'Running', f'{app} Running again', timeout=8)

        # The admin stops within its grace period: no pile of polls to work through.
        start = time.monotonic()
        self.assertEqual(bed.stop_admin(), 0, bed.admin_log())
        self.assertLess(time.monotonic() - start, 10)


class UpstreamStyleAgent(AdminTestCase):
    """An agent that behaves as upstream's Go agent does: it keeps failed application units, and a
    name that is taken fails with UNKNOWN and systemd's "already exists" (ours collects ended units
    and says ALREADY_EXISTS). A python3-grpcio stand-in, registered with its own certificate."""

    NAME = 'legacy-vm'
    ADDR = '127.0.0.7'

    class Agent(S.systemd_pb2_grpc.UnitControlServiceServicer):
        def __init__(self):
            self.units = {'givc-legacy-vm.service': 'active', 'foot@0.service': 'failed'}
            self.started = []

        def StartApplication(self, request, context):
            self.started.append(request.UnitName)
            if request.UnitName in self.units:
                context.abort(grpc.StatusCode.UNKNOWN, 'error starting application: '
                              f'org.freedesktop.systemd1.UnitExists (Unit {request.UnitName} already exists.)')
            self.units[request.UnitName] = 'failed' if request.UnitName.startswith('crash@') else 'active'
            return S.systemd_pb2.UnitResponse(CmdStatus=OK)

        def GetUnitStatus(self, request, context):
            state = self.units.get(request.UnitName)
            if state is None:
                context.abort(grpc.StatusCode.NOT_FOUND, 'cannot get unit status')
            return S.systemd_pb2.UnitStatusResponse(CmdStatus=OK, UnitStatus=S.systemd_pb2.UnitStatus(
                Name=request.UnitName, Description=request.UnitName, LoadState='loaded', ActiveState=state,
                SubState='running' if state == 'active' else 'failed', Path='/x', FreezerState='running'))

    def setUp(self):
        super().setUp()
        paths = self.bed._issue(self.NAME, self.ADDR)
        self.agent = self.Agent()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        S.systemd_pb2_grpc.add_UnitControlServiceServicer_to_server(self.agent, server)
        creds = grpc.ssl_server_credentials([(givctest.read(paths['key']), givctest.read(paths['cert']))],
                                            root_certificates=givctest.read(paths['ca']),
                                            require_client_auth=True)
        port = server.add_secure_port(f'{self.ADDR}:0', creds)
        server.start()
        self.addCleanup(server.stop, 0)
        with self.bed.channel(ADMIN, client=self.NAME) as ch:
            r = S.admin_pb2_grpc.AdminServiceStub(ch).RegisterService(
                registration(agent_unit(self.NAME), vm_unit(self.NAME), 12, self.NAME, self.ADDR, port),
                timeout=30)
            self.assertFalse(r.HasField('Error'))
        self.wait_registry(lambda q: q.get(agent_unit(self.NAME)) and q[agent_unit(self.NAME)].Description,
                           'the stand-in agent registered and polled')

    def test_taken_names_are_skipped(self):
        # foot@0 is a failed unit the agent kept: the admin goes on to foot@1.
        self.assertEqual(self.start_instance('foot', self.NAME), 'foot@1.service')
        self.assertEqual(self.agent.started, ['foot@0.service', 'foot@1.service'])
        # And remembers: the next start does not try foot@0 again.
        self.assertEqual(self.start_instance('foot', self.NAME), 'foot@2.service')
        self.assertEqual(self.agent.started[2:], ['foot@2.service'])

    def test_application_that_fails_at_once(self):
        e = self.assert_rpc_error(grpc.StatusCode.UNKNOWN, self.admin.StartApplication,
                                  A.ApplicationRequest(AppName='crash', VmName=self.NAME),
                                  "'crash@0.service' started, but failed at once")
        self.assertNotIn('crash@0.service', self.query(), e.details())
        # Its failed unit keeps the name: the next start takes another.
        self.assert_rpc_error(grpc.StatusCode.UNKNOWN, self.admin.StartApplication,
                              A.ApplicationRequest(AppName='crash', VmName=self.NAME), "'crash@1.service'")
        self.assertEqual(self.agent.started, ['crash@0.service', 'crash@1.service'])


class Identity(AdminTestCase):

    VMS = (CHROMIUM,)

    def test_registration_must_match_the_certificate(self):
        before = {n: item_fields(e) for n, e in self.query().items()}
        denied = grpc.StatusCode.PERMISSION_DENIED
        host_addr, port = self.bed.addr(HOST), self.bed.port
        with self.bed.channel(ADMIN, client=CHROMIUM) as ch:
            a = S.admin_pb2_grpc.AdminServiceStub(ch)
            # Posing as the host agent, with either transport name.
            for tls_name in (HOST, CHROMIUM):
                self.assert_rpc_error(denied, a.RegisterService,
                                      registration(agent_unit(HOST), '', 0, tls_name, host_addr, port),
                                      "a certificate for 'chromium-vm'", "'givc-ghaf-host.service'")
            # Its own agent name, but somebody else's transport name.
            self.assert_rpc_error(denied, a.RegisterService,
                                  registration(agent_unit(CHROMIUM), vm_unit(CHROMIUM), 12, HOST,
                                               self.bed.addr(CHROMIUM), port),
                                  "must be 'chromium-vm'")
            # A service under another agent.
            self.assert_rpc_error(denied, a.RegisterService,
                                  registration('evil.service', agent_unit(HOST), 1, CHROMIUM),
                                  "'evil.service' belongs to 'ghaf-host'")
            # Not an agent's name at all.
            self.assert_rpc_error(denied, a.RegisterService,
                                  registration('sshd.service', '', 12, CHROMIUM), 'givc-<name>.service')
            # A service of its own that would replace the host agent's entry.
            self.assert_rpc_error(denied, a.RegisterService,
                                  registration(agent_unit(HOST), agent_unit(CHROMIUM), 13, CHROMIUM),
                                  "is an agent's name")
            # Its own agent, but as a second host agent (it would receive the power requests).
            self.assert_rpc_error(denied, a.RegisterService,
                                  registration(agent_unit(CHROMIUM), '', 0, CHROMIUM, self.bed.addr(CHROMIUM),
                                               port),
                                  "'givc-ghaf-host.service' is the host agent already")
            # Its own agent, placed in something that is not its VM: with --restart-vms the admin
            # would start that unit on the host.
            self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, a.RegisterService,
                                  registration(agent_unit(CHROMIUM), 'poweroff.target', 12, CHROMIUM,
                                               self.bed.addr(CHROMIUM), port),
                                  "must be its VM's unit 'microvm@NAME.service'")
            self.assert_rpc_error(denied, a.RegisterService,
                                  registration(agent_unit(CHROMIUM), vm_unit(GUI), 12, CHROMIUM,
                                               self.bed.addr(CHROMIUM), port),
                                  "can only be placed in 'microvm@chromium-vm.service'")
            self.assertEqual({n: item_fields(e) for n, e in self.query().items()}, before)

            # What the certificate allows: its own agent and its services.
            r = a.RegisterService(registration(agent_unit(CHROMIUM), vm_unit(CHROMIUM), 12, CHROMIUM,
                                               self.bed.addr(CHROMIUM), port), timeout=30)
            self.assertFalse(r.HasField('Error'))
            r = a.RegisterService(registration('extra.service', agent_unit(CHROMIUM), 13, CHROMIUM), timeout=30)
            self.assertFalse(r.HasField('Error'))
        q = self.query()
        self.assertEqual(item_fields(q['extra.service'])[4:],
                         ('AppVM', 'Svc', vm_unit(CHROMIUM), agent_unit(CHROMIUM)))
        self.assertEqual(item_fields(q[agent_unit(CHROMIUM)]), before[agent_unit(CHROMIUM)])
        self.assertEqual(item_fields(q[agent_unit(HOST)]), before[agent_unit(HOST)])
        # The host agent is still the one that powers off.
        self.admin.Poweroff(A.Empty(), timeout=60)
        self.assertEqual(self.bed.targets_reached(), ['poweroff'])


class Watch(AdminTestCase):

    VMS = (CHROMIUM,)

    # Events for the slow subscriber: each a WatchItem of about this size.
    BULK_DESCRIPTION = 4096
    BULK_EVENTS = 2000

    def test_events_in_the_order_they_happened(self):
        watch = WatchReader(self.admin)
        self.addCleanup(watch.close)
        initial = watch.wait(lambda items: items, 'Initial')[0]
        self.assertEqual(initial.WhichOneof('Status'), 'Initial')
        self.assertEqual(sorted(i.Name for i in initial.Initial.List), sorted(self.query()))

        name = self.start_instance()
        request = self.app_request(name)
        self.admin.PauseApplication(request, timeout=60)
        self.admin.ResumeApplication(request, timeout=60)
        self.admin.StopApplication(request, timeout=60)
        watch.wait(lambda items: [k for k, _ in watch.events(name) if k == 'Removed'], f'{name} Removed')
        # Exactly these: a change clients cannot see (a FreezerState of "freezing" caught by the
        # monitor, say) sends nothing. Upstream even repeats every entry every round.
        self.assertEqual([(k, item_fields(e)[2]) for k, e in watch.events(name)],
                         [('Added', 'Running'), ('Updated', 'Paused'), ('Updated', 'Running'),
                          ('Removed', 'Running')])
        added = watch.events(name)[0][1]
        self.assertEqual((added.VmType, added.ServiceType, added.AgentName), ('AppVM', 'App', agent_unit(CHROMIUM)))
        self.assertIsNone(watch.error)

    def test_quiet_registry_sends_nothing(self):
        watch = WatchReader(self.admin)
        self.addCleanup(watch.close)
        watch.wait(lambda items: items, 'Initial')
        self.start_instance()
        time.sleep(1.5)     # the start's own events, and the first poll of the new instance
        before = watch.events()
        time.sleep(3.5)     # three monitor rounds (1 s) that poll every entry and find nothing new
        self.assertEqual(watch.events()[len(before):], [])

    def test_subscriber_that_does_not_read_is_ended(self):
        bed = self.bed
        # Its own connection, without BDP probing: the stream's flow control
        # window stays at 64 KiB, so what the client does not read piles up
        # in the admin's per-subscriber queue (1024 messages).
        slow_ch = grpc.secure_channel(bed.address(ADMIN), givctest.credentials(bed.paths(HOST)),
                                      options=[('grpc.ssl_target_name_override', ADMIN),
                                               ('grpc.http2.bdp_probe', 0)])
        self.addCleanup(slow_ch.close)
        slow = S.admin_pb2_grpc.AdminServiceStub(slow_ch).Watch(A.Empty(), timeout=120)
        self.addCleanup(slow.cancel)
        self.assertEqual(next(slow).WhichOneof('Status'), 'Initial')     # it is subscribed; then it reads no more
        fast = WatchReader(self.admin)
        self.addCleanup(fast.close)
        fast.wait(lambda items: items, 'Initial')

        # Changes of one big entry: 'givc-admin-vm.service' is nobody's agent,
        # so the service stays an endpoint of its own. Every registration
        # switches its type (admin VM or system VM service), a change that
        # subscribers see. The admin's certificate may register it.
        name = 'bulky.service'
        parent = agent_unit(ADMIN)
        with bed.channel(ADMIN, client=ADMIN) as ch:
            reg = S.admin_pb2_grpc.AdminServiceStub(ch)
            reg.RegisterService(registration(name, parent, 5, ADMIN, port=1,
                                              description='x' * self.BULK_DESCRIPTION), timeout=30)
            fast.wait(lambda items: fast.events(name), f'{name} added')

            def changes():
                return len([k for k, _ in fast.events(name) if k == 'Updated'])
            batch = 100
            for start in range(0, self.BULK_EVENTS, batch):
                # One after the other: the types must alternate in the order the admin sees them.
                for i in range(start, start + batch):
                    reply = reg.RegisterService(registration(name, parent, 9 if i % 2 == 0 else 5, ADMIN,
                                                             port=2 + i), timeout=60)
                    self.assertFalse(reply.HasField('Error'))
                # The reading subscriber keeps up and sees every change (and the
                # monitor's, as it polls the endpoint that is not there).
                fast.wait(lambda items: changes() >= start + batch, f'{start + batch} changes', timeout=60)

        # The slow one gets what was queued for it, then the end.
        received = 0
        with self.assertRaises(grpc.RpcError) as cm:
            for _ in slow:
                received += 1
        self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, cm.exception.details())
        self.assertIn('fell behind', cm.exception.details())
        # At least the admin's queue (1024 messages) went unread before it gave up.
        self.assertGreaterEqual(received, 1024)
        self.assertLess(received, self.BULK_EVENTS)
        # The other subscriber and the registry are unaffected.
        self.assertFalse(fast.ended, fast.error)
        name2 = self.start_instance()
        fast.wait(lambda items: fast.events(name2), f'{name2} added')
        self.assertEqual(self.query()[agent_unit(HOST)].VmStatus, 'Running')

    def test_streams_end_when_the_admin_stops(self):
        watches = [WatchReader(self.admin, timeout=120) for _ in range(2)]
        for w in watches:
            self.addCleanup(w.close)
            w.wait(lambda items: items, 'Initial')
        self.assertEqual(self.bed.stop_admin(), 0, self.bed.admin_log())
        for w in watches:
            error = w.wait_end(30)
            self.assertIsNotNone(error, 'the stream ended without a status')
            self.assertEqual(error.code(), grpc.StatusCode.UNAVAILABLE, error.details())
            self.assertIn('shutting down', error.details())


if __name__ == '__main__':
    givctest.main()
