# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the integration tests.

The tests drive the real `givc` binary (path in $GIVC) and talk to it with an
independent gRPC implementation: Debian's python3-grpcio, with stubs
generated at test time from the project's proto/ directory. Servers report
readiness through sd_notify (READY=1) on a socket the test owns, so nothing
waits on fixed sleeps.
"""

import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

GIVC = os.environ.get('GIVC', '')
SOURCE_ROOT = os.environ.get('GIVC_SOURCE_ROOT',
                             os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
PROTO_DIR = os.path.join(SOURCE_ROOT, 'proto')

# (proto path relative to PROTO_DIR's include root, include root)
_PROTOS = [
    ('admin.proto', 'admin'),
    ('systemd.proto', 'systemd'),
    ('locale.proto', 'locale'),
    ('hwid.proto', 'hwid'),
    ('wifi.proto', 'wifi'),
    ('socket.proto', 'socket'),
    # Generated flat: a grpc/ package here would shadow the grpc module.
    ('health.proto', 'grpc/health/v1'),
    ('reflection.proto', 'grpc/reflection/v1'),
]

_stub_dir = None


def stubs():
    """Generate (once per process) and import the Python stubs; returns a namespace."""
    global _stub_dir
    if _stub_dir is None:
        _stub_dir = tempfile.mkdtemp(prefix='givc-stubs-')
        plugin = shutil.which('grpc_python_plugin') or '/usr/bin/grpc_python_plugin'
        for name, root in _PROTOS:
            subprocess.run(['protoc', '--proto_path=' + os.path.join(PROTO_DIR, root),
                            '--python_out=' + _stub_dir, '--grpc_python_out=' + _stub_dir,
                            '--plugin=protoc-gen-grpc_python=' + plugin, name], check=True)
        sys.path.insert(0, _stub_dir)

    class Stubs:
        pass
    s = Stubs()
    for name, _ in _PROTOS:
        base = name[:-len('.proto')]
        setattr(s, base + '_pb2', importlib.import_module(base + '_pb2'))
        setattr(s, base + '_pb2_grpc', importlib.import_module(base + '_pb2_grpc'))
    return s


def run_givc(*args, env=None, input=None, timeout=60):
    """Run givc to completion; returns CompletedProcess with text output."""
    return subprocess.run([GIVC, *args], env=env, input=input, capture_output=True, text=True, timeout=timeout)


def free_port(host='127.0.0.1'):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


class Certs:
    """A CA and leaf certificates made with `givc certs`, in upstream's layout."""

    def __init__(self, directory, key_type='ed25519', ca_name='ca'):
        self.dir = directory
        self.ca_dir = os.path.join(directory, ca_name)
        self.key_type = key_type
        r = run_givc('certs', 'ca', self.ca_dir, '--key-type', key_type)
        if r.returncode != 0:
            raise RuntimeError('givc certs ca failed: ' + r.stderr)
        self.ca = os.path.join(self.ca_dir, 'ca-cert.pem')

    def issue(self, name, ips=(), dns=(), key_type=None):
        args = ['certs', 'issue', '--ca', self.ca_dir, '--out', self.dir, '--name', name,
                '--key-type', key_type or self.key_type]
        for ip in ips:
            args += ['--ip', ip]
        for d in dns:
            args += ['--dns', d]
        r = run_givc(*args)
        if r.returncode != 0:
            raise RuntimeError('givc certs issue failed: ' + r.stderr)
        return self.paths(name)

    def paths(self, name):
        d = os.path.join(self.dir, name)
        return {'ca': os.path.join(d, 'ca-cert.pem'),
                'cert': os.path.join(d, name + '-cert.pem'),
                'key': os.path.join(d, name + '-key.pem')}


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def credentials(paths):
    import grpc
    return grpc.ssl_channel_credentials(root_certificates=read(paths['ca']),
                                        private_key=read(paths['key']),
                                        certificate_chain=read(paths['cert']))


def channel(target, paths=None, name=None):
    """A grpc channel to target; mutual TLS when paths (from Certs.paths) are given."""
    import grpc
    if paths is None:
        return grpc.insecure_channel(target)
    options = [('grpc.ssl_target_name_override', name)] if name else []
    return grpc.secure_channel(target, credentials(paths), options=options)


class Server:
    """A givc server role in the background, ready once it told sd_notify."""

    def __init__(self, args, env=None, name='server', workdir=None, wrapper=()):
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.name = name
        self.workdir = workdir or tempfile.mkdtemp(prefix='givc-' + name + '-')
        self.log_path = os.path.join(self.workdir, name + '.log')
        self.wrapper = list(wrapper)
        self.proc = None
        self._notify = None

    def start(self, timeout=20, expect_ready=True):
        notify_path = os.path.join(self.workdir, name_for_socket(self.name))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(notify_path)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(notify_path)
        env = dict(self.env)
        env['NOTIFY_SOCKET'] = notify_path
        self._log = open(self.log_path, 'w')
        self.proc = subprocess.Popen([*self.wrapper, GIVC, *self.args], env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if expect_ready:
            self.wait_notify('READY=1', timeout)
        return self

    def wait_notify(self, what, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('%s did not send %s; log:\n%s' % (self.name, what, self.logs()))
            if self.proc.poll() is not None:
                raise RuntimeError('%s exited with %d before %s; log:\n%s'
                                   % (self.name, self.proc.returncode, what, self.logs()))
            self._notify.settimeout(min(left, 0.2))
            try:
                msg = self._notify.recv(4096).decode()
            except socket.timeout:
                continue
            if what in msg.split('\n'):
                return

    def logs(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ''

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Send sig and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._log.close()
        self._notify.close()
        return code

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def name_for_socket(name):
    return 'notify-' + name


class TestCase(unittest.TestCase):
    """A test case with a private temporary directory and cleanup of servers."""

    def setUp(self):
        if not GIVC or not os.path.exists(GIVC):
            self.fail('$GIVC must point at the givc binary')
        self.tmp = tempfile.mkdtemp(prefix='givc-test-')
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, args, env=None, name='server', **kw):
        s = Server(args, env=env, name=name, workdir=self.tmp, **kw)
        self.servers.append(s)
        return s


def main():
    unittest.main(verbosity=2)
