#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`givc certs` end to end, checked with the openssl command as an independent tool."""

import os
import stat
import subprocess

import givctest
from givctest import run_givc


def openssl(*args):
    return subprocess.run(['openssl', *args], capture_output=True, text=True, timeout=30)


class CertsCommand(givctest.TestCase):

    def test_ca_and_leaf(self):
        ca = os.path.join(self.tmp, 'ca')
        r = run_givc('certs', 'ca', ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(os.path.join(ca, 'ca-cert.pem'), r.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(ca, 'ca-key.pem')).st_mode), 0o600)

        text = openssl('x509', '-in', os.path.join(ca, 'ca-cert.pem'), '-noout', '-text').stdout
        self.assertIn('Subject: CN = GivcCA', text)
        self.assertIn('CA:TRUE, pathlen:1', text)
        self.assertIn('ED25519', text)

        r = run_givc('certs', 'issue', '--ca', ca, '--name', 'admin-vm', '--ip', '192.168.101.10',
                     '--ip', '::1', '--dns', 'admin.local', '--days', '30')
        self.assertEqual(r.returncode, 0, r.stderr)
        leaf = os.path.join(ca, 'admin-vm')
        for f in ('admin-vm-cert.pem', 'admin-vm-key.pem', 'ca-cert.pem'):
            self.assertTrue(os.path.exists(os.path.join(leaf, f)), f)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(leaf, 'admin-vm-key.pem')).st_mode), 0o600)

        v = openssl('verify', '-CAfile', os.path.join(leaf, 'ca-cert.pem'), os.path.join(leaf, 'admin-vm-cert.pem'))
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        text = openssl('x509', '-in', os.path.join(leaf, 'admin-vm-cert.pem'), '-noout', '-text').stdout
        self.assertIn('Subject: CN = admin-vm', text)
        self.assertIn('DNS:admin-vm', text)
        self.assertIn('DNS:admin.local', text)
        self.assertIn('IP Address:192.168.101.10', text)
        self.assertIn('IP Address:0:0:0:0:0:0:0:1', text)
        self.assertIn('TLS Web Server Authentication, TLS Web Client Authentication', text)
        self.assertIn('CA:FALSE', text)

        r = run_givc('certs', 'show', os.path.join(leaf, 'admin-vm-cert.pem'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('subject: CN=admin-vm', r.stdout)
        self.assertIn('issuer: CN=GivcCA', r.stdout)
        self.assertIn('DNS names: admin-vm, admin.local', r.stdout)
        self.assertIn('IP addresses: 192.168.101.10, ::1', r.stdout)
        self.assertIn('SHA-256 fingerprint:', r.stdout)
        self.assertIn('status: valid', r.stdout)

    def test_out_dir_and_key_types(self):
        ca = os.path.join(self.tmp, 'ca')
        out = os.path.join(self.tmp, 'out')
        self.assertEqual(run_givc('certs', 'ca', ca, '--key-type', 'ecdsa').returncode, 0)
        for kind, marker in (('ed25519', 'ED25519'), ('ecdsa', 'prime256v1'), ('rsa', '3072 bit')):
            r = run_givc('certs', 'issue', '--ca', ca, '--out', out, '--name', 'vm-' + kind, '--key-type', kind)
            self.assertEqual(r.returncode, 0, r.stderr)
            cert = os.path.join(out, 'vm-' + kind, 'vm-%s-cert.pem' % kind)
            self.assertIn(marker, openssl('x509', '-in', cert, '-noout', '-text').stdout)

    def test_errors(self):
        ca = os.path.join(self.tmp, 'ca')
        self.assertEqual(run_givc('certs', 'ca', ca).returncode, 0)
        # Nothing is overwritten without --force.
        r = run_givc('certs', 'ca', ca)
        self.assertEqual(r.returncode, 1)
        self.assertIn('--force', r.stderr)
        self.assertEqual(run_givc('certs', 'ca', ca, '--force').returncode, 0)

        r = run_givc('certs', 'issue', '--ca', os.path.join(self.tmp, 'nope'), '--name', 'x')
        self.assertEqual(r.returncode, 1)
        for bad in (['--name', 'bad name'], ['--name', 'x', '--ip', '300.1.1.1'], ['--name', 'x', '--days', '0']):
            r = run_givc('certs', 'issue', '--ca', ca, *bad)
            self.assertIn(r.returncode, (1, 2), bad)
            self.assertNotEqual(r.stderr, '')
            self.assertFalse(os.path.exists(os.path.join(ca, 'x', 'x-key.pem')), 'nothing half-done')
        r = run_givc('certs', 'issue', '--ca', ca)
        self.assertEqual(r.returncode, 2)
        r = run_givc('certs', 'show', os.path.join(ca, 'ca-key.pem'))
        self.assertEqual(r.returncode, 1)
        r = run_givc('certs', 'frobnicate')
        self.assertEqual(r.returncode, 2)


if __name__ == '__main__':
    givctest.main()
