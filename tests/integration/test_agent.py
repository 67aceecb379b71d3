#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The agent against a real systemd user manager, driven by python3-grpcio.

Every check on systemd's side is made with systemctl, not through the agent.
A stand-in admin (a small python3-grpcio server) receives registrations;
python-dbusmock plays systemd-localed and systemd-timedated.
"""

import json
import os
import signal
import subprocess
import threading
import time
from concurrent import futures

import grpc

import givctest
import systemd_harness
from givctest import Certs, channel, free_port

S = givctest.stubs()

# An application that runs until stopped, whatever its arguments.
APP_SCRIPT = '#!/bin/sh\nexec sleep 600\n'


def applications(tmp):
    script = os.path.join(tmp, 'app.sh')
    if not os.path.exists(script):
        with open(script, 'w') as f:
            f.write(APP_SCRIPT)
        os.chmod(script, 0o755)
    return [
        {'name': 'sleepy', 'command': '/bin/sleep 600'},
        {'name': 'browser', 'command': script, 'args': ['flag', 'url', 'file']},
        {'name': 'clearexit', 'command': '/bin/true'},
    ]

DEMO_UNIT = """[Unit]
Description=Demo service for givc tests

[Service]
ExecStart=/bin/sleep 600
"""


def first_sample(units):
    """MonitorUnit as a unary call: its first message (or its error)."""
    return lambda request, timeout: next(units.MonitorUnit(request, timeout=timeout))


class FakeAdmin(S.admin_pb2_grpc.AdminServiceServicer):
    """A stand-in admin that records registrations."""

    def __init__(self):
        self.requests = []
        self.cond = threading.Condition()

    def RegisterService(self, request, context):
        with self.cond:
            self.requests.append(request)
            self.cond.notify_all()
        return S.admin_pb2.RegistryResponse()

    def wait_for(self, n, timeout=20):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError('%d registrations, wanted %d' % (len(self.requests), n))
            return list(self.requests)


class AdminServer:
    """The stand-in admin's gRPC server, on a fixed port so it can restart."""

    def __init__(self, port, paths):
        self.port = port
        self.paths = paths
        self.fake = FakeAdmin()
        self.server = None

    def start(self):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        S.admin_pb2_grpc.add_AdminServiceServicer_to_server(self.fake, self.server)
        creds = grpc.ssl_server_credentials([(givctest.read(self.paths['key']), givctest.read(self.paths['cert']))],
                                            root_certificates=givctest.read(self.paths['ca']),
                                            require_client_auth=True)
        self.server.add_secure_port('127.0.0.1:%d' % self.port, creds)
        self.server.start()
        return self

    def stop(self):
        if self.server:
            self.server.stop(None).wait()
            self.server = None


