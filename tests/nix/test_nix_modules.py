# SPDX-License-Identifier: Apache-2.0
"""The NixOS modules against the binary, without nixpkgs.

Debian's nix-instantiate (nix-bin) parses every .nix file of the tree and
evaluates the real module files with the stand-in of stub.nix (eval.nix,
cases.nix). Then:

  * the README's example configuration (nixos-modules/examples/) and
    upstream's forms give the units, environment and firewall ports they
    must, and the mistakes people make fail with their assertion;
  * every agent and admin unit the modules make is run as the unit would run
    it, with its environment only, plus --check-config: the binary accepts
    all of it, certificates included (made with `givc certs`, standing in
    for /etc/givc), and refuses the environments of the configurations the
    assertions stop;
  * the example environment files of the non-Nix units are what the modules
    make of the same configuration, and the non-Nix units carry the same
    sandbox as the modules' units.

Nix gets a private store and state directory in a temporary directory,
removed at the end: nothing is left in /nix or $HOME.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_ROOT = os.environ.get('GIVC_SOURCE_ROOT',
                             os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'integration'))
import givctest  # noqa: E402

NIX_INSTANTIATE = shutil.which('nix-instantiate')
EVAL = os.path.join(SOURCE_ROOT, 'tests', 'nix', 'eval.nix')
UNITS = os.path.join(SOURCE_ROOT, 'applets', 'units')
GIVC_ETC = '/etc/givc/'

# Machines of cases.nix whose units must be accepted by the binary.
GOOD = ['host', 'admin', 'sysvm', 'appvm', 'host-older-form', 'sysvm-upstream', 'appvm-upstream',
        'admin-and-host-plaintext']
# Machines stopped by an assertion (substring) whose environment the binary
# must refuse as well (None: a rule of the modules only, e.g. one machine).
MISTAKES = {
    'tls-without-paths': ('givc.host.tls.enable is true but givc.host.tls.caCertPath, '
                          'givc.host.tls.certPath, givc.host.tls.keyPath are empty', True),
    'tls-without-key': ('givc.admin.tls.enable is true but givc.admin.tls.keyPath is empty', True),
    'duplicate-ports': ('TCP port 9001 is used by givc.admin.port and givc.host.agent.port', None),
    'duplicate-proxies': ('port 9011 is used by more than one proxy', None),
    'host-without-services': ('givc.host.services is empty', None),
    'vsock': ('givc.sysvm.agent.protocol = "vsock" is not supported', True),
    'bad-port': ('givc.appvm.agent.port = "90a0" is not a port number', True),
    'bad-name': ('givc.host.agent.name = "ghaf host" may only contain', True),
    'duplicate-applications': ('the application name "foot" is used more than once', True),
    'dbusproxy-without-policy': ('givc.dbusproxy.system: give at least one policy', None),
}
REFUSED = {
    'unknown-option': "The option `givc.host.nmae' does not exist",
    'unknown-argument-type': "The option `givc.appvm.applications.*.args.*' is not of type",
    'port-of-wrong-type': "The option `givc.admin.port' is not of type",
}
# Certificates the configurations name.
NAMES = ['ghaf-host', 'admin-vm', 'gui-vm', 'net-vm', 'chromium-vm']
# The sandbox settings the non-Nix units share with the modules' units.
HARDENING = {'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'PrivateIPC',
             'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups',
             'ProtectClock', 'ProtectHostname', 'ProtectProc', 'ProcSubset', 'RestrictAddressFamilies',
             'RestrictNamespaces', 'RestrictRealtime', 'RestrictSUIDSGID', 'LockPersonality',
             'MemoryDenyWriteExecute', 'SystemCallArchitectures', 'SystemCallFilter', 'CapabilityBoundingSet',
             'UMask', 'Type', 'Restart', 'RestartSec', 'WatchdogSec', 'StateDirectory', 'StateDirectoryMode'}


class Nix:
    """nix-instantiate with a throw-away store and state directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='givc-nix-')
        self.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': self.dir,
            'NIX_STATE_DIR': os.path.join(self.dir, 'state'),
            'NIX_STORE_DIR': os.path.join(self.dir, 'store'),
            'NIX_LOG_DIR': os.path.join(self.dir, 'log'),
            'NIX_CONF_DIR': os.path.join(self.dir, 'conf'),
            'XDG_CACHE_HOME': os.path.join(self.dir, 'cache'),
        }

    def run(self, *args):
        return subprocess.run([NIX_INSTANTIATE, '--readonly-mode', '--option', 'build-users-group', '', *args],
                              env=self.env, capture_output=True, text=True, timeout=120)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def nix_files():
    skip = {'.git', '__pycache__'}
    for top, dirs, files in os.walk(SOURCE_ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith('build')]
        for f in files:
            if f.endswith('.nix'):
                yield os.path.join(top, f)


