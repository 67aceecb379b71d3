# SPDX-License-Identifier: Apache-2.0
"""The installed systemd units (applets/units/): verified and run.

`meson install --destdir` into a temporary directory, then:

  * systemd-analyze verify says nothing about givc-admin.service, an instance
    of givc-agent@.service and an instance of the user unit. The installed
    prefix is bind-mounted over the real one in a private mount namespace, so
    the units are verified as installed, ExecStart= paths included.
  * A real systemd manager (the test harness's, see
    tests/integration/systemd_harness.py) runs them with all their sandboxing:
    the admin serves health checks over mutual TLS, the host agent template
    reaches READY and registers with the admin, and so does the user unit of
    an application VM in a second manager. Test drop-ins only point
    EnvironmentFile= at the test's environment files, make the test's
    directory visible through the private /tmp (BindReadOnlyPaths=), and
    mount the installed prefix (or, in the user unit, which has no mount
    namespace, name the installed binary).

Needs root (mount namespaces, the harness); leaves nothing behind.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_ROOT = os.environ.get('GIVC_SOURCE_ROOT',
                             os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
BUILD_ROOT = os.environ.get('GIVC_BUILD_ROOT', '')
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'integration'))
import givctest  # noqa: E402
from systemd_harness import UserManager, wait_until  # noqa: E402

ADMIN_PORT = givctest.free_port()
AGENT_PORT = givctest.free_port()
APP_AGENT_PORT = givctest.free_port()


def find(root, name):
    for top, _, files in os.walk(root):
        if name in files:
            return os.path.join(top, name)
    raise AssertionError(f'{name} was not installed under {root}')


def skip(why):
    """Skips outside CI only: in CI, what the machine cannot do is a failure."""
    if os.environ.get('CI') == 'true':
        raise RuntimeError(why)
    raise unittest.SkipTest(why)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


class Units(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        why = None
        if os.geteuid() != 0:
            why = 'needs root (mount namespaces and real systemd managers)'
        elif not shutil.which('systemd-analyze') or not shutil.which('meson'):
            why = 'needs systemd-analyze and meson'
        elif not BUILD_ROOT:
            why = '$GIVC_BUILD_ROOT must name the build directory'
        if why:
            skip(why)
        # /tmp: the harness keeps its runtime directories there too; the
        # units see it through BindReadOnlyPaths=.
        cls.tmp = tempfile.mkdtemp(prefix='givc-units-', dir='/tmp')
        try:
            cls.install()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def install(cls):
        cls.dest = os.path.join(cls.tmp, 'dest')
        r = subprocess.run(['meson', 'install', '-C', BUILD_ROOT, '--destdir', cls.dest, '--no-rebuild',
                            '--quiet'], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError('meson install failed:\n' + r.stdout + r.stderr)
        givc = [p for p in (os.path.join(top, 'givc') for top, _, files in os.walk(cls.dest) if 'givc' in files)
                if os.path.basename(os.path.dirname(p)) == 'bin']
        if len(givc) != 1:
            raise RuntimeError(f'bin/givc was not installed once: {givc}')
        cls.prefix = os.path.dirname(os.path.dirname(givc[0]))[len(cls.dest):]
        cls.admin_unit = find(cls.dest, 'givc-admin.service')
        cls.agent_unit = os.path.join(os.path.dirname(cls.admin_unit), 'givc-agent@.service')
        user_units = [os.path.join(top, 'givc-agent@.service') for top, _, files in os.walk(cls.dest)
                      if 'givc-agent@.service' in files and top.endswith('/user')]
        if len(user_units) != 1:
            raise RuntimeError(f'the user unit was not installed once: {user_units}')
        cls.user_unit = user_units[0]
        for path in (cls.admin_unit, cls.agent_unit):
            if not path.startswith(cls.dest + cls.prefix + '/'):
                skip(f'the system units are installed outside the prefix {cls.prefix}')
        if cls.prefix in ('', '/', '/usr'):
            skip(f'prefix {cls.prefix!r}: cannot mount the installed tree over it')

        certs = givctest.Certs(os.path.join(cls.tmp, 'ca'))
        cls.paths = {name: certs.issue(name, ips=['127.0.0.1'])
                     for name in ('admin-vm', 'ghaf-host', 'chromium-vm')}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def in_prefix_namespace(self, script, env=None):
        """Runs a shell script with the installed prefix mounted over the real one."""
        mount = f'mount --bind {self.dest + self.prefix} {self.prefix} && '
        return subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', mount + script],
                              capture_output=True, text=True, timeout=120, env=env)

    def test_systemd_analyze_verify(self):
        unit_dir = os.path.dirname(self.admin_unit)[len(self.dest):]
        user_dir = os.path.dirname(self.user_unit)[len(self.dest):]
        runtime = tempfile.mkdtemp(dir=self.tmp)
        # Instances: the templates under an instance's name (%i resolves).
        inst = tempfile.mkdtemp(dir=self.tmp)
        shutil.copy(self.agent_unit, os.path.join(inst, 'givc-agent@ghaf-host.service'))
        os.mkdir(os.path.join(inst, 'user'))
        shutil.copy(self.user_unit, os.path.join(inst, 'user', 'givc-agent@chromium-vm.service'))
        r = self.in_prefix_namespace(
            f'systemd-analyze verify {unit_dir}/givc-admin.service {inst}/givc-agent@ghaf-host.service && '
            f'XDG_RUNTIME_DIR={runtime} systemd-analyze verify --user '
            f'{inst}/user/givc-agent@chromium-vm.service')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, '')
        # systemd-analyze verify only warns about mistakes: make sure it would.
        bad = os.path.join(inst, 'bad.service')
        with open(self.admin_unit) as f:
            write(bad, f.read().replace('ProtectHome=yes', 'ProtectHome=maybe'))
        r = self.in_prefix_namespace(f'systemd-analyze verify {bad}')
        self.assertIn('bad.service:', r.stdout + r.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.dest + user_dir, 'givc-agent@.service')))

    @staticmethod
    def prepare(manager):
        # What a system manager creates at boot and sandboxing mounts over
        # hidden paths (ProtectHome=, ...); the harness's managers run on a
        # private, empty /run/systemd.
        script = ('mkdir -p /run/systemd/inaccessible && cd /run/systemd/inaccessible && '
                  'mkdir -m 0 dir && install -m 0 /dev/null reg && mkfifo -m 0 fifo && '
                  'mknod -m 0 chr c 0 0 && mknod -m 0 blk b 0 0 && '
                  '/usr/bin/python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\'sock\')" && '
                  'chmod 0 sock')
        subprocess.run(['nsenter', '-t', str(manager.pid), '-m', 'sh', '-c', script], check=True, timeout=30)

    def start(self, manager, unit):
        r = manager.systemctl('start', unit, timeout=30, check=False)
        self.assertEqual(r.returncode, 0, f'{unit} did not start: {r.stderr}\n{manager.log()[-3000:]}')

    def env_file(self, name, lines):
        path = os.path.join(self.tmp, name + '.env')
        write(path, ''.join(f"{k}='{v}'\n" for k, v in lines.items()))
        return path

    def tls_json(self, name):
        p = self.paths[name]
        return ('{"enable":true,"caCertPath":"%s","certPath":"%s","keyPath":"%s"}'
                % (p['ca'], p['cert'], p['key']))

    def test_units_run_sandboxed(self):
        admin = self.paths['admin-vm']
        admin_env = self.env_file('admin', {
            'ADDR': '127.0.0.1', 'PORT': str(ADMIN_PORT), 'TLS': 'true', 'NAME': 'admin-vm', 'PROTO': 'tcp',
            'TYPE': '4', 'SUBTYPE': '5',
            'CA_CERT': admin['ca'], 'HOST_CERT': admin['cert'], 'HOST_KEY': admin['key']})
        admin_server = '{"name":"admin-vm","addr":"127.0.0.1","port":"%d","protocol":"tcp"}' % ADMIN_PORT
        installed = self.dest + self.prefix
        system_dropin = (f'[Service]\nEnvironmentFile=\nEnvironmentFile={self.tmp}/%i.env\n'
                         f'BindReadOnlyPaths={self.tmp}\nBindReadOnlyPaths={installed}:{self.prefix}\n')

        with UserManager('units-host', base_dir=self.tmp) as host, \
                UserManager('units-appvm', base_dir=self.tmp) as appvm:
            self.prepare(host)
            self.prepare(appvm)
            # The admin, as installed.
            shutil.copy(self.admin_unit, host.unit_dir)
            write(os.path.join(host.unit_dir, 'givc-admin.service.d', 'test.conf'),
                  system_dropin.replace('%i.env', 'admin.env'))
            # The host agent, the user manager standing in for the system
            # manager (its bus is the "system bus").
            shutil.copy(self.agent_unit, host.unit_dir)
            self.env_file('ghaf-host', {
                'AGENT': '{"name":"ghaf-host","addr":"127.0.0.1","port":"%d","protocol":"tcp"}' % AGENT_PORT,
                'ADMIN_SERVER': admin_server, 'TLS_CONFIG': self.tls_json('ghaf-host'),
                'TYPE': '0', 'SUBTYPE': '1', 'SERVICES': 'reboot.target poweroff.target',
                'DBUS_SYSTEM_BUS_ADDRESS': host.bus_address})
            write(os.path.join(host.unit_dir, 'givc-agent@.service.d', 'test.conf'), system_dropin)
            write(os.path.join(host.unit_dir, 'reboot.target'), '[Unit]\nDescription=Stand-in reboot target\n')
            host.daemon_reload()
            self.assertTrue(os.path.exists(admin_env))

            self.start(host, 'givc-admin.service')
            self.assertEqual(host.show('givc-admin.service', 'ActiveState')['ActiveState'], 'active')
            stubs = givctest.stubs()
            with givctest.channel(f'127.0.0.1:{ADMIN_PORT}', self.paths['ghaf-host'], name='admin-vm') as ch:
                health = stubs.health_pb2_grpc.HealthStub(ch).Check(stubs.health_pb2.HealthCheckRequest(),
                                                                       timeout=10)
                self.assertEqual(health.status, stubs.health_pb2.HealthCheckResponse.SERVING)

            self.start(host, 'givc-agent@ghaf-host.service')
            wait_until(lambda: host.show('givc-agent@ghaf-host.service', 'StatusText')['StatusText']
                       .startswith('registered with the admin'), 30, 'the host agent to register')

            # The application VM's agent, in a user manager.
            shutil.copy(self.user_unit, appvm.unit_dir)
            self.env_file('chromium-vm', {
                'AGENT': '{"name":"chromium-vm","addr":"127.0.0.1","port":"%d","protocol":"tcp"}'
                         % APP_AGENT_PORT,
                'ADMIN_SERVER': admin_server, 'TLS_CONFIG': self.tls_json('chromium-vm'),
                'TYPE': '12', 'SUBTYPE': '13', 'PARENT': 'microvm@chromium-vm.service',
                'APPLICATIONS': '[{"name":"sleeper","command":"/bin/sleep 60","args":[]}]'})
            write(os.path.join(appvm.unit_dir, 'givc-agent@.service.d', 'test.conf'),
                  f'[Service]\nEnvironmentFile=\nEnvironmentFile={self.tmp}/%i.env\n'
                  f'ExecStart=\nExecStart={installed}/bin/givc-agent --user\n')
            appvm.daemon_reload()
            self.start(appvm, 'givc-agent@chromium-vm.service')
            wait_until(lambda: appvm.show('givc-agent@chromium-vm.service', 'StatusText')['StatusText']
                       .startswith('registered with the admin'), 30, 'the app VM agent to register')

            # The agents register upstream's names (givc-NAME.service) and answer for them with
            # the template instance they run in: the admin's monitor sees both running.
            def agents_running():
                with givctest.channel(f'127.0.0.1:{ADMIN_PORT}', self.paths['ghaf-host'], name='admin-vm') as ch:
                    items = stubs.admin_pb2_grpc.AdminServiceStub(ch).QueryList(stubs.admin_pb2.Empty(),
                                                                               timeout=10).List
                status = {i.Name: i.VmStatus for i in items}
                return (status.get('givc-ghaf-host.service') == 'Running' and
                        status.get('givc-chromium-vm.service') == 'Running')
            wait_until(agents_running, 60, 'the admin to see both agents running')

            # Sandboxed as installed, the agents still control units: the host agent starts the
            # power target (a harmless stand-in here), the app VM's agent an application.
            with givctest.channel(f'127.0.0.1:{ADMIN_PORT}', self.paths['ghaf-host'], name='admin-vm') as ch:
                admin_stub = stubs.admin_pb2_grpc.AdminServiceStub(ch)
                admin_stub.Reboot(stubs.admin_pb2.Empty(), timeout=60)
                self.assertEqual(host.show('reboot.target', 'ActiveState')['ActiveState'], 'active')
                r = admin_stub.StartApplication(stubs.admin_pb2.ApplicationRequest(AppName='sleeper',
                                                                                   VmName='chromium-vm'),
                                                timeout=60)
                self.assertEqual(r.CmdStatus, 'Command successful.')
            self.assertEqual(appvm.show('sleeper@0.service', 'ActiveState')['ActiveState'], 'active')
            appvm.systemctl('stop', 'sleeper@0.service', timeout=30)

            for m, unit in [(host, 'givc-admin.service'), (host, 'givc-agent@ghaf-host.service'),
                            (appvm, 'givc-agent@chromium-vm.service')]:
                props = m.show(unit, 'ActiveState', 'NRestarts', 'ProtectSystem', 'NoNewPrivileges')
                self.assertEqual(props['ActiveState'], 'active', unit)
                self.assertEqual(props['NRestarts'], '0', unit)
                self.assertEqual(props['NoNewPrivileges'], 'yes', unit)

            for m, unit in [(appvm, 'givc-agent@chromium-vm.service'), (host, 'givc-agent@ghaf-host.service'),
                            (host, 'givc-admin.service')]:
                m.systemctl('stop', unit, timeout=30)


if __name__ == '__main__':
    unittest.main(verbosity=2)
