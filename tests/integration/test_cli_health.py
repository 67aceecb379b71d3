#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Our own C client against our server: `givc cli health`, over mTLS and plaintext."""

import os

import givctest
from givctest import Certs, free_port, run_givc


class CliHealth(givctest.TestCase):

    def setUp(self):
        super().setUp()
        self.certs = Certs(self.tmp)
        self.admin = self.certs.issue('admin-vm', ips=['127.0.0.1'])
        self.host = self.certs.issue('ghaf-host')
        self.port = free_port()

    def start_admin(self):
        return self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--addr', '127.0.0.1', '--port', str(self.port), '--use-tls',
                            '--ca-cert', self.admin['ca'], '--host-cert', self.admin['cert'],
                            '--host-key', self.admin['key']], name='admin').start()

    def cli(self, *args, paths=None, name='admin-vm'):
        p = paths or self.host
        return run_givc('cli', '--addr', '127.0.0.1', '--port', str(self.port), '--name', name,
                        '--cacert', p['ca'], '--cert', p['cert'], '--key', p['key'], '--timeout', '3s', *args)

    def test_serving(self):
        srv = self.start_admin()
        r = self.cli('health')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'SERVING\n')
        r = self.cli('health', 'grpc.reflection.v1.ServerReflection')
        self.assertEqual(r.stdout, 'SERVING\n')
        r = self.cli('health', 'no.Such')
        self.assertEqual(r.returncode, 1)
        self.assertIn('NOT_FOUND', r.stderr)
        self.assertEqual(srv.stop(), 0)

    def test_admin_down(self):
        r = self.cli('health')
        self.assertEqual(r.returncode, 1)
        self.assertIn('UNAVAILABLE', r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_wrong_name_and_ca(self):
        self.start_admin()
        r = self.cli('health', name='net-vm')
        self.assertEqual(r.returncode, 1)
        self.assertIn('UNAVAILABLE', r.stderr)
        other = Certs(os.path.join(self.tmp, 'other')).issue('ghaf-host')
        r = self.cli('health', paths=other)
        self.assertEqual(r.returncode, 1)

    def test_usage(self):
        self.assertEqual(self.cli().returncode, 2)
        self.assertEqual(self.cli('nope').returncode, 2)
        self.assertEqual(self.cli('health', 'a', 'b').returncode, 2)
        r = run_givc('cli', 'health')
        self.assertEqual(r.returncode, 2)
        self.assertIn('no admin address', r.stderr)
        r = self.cli('health', paths=dict(self.host, key='/nonexistent.pem'))
        self.assertEqual(r.returncode, 1)
        self.assertIn('/nonexistent.pem', r.stderr)

    def test_plaintext_unix(self):
        path = os.path.join(self.tmp, 'admin.sock')
        srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen-unix', path], name='admin').start()
        r = run_givc('cli', '--addr', 'unix:' + path, '--notls', 'health')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'SERVING\n')
        self.assertEqual(srv.stop(), 0)


if __name__ == '__main__':
    givctest.main()