class AgentTestBase(givctest.TestCase):
    """One user manager for the class; a fresh agent for each test."""

    @classmethod
    def setUpClass(cls):
        cls.manager = systemd_harness.UserManager('agent-test').start()
        cls.manager.write_unit('demo.service', DEMO_UNIT)
        cls.manager.write_unit('stopped.service', DEMO_UNIT)
        cls.manager.write_unit('sleepy@.service', DEMO_UNIT)
        cls.manager.daemon_reload()

    @classmethod
    def tearDownClass(cls):
        cls.manager.stop()

    def setUp(self):
        super().setUp()
        self.certs = Certs(self.tmp)
        self.agent_paths = self.certs.issue('test-vm', ips=['127.0.0.1'])
        self.admin_paths = self.certs.issue('admin-vm', ips=['127.0.0.1'])
        self.port = free_port()
        self.admin_port = free_port()
        self.admin = None

    def tearDown(self):
        if self.admin:
            self.admin.stop()
        for u in ('demo.service',):
            self.manager.systemctl('stop', u, check=False)
        super().tearDown()

    def agent_env(self, **overrides):
        env = self.manager.env()
        env.update({
            'AGENT': json.dumps({'name': 'test-vm', 'addr': '127.0.0.1', 'port': str(self.port), 'protocol': 'tcp'}),
            'ADMIN_SERVER': json.dumps({'name': 'admin-vm', 'addr': '127.0.0.1', 'port': str(self.admin_port),
                                        'protocol': 'tcp'}),
            'TLS_CONFIG': json.dumps({'enable': True, 'caCertPath': self.agent_paths['ca'],
                                      'certPath': self.agent_paths['cert'], 'keyPath': self.agent_paths['key']}),
            'TYPE': '12',
            'SUBTYPE': '13',
            'PARENT': 'microvm@test-vm.service',
            'SERVICES': 'demo.service stopped.service missing.service poweroff.target',
            'APPLICATIONS': json.dumps(applications(self.tmp)),
        })
        env.update(overrides)
        return env

    def start_agent(self, args=('--user',), env=None, name='agent'):
        return self.server(['agent', *args], env=env or self.agent_env(), name=name).start()

    def start_admin(self):
        self.admin = AdminServer(self.admin_port, self.admin_paths).start()
        return self.admin

    def ch(self):
        return channel('127.0.0.1:%d' % self.port, self.admin_paths, 'test-vm')

    def units(self, ch):
        return S.systemd_pb2_grpc.UnitControlServiceStub(ch)

    def status(self, ch, unit):
        return self.units(ch).GetUnitStatus(S.systemd_pb2.UnitRequest(UnitName=unit), timeout=10)

    def assert_code(self, code, fn, *args, contains=None):
        with self.assertRaises(grpc.RpcError) as e:
            fn(*args, timeout=10)
        self.assertEqual(e.exception.code(), code, e.exception.details())
        if contains:
            self.assertIn(contains, e.exception.details())
        return e.exception


