#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the C test of the sd-bus adapter (unit-adapter.c) against a real user manager."""

import os
import subprocess

import givctest
import systemd_harness


class UnitAdapter(givctest.TestCase):

    def test_adapter(self):
        binary = os.environ.get('GIVC_UNIT_ADAPTER_TEST')
        self.assertTrue(binary and os.path.exists(binary), '$GIVC_UNIT_ADAPTER_TEST must name the test binary')
        with systemd_harness.UserManager('unit-adapter') as manager:
            manager.write_unit('demo.service', '[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/sleep 600\n')
            manager.write_unit('fail.service', '[Service]\nType=oneshot\nExecStart=/bin/false\n')
            manager.daemon_reload()
            env = manager.env()
            env['DBUS_SYSTEM_BUS_ADDRESS'] = manager.bus_address
            r = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn('[  PASSED  ] 6 test(s)', r.stdout + r.stderr)


if __name__ == '__main__':
    givctest.main()