def unit_value(v):
    """A NixOS serviceConfig value as systemd reads it: one string per line."""
    if isinstance(v, bool):
        return ['yes' if v else 'no']
    if isinstance(v, list):
        return [x for item in v for x in unit_value(item)]
    return [str(v)]


def parse_unit(path):
    """Directive -> list of values of the [Service] section of a unit file."""
    result = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in '#;':
                continue
            if line.startswith('['):
                section = line
                continue
            if section == '[Service]':
                key, _, value = line.partition('=')
                result.setdefault(key, []).append(value)
    return result


def normalize(directives):
    """Values of list-like directives as sets of words (AF_UNIX AF_INET == AF_UNIX, AF_INET)."""
    out = {}
    for key, values in directives.items():
        if key in ('RestrictAddressFamilies', 'CapabilityBoundingSet'):
            out[key] = sorted(w for v in values for w in v.split())
        else:
            out[key] = values
    return out


def parse_env_file(path):
    """An EnvironmentFile (the subset used: KEY=VALUE, VALUE maybe in single quotes)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line.strip() or line.lstrip()[0] in '#;':
                continue
            key, _, value = line.partition('=')
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            env[key] = value
    return env


def role_of(service):
    program = os.path.basename(shlex.split(service['serviceConfig']['ExecStart'])[0])
    return program if program in ('givc-agent', 'givc-admin') else None


class NixModules(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not NIX_INSTANTIATE:
            if os.environ.get('CI') == 'true':
                raise RuntimeError('nix-instantiate is missing (Debian package nix-bin)')
            raise unittest.SkipTest('nix-instantiate is missing (Debian package nix-bin)')
        cls.nix = Nix()
        r = cls.nix.run('--eval', '--strict', '--json', EVAL, '-A', 'report')
        if r.returncode != 0:
            cls.nix.close()
            raise RuntimeError('evaluating tests/nix/eval.nix failed:\n' + r.stderr)
        result = json.loads(r.stdout)
        cls.machines = result['machines']
        cls.refused = result['refused']
        cls.tmp = tempfile.mkdtemp(prefix='givc-nix-test-')
        cls.certs = givctest.Certs(os.path.join(cls.tmp, 'ca'))
        cls.etc = os.path.join(cls.tmp, 'etc-givc') + '/'
        os.mkdir(cls.etc)
        for name in NAMES:
            paths = cls.certs.issue(name)
            shutil.copy(paths['cert'], cls.etc + name + '-cert.pem')
            shutil.copy(paths['key'], cls.etc + name + '-key.pem')
        shutil.copy(cls.certs.ca, cls.etc + 'ca-cert.pem')

    @classmethod
    def tearDownClass(cls):
        cls.nix.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------

    def units(self, machine):
        m = self.machines[machine]
        return {**m['services'], **m['userServices']}

    def givc_units(self, machine):
        return {n: s for n, s in self.units(machine).items() if role_of(s)}

    def check_config(self, service):
        """Runs the unit's command line, with its environment only, plus --check-config."""
        argv = shlex.split(service['serviceConfig']['ExecStart'])
        role = os.path.basename(argv[0])
        env = {'PATH': '/usr/bin:/bin'}
        # The certificates made for this test stand in for /etc/givc.
        for k, v in service.get('environment', {}).items():
            env[k] = v.replace(GIVC_ETC, self.etc)
        return subprocess.run([role, *argv[1:], '--check-config'], executable=givctest.GIVC, env=env,
                              capture_output=True, text=True, timeout=30)

    # -- the tree parses -------------------------------------------------------

    def test_every_nix_file_parses(self):
        files = list(nix_files())
        self.assertIn(os.path.join(SOURCE_ROOT, 'flake.nix'), files)
        self.assertIn(os.path.join(SOURCE_ROOT, 'nixos-modules', 'tests', 'admin.nix'), files)
        for path in files:
            r = self.nix.run('--parse', path)
            self.assertEqual(r.returncode, 0, f'{path} does not parse:\n{r.stderr}')

    # -- what the modules make -----------------------------------------------

    def test_examples_evaluate_cleanly(self):
        for machine in ['host', 'admin', 'sysvm', 'appvm', 'dbusproxy', 'host-older-form',
                        'admin-and-host-plaintext']:
            m = self.machines[machine]
            self.assertEqual(m['failedAssertions'], [], machine)
            self.assertEqual(m['warnings'], [], machine)

    def test_units(self):
        expect = {
            'host': ('services', 'givc-ghaf-host', [9000]),
            'admin': ('services', 'givc-admin', [9001]),
            'sysvm': ('services', 'givc-gui-vm', [9000]),
            'appvm': ('userServices', 'givc-chromium-vm', [9000]),
        }
        for machine, (kind, name, ports) in expect.items():
            m = self.machines[machine]
            self.assertEqual(list(m[kind]), [name], machine)
            sc = m[kind][name]['serviceConfig']
            self.assertEqual(sc['Type'], 'notify')
            self.assertEqual(sc['Restart'], 'always')
            self.assertEqual(sc['RestartSec'], 1)
            self.assertEqual(m['firewall'], ports, machine)
        admin = self.machines['admin']['services']['givc-admin']['serviceConfig']
        self.assertEqual(admin['StateDirectory'], 'givc')
        self.assertTrue(admin['ExecStart'].endswith('/bin/givc-admin --restart-vms'))
        # The host and system VM agents: root, sandboxed, no capability but
        # reading files; the app VM agent: the user's manager, seccomp only.
        for machine, name in [('host', 'givc-ghaf-host'), ('sysvm', 'givc-gui-vm')]:
            sc = self.machines[machine]['services'][name]['serviceConfig']
            self.assertEqual(sc['ProtectSystem'], 'strict')
            self.assertEqual(sc['CapabilityBoundingSet'], ['CAP_DAC_READ_SEARCH'])
            self.assertNotIn('User', sc)
        user = self.machines['appvm']['userServices']['givc-chromium-vm']
        self.assertNotIn('ProtectSystem', user['serviceConfig'])
        self.assertTrue(user['serviceConfig']['ExecStart'].endswith('/bin/givc-agent --user'))
        self.assertEqual(user['unitConfig'], {'ConditionUser': 'ghaf'})
        self.assertEqual(user['wantedBy'], ['default.target'])
        self.assertIn('org.freedesktop.locale1.set-locale', self.machines['appvm']['polkit'])
        self.assertIn('givc-setup', self.machines['sysvm']['targets'])

    def test_environment(self):
        env = self.units('host')['givc-ghaf-host']['environment']
        self.assertEqual(json.loads(env['AGENT']),
                         {'name': 'ghaf-host', 'addr': '192.168.101.2', 'port': '9000', 'protocol': 'tcp'})
        self.assertEqual(json.loads(env['ADMIN_SERVER'])['name'], 'admin-vm')
        self.assertEqual(json.loads(env['TLS_CONFIG']),
                         {'enable': True, 'caCertPath': '/etc/givc/ca-cert.pem',
                          'certPath': '/etc/givc/ghaf-host-cert.pem', 'keyPath': '/etc/givc/ghaf-host-key.pem'})
        self.assertEqual((env['TYPE'], env['SUBTYPE']), ('0', '1'))
        self.assertTrue(env['SERVICES'].startswith('microvm@admin-vm.service microvm@gui-vm.service '))
        # Upstream's older form gives the same.
        self.assertEqual(self.units('host-older-form')['givc-ghaf-host']['environment'], env)

        gui = self.units('sysvm')['givc-gui-vm']['environment']
        self.assertEqual((gui['TYPE'], gui['SUBTYPE'], gui['PARENT']), ('8', '9', 'microvm@gui-vm.service'))

        app = self.units('appvm')['givc-chromium-vm']['environment']
        self.assertEqual((app['TYPE'], app['SUBTYPE']), ('12', '13'))
        self.assertEqual([a['name'] for a in json.loads(app['APPLICATIONS'])], ['chromium', 'foot'])
        self.assertNotIn('SERVICES', app)

        net = self.units('sysvm-upstream')['givc-net-vm']['environment']
        self.assertEqual(json.loads(net['AGENT'])['port'], '9000')   # a number in Nix, a string in JSON
        self.assertEqual((net['DEBUG'], net['WIFI'], net['HWID'], net['HWID_IFACE']), ('true', 'true', 'true', 'lo'))
        self.assertEqual(json.loads(net['SOCKET_PROXY'])[0]['socket'], '/tmp/.dbusproxy_net.sock')
        self.assertTrue(json.loads(net['SOCKET_PROXY'])[0]['server'])

        plain = self.units('admin-and-host-plaintext')
        self.assertEqual(plain['givc-admin']['environment']['TLS'], 'false')
        self.assertNotIn('CA_CERT', plain['givc-admin']['environment'])
        self.assertEqual(plain['givc-admin']['environment']['GIVC_LOG'], 'debug')
        self.assertFalse(json.loads(plain['givc-ghaf-host']['environment']['TLS_CONFIG'])['enable'])

    def test_upstream_options_warn_where_not_served(self):
        self.assertEqual(self.machines['sysvm-upstream']['warnings'], [
            'givc.sysvm.socketProxy is set, but this givc agent does not run socket proxies.',
            'givc.sysvm.wifiManager is set, but this givc agent does not serve wifimanager.WifiService.'])
        self.assertEqual(self.machines['sysvm-upstream']['failedAssertions'], [])
        self.assertEqual(self.machines['appvm-upstream']['failedAssertions'], [])
        self.assertEqual(self.machines['sysvm-upstream']['firewall'], [9000, 9010])

    def test_dbus_proxy(self):
        system = self.units('sysvm-upstream')['givc-dbusproxy-system']
        argv = shlex.split(system['serviceConfig']['ExecStart'])
        self.assertEqual(argv[1:4], ['unix:path=/run/dbus/system_bus_socket', '/tmp/.dbusproxy_net.sock',
                                     '--filter'])
        self.assertIn('--talk=org.freedesktop.NetworkManager.*', argv)
        self.assertIn('--call=org.freedesktop.UPower=org.freedesktop.UPower.EnumerateDevices', argv)
        self.assertEqual(system['serviceConfig']['User'], 'ghaf')
        self.assertEqual(system['serviceConfig']['ReadWritePaths'], ['/tmp'])
        example = self.units('dbusproxy')
        self.assertEqual(list(example), ['givc-dbusproxy-system'])
        self.assertIn('givc-setup', self.machines['dbusproxy']['targets'])
        session = self.units('appvm-upstream')['givc-dbusproxy-session']
        self.assertIn('unix:path=/run/user/1000/bus', session['serviceConfig']['ExecStart'])
        self.assertEqual(session['unitConfig'], {'ConditionUser': 'ghaf'})

    def test_mistakes_are_caught(self):
        for machine, (message, _) in MISTAKES.items():
            failed = self.machines[machine]['failedAssertions']
            self.assertTrue(any(message in f for f in failed), f'{machine}: {failed}')
        for machine, message in REFUSED.items():
            self.assertTrue(self.refused[machine], machine)
            r = self.nix.run('--eval', '--strict', '--json', '--expr',
                             f'(import {json.dumps(EVAL)}).refusedSummaries."{machine}"')
            self.assertNotEqual(r.returncode, 0, machine)
            self.assertIn(message, r.stderr, machine)

    # -- what the binary makes of it -------------------------------------------

    def test_binary_accepts_what_the_modules_make(self):
        checked = 0
        for machine in GOOD:
            for name, service in self.givc_units(machine).items():
                with self.subTest(machine=machine, unit=name):
                    r = self.check_config(service)
                    self.assertEqual(r.returncode, 0, f'{machine} {name}:\n{r.stderr}')
                    self.assertIn('The configuration is valid.', r.stdout)
                    checked += 1
        self.assertEqual(checked, 9)

    def test_binary_warns_like_the_modules(self):
        r = self.check_config(self.units('sysvm-upstream')['givc-net-vm'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('does not serve wifimanager.WifiService', r.stderr)
        self.assertIn('does not run socket proxies', r.stderr)

    def test_binary_refuses_what_the_assertions_stop(self):
        for machine, (_, refused_by_binary) in MISTAKES.items():
            if not refused_by_binary:
                continue
            for name, service in self.givc_units(machine).items():
                with self.subTest(machine=machine, unit=name):
                    r = self.check_config(service)
                    self.assertNotEqual(r.returncode, 0, f'{machine} {name}: {r.stdout} {r.stderr}')
                    self.assertNotIn('The configuration is valid.', r.stdout)

    # -- the units for other systems -----------------------------------------

    def test_example_env_files_match_the_modules(self):
        for env_file, machine, unit in [('admin.env', 'admin', 'givc-admin'),
                                        ('ghaf-host.env', 'host', 'givc-ghaf-host'),
                                        ('gui-vm.env', 'sysvm', 'givc-gui-vm'),
                                        ('chromium-vm.env', 'appvm', 'givc-chromium-vm')]:
            with self.subTest(env_file=env_file):
                self.assertEqual(parse_env_file(os.path.join(UNITS, 'examples', env_file)),
                                 self.units(machine)[unit]['environment'])

    def test_unit_files_have_the_modules_sandbox(self):
        for template, machine, unit in [('givc-admin.service.in', 'admin', 'givc-admin'),
                                        ('givc-agent@.service.in', 'host', 'givc-ghaf-host'),
                                        ('givc-agent@.service.in', 'sysvm', 'givc-gui-vm'),
                                        ('user/givc-agent@.service.in', 'appvm', 'givc-chromium-vm')]:
            with self.subTest(template=template, machine=machine):
                file = {k: v for k, v in parse_unit(os.path.join(UNITS, template)).items() if k in HARDENING}
                nix = {k: unit_value(v) for k, v in self.units(machine)[unit]['serviceConfig'].items()
                       if k in HARDENING}
                self.assertEqual(normalize(file), normalize(nix))


if __name__ == '__main__':
    unittest.main(verbosity=2)