class UnitControl(AgentTestBase):

    def test_status(self):
        self.manager.systemctl('start', 'demo.service')
        self.start_agent()
        with self.ch() as ch:
            r = self.status(ch, 'demo.service')
            self.assertEqual(r.CmdStatus, 'Command successful')
            u = r.UnitStatus
            self.assertEqual((u.Name, u.Description, u.LoadState, u.ActiveState, u.SubState, u.FreezerState),
                             ('demo.service', 'Demo service for givc tests', 'loaded', 'active', 'running',
                              'running'))
            self.assertEqual(u.Path, '/org/freedesktop/systemd1/unit/demo_2eservice')

            u = self.status(ch, 'stopped.service').UnitStatus
            self.assertEqual((u.LoadState, u.ActiveState, u.SubState), ('loaded', 'inactive', 'dead'))

            # Whitelisted but unknown to systemd: a status, as upstream (the admin relies on it).
            u = self.status(ch, 'missing.service').UnitStatus
            self.assertEqual((u.LoadState, u.ActiveState, u.SubState), ('not-found', 'inactive', 'dead'))

            # The agent's own unit is always allowed.
            self.assertEqual(self.status(ch, 'givc-test-vm.service').UnitStatus.Name, 'givc-test-vm.service')

    def test_whitelist(self):
        self.start_agent()
        with self.ch() as ch:
            u = self.units(ch)
            for method in (u.GetUnitStatus, u.StartUnit, u.StopUnit, u.KillUnit, u.FreezeUnit, u.UnfreezeUnit):
                self.assert_code(grpc.StatusCode.NOT_FOUND, method, S.systemd_pb2.UnitRequest(UnitName='ssh.service'),
                                 contains="'ssh.service' is not one this agent controls")
            self.assert_code(grpc.StatusCode.NOT_FOUND, first_sample(u),
                             S.systemd_pb2.UnitResourceRequest(UnitName='dbus.service'))
            # An instance of an application not in the manifest.
            self.assert_code(grpc.StatusCode.NOT_FOUND, u.GetUnitStatus,
                             S.systemd_pb2.UnitRequest(UnitName='evil@1.service'))
            # Named like an instance of a manifest application ("sleepy"), but a unit of the system
            # (an instance of a template in a unit file), not one the agent started.
            self.manager.systemctl('start', 'sleepy@7.service')
            self.addCleanup(self.manager.systemctl, 'stop', 'sleepy@7.service', check=False)
            for method in (u.GetUnitStatus, u.StopUnit, u.KillUnit, u.FreezeUnit):
                self.assert_code(grpc.StatusCode.NOT_FOUND, method, S.systemd_pb2.UnitRequest(UnitName='sleepy@7.service'),
                                 contains='is not an application instance')
            self.assertEqual(self.manager.show('sleepy@7.service', 'ActiveState')['ActiveState'], 'active')

    def test_start_stop_kill(self):
        self.start_agent()
        with self.ch() as ch:
            u = self.units(ch)
            req = S.systemd_pb2.UnitRequest(UnitName='demo.service')
            self.assertEqual(u.StartUnit(req, timeout=30).CmdStatus, 'Command successful')
            shown = self.manager.show('demo.service', 'ActiveState', 'MainPID')
            self.assertEqual(shown['ActiveState'], 'active')

            # Starting a running unit leaves it alone (upstream restarted it).
            u.StartUnit(req, timeout=30)
            self.assertEqual(self.manager.show('demo.service', 'MainPID')['MainPID'], shown['MainPID'])

            self.assertEqual(u.StopUnit(req, timeout=30).CmdStatus, 'Command successful')
            self.assertEqual(self.manager.show('demo.service', 'ActiveState')['ActiveState'], 'inactive')

            # Kill: with nothing running, a real error (upstream said "Command successful").
            self.assert_code(grpc.StatusCode.NOT_FOUND, u.KillUnit, req, contains='cannot kill unit')

            u.StartUnit(req, timeout=30)
            self.assertEqual(u.KillUnit(req, timeout=30).CmdStatus, 'Command successful')
            self.manager.wait_for('demo.service', 'ActiveState', 'failed')
            self.assertEqual(self.manager.show('demo.service', 'Result')['Result'], 'signal')
            self.manager.systemctl('reset-failed', 'demo.service')

            # A unit systemd does not have cannot be started: NOT_FOUND, with systemd's reason.
            self.assert_code(grpc.StatusCode.NOT_FOUND, u.StartUnit,
                             S.systemd_pb2.UnitRequest(UnitName='missing.service'), contains='cannot start unit')

    def test_freeze_thaw(self):
        self.manager.systemctl('start', 'demo.service')
        self.start_agent()
        with self.ch() as ch:
            u = self.units(ch)
            req = S.systemd_pb2.UnitRequest(UnitName='demo.service')
            self.assertEqual(u.FreezeUnit(req, timeout=30).CmdStatus, 'Command successful')
            self.assertEqual(self.manager.show('demo.service', 'FreezerState')['FreezerState'], 'frozen')
            self.assertEqual(self.manager.cgroup_events('demo.service').get('frozen'), '1')
            self.assertEqual(self.status(ch, 'demo.service').UnitStatus.FreezerState, 'frozen')

            self.assertEqual(u.UnfreezeUnit(req, timeout=30).CmdStatus, 'Command successful')
            self.assertEqual(self.manager.show('demo.service', 'FreezerState')['FreezerState'], 'running')
            self.assertEqual(self.manager.cgroup_events('demo.service').get('frozen'), '0')

    def test_monitor(self):
        self.manager.systemctl('start', 'demo.service')
        self.start_agent()
        with self.ch() as ch:
            u = self.units(ch)
            stream = u.MonitorUnit(S.systemd_pb2.UnitResourceRequest(UnitName='demo.service'), timeout=30)
            samples = [next(stream) for _ in range(3)]
            for s in samples:
                self.assertGreaterEqual(s.CpuUsage, 0.0)
                self.assertGreater(s.MemoryUsage, 0.0)
                self.assertLess(s.MemoryUsage, 100.0)
            # The client goes away: the stream ends, and the agent goes on serving.
            stream.cancel()
            self.assertEqual(self.status(ch, 'demo.service').UnitStatus.ActiveState, 'active')

            # The unit stops: the stream ends early (long before 50 samples), cleanly.
            stream = u.MonitorUnit(S.systemd_pb2.UnitResourceRequest(UnitName='demo.service'), timeout=30)
            next(stream)
            self.manager.systemctl('stop', 'demo.service')
            rest = list(stream)
            self.assertLess(len(rest), 10)

            # Monitoring an inactive unit is refused.
            self.assert_code(grpc.StatusCode.FAILED_PRECONDITION, first_sample(u),
                             S.systemd_pb2.UnitResourceRequest(UnitName='stopped.service'))


    def test_signals_do_not_pile_up(self):
        # systemd sends every unit and job signal to every client of its private socket; an agent
        # that left such a connection unread made the manager's memory grow with each change
        # (an audit: 1,500 start/stop cycles, 10.7 → 81 MB). Through the bus, nothing piles up.
        def rss(pid):
            with open(f'/proc/{pid}/status') as f:
                return int(f.read().split('VmRSS:')[1].split()[0]) * 1024
        agent = self.start_agent()
        with self.ch() as ch:
            u = self.units(ch)
            req = S.systemd_pb2.UnitRequest(UnitName='demo.service')
            for _ in range(20):     # every worker thread has its connections
                self.status(ch, 'demo.service')
            manager_before, agent_before = rss(self.manager.pid), rss(agent.proc.pid)
            for _ in range(600):
                u.StartUnit(req, timeout=30)
                u.StopUnit(req, timeout=30)
            for _ in range(20):
                self.status(ch, 'demo.service')
        # Each cycle cost the manager about 47 KB per unread connection: 28 MB for one.
        self.assertLess(rss(self.manager.pid) - manager_before, 8 << 20)
        self.assertLess(rss(agent.proc.pid) - agent_before, 8 << 20)


