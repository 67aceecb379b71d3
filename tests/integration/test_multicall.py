#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The multi-call binary: dispatch by name or first argument, help, exit codes."""

import os
import subprocess

import givctest
from givctest import GIVC, run_givc


class MultiCall(givctest.TestCase):

    def run_as(self, name, *args):
        link = os.path.join(self.tmp, name)
        if not os.path.exists(link):
            os.symlink(GIVC, link)
        return subprocess.run([link, *args], capture_output=True, text=True, timeout=30)

    def test_help_version_list(self):
        r = run_givc('--help')
        self.assertEqual(r.returncode, 0)
        for applet in ('admin', 'agent', 'certs', 'cli'):
            self.assertIn(applet, r.stdout)
        r = run_givc('--version')
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r'^givc \d+\.\d+\.\d+\n$')
        r = run_givc('--list')
        self.assertEqual(r.stdout.split(), ['admin', 'agent', 'certs', 'cli'])

    def test_no_arguments_is_usage_error(self):
        r = run_givc()
        self.assertEqual(r.returncode, 2)
        self.assertIn('Usage: givc APPLET', r.stderr)

    def test_unknown_applet(self):
        r = run_givc('frobnicate')
        self.assertEqual(r.returncode, 127)
        self.assertIn("unknown applet 'frobnicate'", r.stderr)
        r = self.run_as('givc-frobnicate')
        self.assertEqual(r.returncode, 127)
        self.assertIn("unknown applet 'givc-frobnicate'", r.stderr)
        r = run_givc('--frobnicate')
        self.assertEqual(r.returncode, 2)

    def test_symlinks_dispatch(self):
        for role in ('agent', 'admin', 'cli'):
            r = self.run_as('givc-' + role, '--help')
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('Usage: givc ' + role, r.stdout)
            # The same text through the multiplexer.
            self.assertEqual(run_givc(role, '--help').stdout, r.stdout)

    def test_applet_usage_errors(self):
        for role in ('agent', 'admin', 'cli'):
            r = run_givc(role, '--no-such-option')
            self.assertEqual(r.returncode, 2, role)
            self.assertIn("unknown option '--no-such-option'", r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def test_installed_names(self):
        # meson install puts the three symlinks next to the binary.
        bindir = os.environ.get('GIVC_INSTALLED_BINDIR')
        if not bindir:
            return
        for role in ('agent', 'admin', 'cli'):
            path = os.path.join(bindir, 'givc-' + role)
            self.assertTrue(os.path.islink(path), path)
            self.assertEqual(os.readlink(path), 'givc')


if __name__ == '__main__':
    givctest.main()