class Applications(AgentTestBase):

    def app_units(self):
        r = self.manager.systemctl('list-units', '--all', '--plain', '--no-legend', '*@*.service', check=False)
        return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]

    def start_app(self, ch, unit, args=()):
        return self.units(ch).StartApplication(S.systemd_pb2.AppUnitRequest(UnitName=unit, Args=list(args)),
                                               timeout=30)

    def test_start_with_arguments(self):
        self.start_agent()
        with self.ch() as ch:
            r = self.start_app(ch, 'browser@1.service', ['--incognito', 'https://example.com/a?b=1', '/tmp/x y.pdf',
                                                         '-v'])
            self.assertEqual(r.CmdStatus, 'Command successful.')
            shown = self.manager.show('browser@1.service', 'ActiveState', 'Type', 'Description', 'ExecStart',
                                      'Environment')
            self.assertEqual(shown['ActiveState'], 'active')
            self.assertEqual(shown['Type'], 'exec')
            self.assertEqual(shown['Description'], 'Application service for browser')
            self.assertIn('argv[]=%s --incognito https://example.com/a?b=1 /tmp/x y.pdf -v'
                          % os.path.join(self.tmp, 'app.sh'), shown['ExecStart'])
            self.assertIn('XDG_CONFIG_DIRS=', shown['Environment'])
            self.assertNotIn('$XDG_CONFIG_DIRS', shown['Environment'])

            # The running instance is controllable; a second start of it is refused, not replaced.
            self.assertEqual(self.status(ch, 'browser@1.service').UnitStatus.ActiveState, 'active')
            self.assert_code(grpc.StatusCode.ALREADY_EXISTS, self.units(ch).StartApplication,
                             S.systemd_pb2.AppUnitRequest(UnitName='browser@1.service'))
            self.units(ch).StopUnit(S.systemd_pb2.UnitRequest(UnitName='browser@1.service'), timeout=30)
            # Transient: gone once stopped, and the name can be used again.
            u = self.status(ch, 'browser@1.service').UnitStatus
            self.assertEqual((u.LoadState, u.ActiveState), ('not-found', 'inactive'))
            self.start_app(ch, 'browser@1.service', ['--again'])
            self.units(ch).KillUnit(S.systemd_pb2.UnitRequest(UnitName='browser@1.service'), timeout=30)

    def test_app_that_exits_disappears(self):
        self.start_agent()
        with self.ch() as ch:
            self.start_app(ch, 'clearexit@0.service')
            deadline = time.monotonic() + 10
            while self.status(ch, 'clearexit@0.service').UnitStatus.LoadState != 'not-found':
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)

    def test_rejections_create_no_unit(self):
        self.start_agent()
        before = self.app_units()
        vectors = [
            # (unit, args, code)
            ('test-app3@1.service', [], grpc.StatusCode.NOT_FOUND),          # not in the manifest
            ('sleepy@1.service', ['--incognito'], grpc.StatusCode.INVALID_ARGUMENT),  # takes no arguments
            ('browser@1.service', ['--incognito;echo something'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['-x=1'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['file:///etc/passwd'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['https://example.com$(touch IWASHERE)'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['https://example.com/ $(touch IWASHERE)'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['$(touch IWASHERE)https://google.com'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['https://example.com\\%20$(touch IWASHERE)'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['https://example.com/a;\\$(touch IWASHERE)'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['https://example.com;touch IWASHERE'], grpc.StatusCode.INVALID_ARGUMENT),
            ("browser@1.service", ["https://example.com/'$(touch IWASHERE)"], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['https://bob:pass123@www.example.com/'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['/etc/../etc/shadow'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@1.service', ['relative/file'], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@valid@x.service', [], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser@.service', [], grpc.StatusCode.INVALID_ARGUMENT),
            ('browser.service', [], grpc.StatusCode.NOT_FOUND),
            ('browser@1.service;id', [], grpc.StatusCode.INVALID_ARGUMENT),
        ]
        with self.ch() as ch:
            for unit, args, code in vectors:
                with self.subTest(unit=unit, args=args):
                    self.assert_code(code, self.units(ch).StartApplication,
                                     S.systemd_pb2.AppUnitRequest(UnitName=unit, Args=args))
        self.assertEqual(self.app_units(), before)
        self.assertFalse(os.path.exists('IWASHERE'))


class LocaleAndTimezone(AgentTestBase):

    def setUp(self):
        super().setUp()
        self.bus_address, self.stop_bus = systemd_harness.dbus_daemon(self.tmp)
        self.mock = systemd_harness.DbusMockServices(self.bus_address, log_dir=self.tmp).start()

    def tearDown(self):
        self.mock.stop()
        self.stop_bus()
        super().tearDown()

    def test_locale_and_timezone(self):
        self.start_agent(env=self.agent_env(DBUS_SYSTEM_BUS_ADDRESS=self.bus_address))
        with self.ch() as ch:
            loc = S.locale_pb2_grpc.LocaleClientStub(ch)
            loc.LocaleSet(S.locale_pb2.LocaleMessage(Locale='fi_FI@euro.UTF-8'), timeout=10)
            self.assertEqual(self.mock.locale(), ['LANG=fi_FI@euro.UTF-8'])
            # As upstream: units started from now on get the new LANG.
            env = self.manager.systemctl('show-environment').stdout
            self.assertIn('LANG=fi_FI@euro.UTF-8', env.splitlines())

            loc.TimezoneSet(S.locale_pb2.TimezoneMessage(Timezone='America/Argentina/Rio_Gallegos'), timeout=10)
            self.assertEqual(self.mock.timezone(), 'America/Argentina/Rio_Gallegos')

            # The agent trusts no caller: the admin's rules, and nothing reaches D-Bus.
            calls = len(self.mock.calls(self.mock.LOCALE))
            for bad in ('`rm -Rf --no-preserve-root /`', '; whoami', 'iwaenfli', ''):
                self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, loc.LocaleSet, S.locale_pb2.LocaleMessage(Locale=bad))
            for bad in ('/foobar', '`whoami`', 'Almost//Valid'):
                self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, loc.TimezoneSet,
                                 S.locale_pb2.TimezoneMessage(Timezone=bad))
            self.assertEqual(len(self.mock.calls(self.mock.LOCALE)), calls)

    def test_user_agent_denied_by_localed(self):
        # An app VM's agent runs as its user, whom localed (polkit) may not let change the system
        # locale: its manager's LANG, which its applications get, is set all the same.
        self.mock.stop()
        self.mock = systemd_harness.DbusMockServices(self.bus_address, log_dir=self.tmp,
                                                     locale_parameters={'DenySetLocale': True}).start()
        self.start_agent(env=self.agent_env(DBUS_SYSTEM_BUS_ADDRESS=self.bus_address))
        with self.ch() as ch:
            S.locale_pb2_grpc.LocaleClientStub(ch).LocaleSet(S.locale_pb2.LocaleMessage(Locale='sv_SE.UTF-8'),
                                                             timeout=10)
        self.assertEqual(self.mock.locale(), ['LANG=C'])
        self.assertIn('LANG=sv_SE.UTF-8', self.manager.systemctl('show-environment').stdout.splitlines())

    def test_localed_missing(self):
        # A bus without localed: a clear error, not silence.
        self.mock.stop()
        self.start_agent(env=self.agent_env(DBUS_SYSTEM_BUS_ADDRESS=self.bus_address))
        with self.ch() as ch:
            self.assert_code(grpc.StatusCode.UNAVAILABLE, S.locale_pb2_grpc.LocaleClientStub(ch).LocaleSet,
                             S.locale_pb2.LocaleMessage(Locale='C'), contains='systemd-localed')


class Registration(AgentTestBase):

    def test_admin_starts_late_and_restarts(self):
        self.start_agent()
        time.sleep(0.3)  # let the agent find the admin missing first
        admin = self.start_admin()
        reqs = admin.fake.wait_for(4)
        agent = reqs[0]
        self.assertEqual(agent.Name, 'givc-test-vm.service')
        self.assertEqual(agent.Type, 12)
        self.assertEqual(agent.Parent, 'microvm@test-vm.service')
        self.assertEqual((agent.Transport.Protocol, agent.Transport.Address, agent.Transport.Port,
                          agent.Transport.Name), ('tcp', '127.0.0.1', str(self.port), 'test-vm'))
        self.assertEqual(agent.State.Name, 'givc-test-vm.service')
        services = sorted(r.Name for r in reqs[1:4])
        # Each .service of SERVICES, in order; targets are not registered.
        self.assertEqual(services, ['demo.service', 'missing.service', 'stopped.service'])
        self.assertTrue(all(r.Parent == 'givc-test-vm.service' and r.Type == 13 for r in reqs[1:4]))

        # The admin restarts (a new process: nothing remembered); the agent registers again.
        admin.stop()
        time.sleep(0.2)
        admin = self.start_admin()
        reqs = admin.fake.wait_for(1, timeout=10)
        self.assertEqual(reqs[0].Name, 'givc-test-vm.service')

    def test_registration_is_mutual_tls(self):
        # An admin with a certificate from another CA is not trusted by the agent.
        other = Certs(os.path.join(self.tmp, 'other')).issue('admin-vm', ips=['127.0.0.1'])
        self.admin = AdminServer(self.admin_port, dict(other, ca=self.agent_paths['ca'])).start()
        srv = self.start_agent(args=('--user', '--debug'))
        time.sleep(1.5)
        self.assertEqual(self.admin.fake.requests, [])
        self.assertIn('waiting for the admin', srv.logs())


class Configuration(AgentTestBase):

    def run_agent(self, *args, env):
        return givctest.run_givc('agent', *args, env=env, timeout=30)

    def test_bad_configuration(self):
        cases = [
            ({'AGENT': ''}, 'has no name'),
            ({'AGENT': '{"name": "x",'}, 'AGENT is not valid JSON'),
            ({'ADMIN_SERVER': ''}, 'the admin has no address'),
            ({'TYPE': ''}, 'no TYPE given'),
            ({'TYPE': '15'}, "TYPE='15' is not a unit type"),
            ({'SUBTYPE': 'x'}, "SUBTYPE='x' is not a unit type"),
            ({'APPLICATIONS': '[{"name":"a","command":"x","args":["argument"]}]'},
             "application argument type 'argument' not supported"),
            ({'APPLICATIONS': '[{"name":"a","command":"x"},{"name":"a","command":"y"}]'}, 'duplicate application name'),
            ({'APPLICATIONS': '{"name":"a"}'}, 'APPLICATIONS'),
            ({'SERVICES': 'good.service bad/unit'}, "'bad/unit' is not a unit name"),
            ({'TLS_CONFIG': '{"enable": true}'}, 'no CA certificate'),
            ({'TLS_CONFIG': json.dumps({'enable': True, 'caCertPath': '/nonexistent/ca.pem', 'certPath': '/x',
                                        'keyPath': '/y'})}, '/nonexistent/ca.pem'),
        ]
        for overrides, expected in cases:
            with self.subTest(expected=expected):
                r = self.run_agent('--user', env=self.agent_env(**overrides))
                self.assertIn(r.returncode, (1, 2), r.stderr)
                self.assertIn(expected, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = self.run_agent('--user', '--check-config', env=self.agent_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_agent('--user', '--type', '99', env=self.agent_env())
        self.assertEqual(r.returncode, 2)
        self.assertIn("--type '99'", r.stderr)

    def test_manager_unreachable(self):
        env = self.agent_env(DBUS_SESSION_BUS_ADDRESS='unix:path=' + os.path.join(self.tmp, 'no-bus'),
                             XDG_RUNTIME_DIR=self.tmp)
        r = self.run_agent('--user', env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('cannot connect to the user bus', r.stderr)

    def test_hwid(self):
        srv = self.start_agent(env=self.agent_env(HWID='true', HWID_IFACE='lo'))
        with self.ch() as ch:
            r = S.hwid_pb2_grpc.HwidServiceStub(ch).GetHwId(S.hwid_pb2.HwIdRequest(), timeout=10)
            self.assertEqual(r.Identifier, '00:00:00:00:00:00')
        self.assertEqual(srv.stop(), 0)
        r = self.run_agent('--user', env=self.agent_env(HWID='true', HWID_IFACE='nosuch0'))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no network interface 'nosuch0'", r.stderr)

    def test_unsupported_services_warn(self):
        srv = self.start_agent(env=self.agent_env(WIFI='true'))
        self.assertIn('WIFI is set, but this agent does not serve', srv.logs())
        self.assertEqual(srv.stop(), 0)


class SystemManagerPath(AgentTestBase):

    def test_system_bus_address(self):
        # As root, the agent picks the system manager; point the system bus at the harness's manager.
        env = self.agent_env(DBUS_SYSTEM_BUS_ADDRESS=self.manager.bus_address)
        env.pop('DBUS_SESSION_BUS_ADDRESS', None)
        self.manager.systemctl('start', 'demo.service')
        srv = self.start_agent(args=('--system',), env=env)
        with self.ch() as ch:
            self.assertEqual(self.status(ch, 'demo.service').UnitStatus.ActiveState, 'active')
            self.units(ch).StopUnit(S.systemd_pb2.UnitRequest(UnitName='demo.service'), timeout=30)
        self.assertEqual(self.manager.show('demo.service', 'ActiveState')['ActiveState'], 'inactive')
        self.assertEqual(srv.stop(), 0)


class AsSystemdUnit(AgentTestBase):
    """The agent as it is deployed: a Type=notify unit with a watchdog."""

    def test_notify_status_and_watchdog(self):
        env = self.agent_env()
        env_file = os.path.join(self.tmp, 'agent.env')
        with open(env_file, 'w') as f:
            for key in ('AGENT', 'ADMIN_SERVER', 'TLS_CONFIG', 'TYPE', 'SUBTYPE', 'SERVICES', 'APPLICATIONS'):
                f.write("%s='%s'\n" % (key, env[key]))
        log = os.path.join(self.tmp, 'agent-unit.log')
        self.manager.write_unit('givc-test-vm.service', '''[Unit]
Description=givc agent under test

[Service]
Type=notify
ExecStart=%s agent --user
EnvironmentFile=%s
WatchdogSec=2
StandardOutput=append:%s
StandardError=append:%s
''' % (givctest.GIVC, env_file, log, log))
        self.manager.daemon_reload()
        try:
            # Type=notify: "start" returns once the agent said READY=1.
            self.manager.systemctl('start', 'givc-test-vm.service')
            self.assertEqual(self.manager.show('givc-test-vm.service', 'ActiveState')['ActiveState'], 'active')
            systemd_harness.wait_until(
                lambda: self.manager.show('givc-test-vm.service', 'StatusText')['StatusText'].startswith(
                    'waiting for the admin'), 10, 'the agent to report it waits for the admin')

            # Longer than the watchdog period: pinged, so still running.
            time.sleep(3)
            self.assertEqual(self.manager.show('givc-test-vm.service', 'ActiveState')['ActiveState'], 'active')

            self.start_admin()
            self.admin.fake.wait_for(1)
            systemd_harness.wait_until(
                lambda: 'registered with the admin' in self.manager.show('givc-test-vm.service',
                                                                          'StatusText')['StatusText'],
                10, 'the agent to report its registration')
            # It controls its own unit, too.
            with self.ch() as ch:
                self.assertEqual(self.status(ch, 'givc-test-vm.service').UnitStatus.ActiveState, 'active')

            self.manager.systemctl('stop', 'givc-test-vm.service')
            shown = self.manager.show('givc-test-vm.service', 'ActiveState', 'Result', 'ExecMainStatus')
            self.assertEqual((shown['ActiveState'], shown['Result'], shown['ExecMainStatus']),
                             ('inactive', 'success', '0'))
        finally:
            self.manager.systemctl('stop', 'givc-test-vm.service', check=False)
            with open(log) as f:
                sys_log = f.read()
            self.assertNotIn('watchdog', sys_log.lower())


class Interop(AgentTestBase):

    def test_reflection_lists_agent_services(self):
        self.start_agent()
        with self.ch() as ch:
            call = ch.stream_stream('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
                                    request_serializer=S.reflection_pb2.ServerReflectionRequest.SerializeToString,
                                    response_deserializer=S.reflection_pb2.ServerReflectionResponse.FromString)
            resp = list(call(iter([S.reflection_pb2.ServerReflectionRequest(list_services='')]), timeout=10))
            names = {s.name for s in resp[0].list_services_response.service}
            self.assertTrue({'systemd.UnitControlService', 'locale.LocaleClient', 'grpc.health.v1.Health'} <= names)
            self.assertNotIn('hwid.HwidService', names)  # not configured

    def test_sigterm_with_monitor_running(self):
        self.manager.systemctl('start', 'demo.service')
        srv = self.start_agent()
        with self.ch() as ch:
            stream = self.units(ch).MonitorUnit(S.systemd_pb2.UnitResourceRequest(UnitName='demo.service'),
                                                timeout=30)
            next(stream)
            srv.proc.send_signal(signal.SIGTERM)
            with self.assertRaises(grpc.RpcError):
                list(stream)
        self.assertEqual(srv.stop(), 0, srv.logs())


if __name__ == '__main__':
    givctest.main()
