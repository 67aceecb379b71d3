#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The multi-VM test bed (testbed.py) itself, with today's binaries.

The host agent answers at 127.0.0.2; booting a VM through the host's
microvm@.service (systemctl, or the host agent's StartUnit as the admin will
do it) brings up that VM's manager and agent at its own address; stopping the
unit tears it down; the stand-in targets record themselves; stop() leaves
nothing behind. Checks on systemd's side are made with systemctl.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc

import givctest
import systemd_harness
import testbed
from systemd_harness import wait_until

S = givctest.stubs()



def admin_defaults_today():
    """The bed's default admin options if this `givc admin` has them (the
    registry's), else none: listener and TLS options only."""
    r = givctest.run_givc('admin', '--help')
    wanted = [a for a in testbed.TestBed.ADMIN_DEFAULT_ARGS if a.startswith('--')]
    if r.returncode == 0 and all(opt in r.stdout for opt in wanted):
        return testbed.TestBed.ADMIN_DEFAULT_ARGS
    return ()


TODAY_ADMIN_DEFAULTS = admin_defaults_today()


def new_bed(workdir, **kw):
    return testbed.TestBed(givctest.GIVC, workdir, port=None, admin_port=None,
                           admin_default_args=TODAY_ADMIN_DEFAULTS, **kw)


def health(ch, timeout=10):
    return S.health_pb2_grpc.HealthStub(ch).Check(S.health_pb2.HealthCheckRequest(service=''), timeout=timeout)


def units(ch):
    return S.systemd_pb2_grpc.UnitControlServiceStub(ch)


def unit_request(name):
    return S.systemd_pb2.UnitRequest(UnitName=name)


def assert_nothing_left(bed):
    cgroups = bed.own_cgroups()
    assert cgroups, 'no cgroups were recorded'
    left = [cg for cg in cgroups if os.path.exists(cg)]
    assert not left, f'cgroups left behind: {left}'
    alive = [pid for pid in bed.recorded_pids() if systemd_harness._pid_alive(pid)]
    assert not alive, f'processes left behind: {alive}'
    assert not os.path.exists(bed.supervisor_socket), 'supervisor socket left behind'


class Base(givctest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not givctest.GIVC or not os.path.exists(givctest.GIVC):
            raise AssertionError('$GIVC must point at the givc binary')
        cls.workdir = tempfile.mkdtemp(prefix='givc-tb-')
        cls.bed = new_bed(cls.workdir)
        cls.bed.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.bed.stop()
            assert_nothing_left(cls.bed)
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def tearDown(self):
        bed = self.bed
        for vm in bed.vm_names():
            if bed.vm_unit_state(vm) in ('active', 'activating', 'deactivating'):
                bed.shutdown_vm(vm)
        bed.host_manager.systemctl('reset-failed', 'microvm@*.service', check=False)
        bed.reset_targets()
        if bed.admin_running():
            bed.stop_admin()
        self.assertEqual(bed.vm_status(), {})
        super().tearDown()


class Host(Base):

    def test_host_agent_answers_over_mtls(self):
        self.assertEqual(self.bed.address('ghaf-host'), '127.0.0.2:%d' % self.bed.port)
        with self.bed.channel('ghaf-host') as ch:
            self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
            u = units(ch).GetUnitStatus(unit_request('givc-ghaf-host.service'), timeout=10).UnitStatus
            self.assertEqual((u.ActiveState, u.SubState), ('active', 'running'))
            # The VMs' units are whitelisted and known to the host's manager.
            u = units(ch).GetUnitStatus(unit_request('microvm@chromium-vm.service'), timeout=10).UnitStatus
            self.assertEqual((u.LoadState, u.ActiveState), ('loaded', 'inactive'))
        # Other clients of the CA are accepted too (the admin's certificate).
        with self.bed.channel('ghaf-host', client='admin-vm') as ch:
            self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
        # Host agent's configuration, as upstream's host module.
        env = self.bed.agent_env('ghaf-host')
        self.assertEqual((env['TYPE'], env['SUBTYPE']), ('0', '1'))
        self.assertEqual(env['SERVICES'], 'microvm@gui-vm.service microvm@chromium-vm.service '
                                          'poweroff.target reboot.target suspend.target')

    def test_stand_in_poweroff_target(self):
        with self.bed.channel('ghaf-host') as ch:
            r = units(ch).StartUnit(unit_request('poweroff.target'), timeout=30)
            self.assertEqual(r.CmdStatus, 'Command successful')
        self.assertEqual(self.bed.targets_reached(), ['poweroff'])
        self.assertEqual(self.bed.host_manager.show('poweroff.target', 'ActiveState')['ActiveState'], 'active')
        # The machine is still here, and so is the host agent.
        with self.bed.channel('ghaf-host') as ch:
            self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
        self.bed.reset_targets()
        self.bed.host_manager.systemctl('start', 'reboot.target', 'suspend.target')
        self.assertEqual(sorted(self.bed.targets_reached()), ['reboot', 'suspend'])

    def test_admin_start_stop_kill(self):
        seen = len(self.bed.agent_log('ghaf-host'))
        self.bed.start_admin()
        r = self.bed.cli('health')
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'SERVING'), r.stderr)
        # The host agent reaches the admin (address, name and certificates
        # fit): it registers, or an admin without a registry refuses it.
        wait_until(lambda: any(text in self.bed.agent_log('ghaf-host')[seen:]
                               for text in ('registered with the admin', 'refused the registration')),
                   20, 'the host agent to reach the admin')
        with self.bed.channel('admin-vm') as ch:
            self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
        self.assertEqual(self.bed.stop_admin(), 0, self.bed.admin_log())
        self.assertNotEqual(self.bed.cli('health', '--timeout', '2s').returncode, 0)
        # Restarted, then killed: a new process each time.
        first = self.bed.admin.proc.pid
        self.bed.start_admin()
        self.assertNotEqual(self.bed.admin.proc.pid, first)
        self.assertEqual(self.bed.cli('health').returncode, 0)
        self.assertEqual(self.bed.kill_admin(), -signal.SIGKILL)
        self.assertFalse(self.bed.admin_running())
        self.assertIn('--listen', self.bed.describe()['admin']['argv'])


class VMs(Base):

    def vm_cgroup(self, vm):
        return self.bed.vm_status()[vm]['cgroup']

    def test_boot_with_systemctl(self):
        bed = self.bed
        bed.boot('chromium-vm')
        self.assertEqual(bed.vm_unit_state('chromium-vm'), 'active')
        self.assertTrue(bed.vm_running('chromium-vm'))
        self.assertFalse(bed.vm_running('gui-vm'))
        m = bed.vm_manager('chromium-vm')
        self.assertEqual(m.show('givc-chromium-vm.service', 'ActiveState')['ActiveState'], 'active')
        self.assertEqual(m.cgroup_events('givc-chromium-vm.service').get('populated'), '1')
        self.assertEqual(m.runtime_dir, os.path.join(bed.run_dir, 'chromium-vm'))
        self.assertEqual(m.env()['XDG_RUNTIME_DIR'], m.runtime_dir)
        self.assertEqual(bed.address('chromium-vm'), '127.0.0.5:%d' % bed.port)
        with bed.channel('chromium-vm') as ch:
            self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
            r = units(ch).GetUnitStatus(unit_request('givc-chromium-vm.service'), timeout=10)
            u = r.UnitStatus
            self.assertEqual((u.Name, u.LoadState, u.ActiveState, u.SubState),
                             ('givc-chromium-vm.service', 'loaded', 'active', 'running'))
            # Its applications run in its own manager.
            r = units(ch).StartApplication(S.systemd_pb2.AppUnitRequest(UnitName='foot@0.service',
                                                                        Args=['--maximized']), timeout=30)
            self.assertEqual(r.CmdStatus, 'Command successful.')
        self.assertEqual(m.show('foot@0.service', 'ActiveState')['ActiveState'], 'active')
        self.assertNotIn('foot@0.service', bed.host_manager.systemctl('list-units', '--all').stdout)

        cgroup = self.vm_cgroup('chromium-vm')
        self.assertTrue(os.path.isdir(cgroup))
        bed.shutdown_vm('chromium-vm')
        self.assertFalse(os.path.exists(cgroup))
        self.assertFalse(bed.vm_running('chromium-vm'))
        self.assertEqual(bed.vm_unit_state('chromium-vm'), 'inactive')
        down = [e for e in bed.events() if e['event'] == 'down' and e['vm'] == 'chromium-vm'][-1]
        self.assertEqual(down['agent_result'].get('Result'), 'success')
        with bed.channel('chromium-vm') as ch, self.assertRaises(grpc.RpcError) as e:
            health(ch, timeout=3)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_boot_and_stop_through_host_agent(self):
        bed = self.bed
        with bed.channel('ghaf-host') as ch:
            r = units(ch).StartUnit(unit_request('microvm@chromium-vm.service'), timeout=150)
            self.assertEqual(r.CmdStatus, 'Command successful')
            # StartUnit returned: the VM has booted, its agent answers.
            self.assertTrue(bed.vm_running('chromium-vm'))
            u = units(ch).GetUnitStatus(unit_request('microvm@chromium-vm.service'), timeout=10).UnitStatus
            self.assertEqual((u.ActiveState, u.SubState), ('active', 'running'))
            with bed.channel('chromium-vm') as vm_ch:
                u = units(vm_ch).GetUnitStatus(unit_request('givc-chromium-vm.service'), timeout=10).UnitStatus
                self.assertEqual((u.ActiveState, u.SubState), ('active', 'running'))
            manager = bed.vm_manager('chromium-vm')
            self.assertEqual(manager.show('givc-chromium-vm.service', 'ActiveState')['ActiveState'], 'active')
            cgroup = manager.cgroup
            self.assertTrue(os.path.isdir(cgroup))

            r = units(ch).StopUnit(unit_request('microvm@chromium-vm.service'), timeout=150)
            self.assertEqual(r.CmdStatus, 'Command successful')
            # StopUnit returned: the VM is gone.
            self.assertFalse(os.path.exists(cgroup))
            self.assertFalse(systemd_harness._pid_alive(manager.pid))
            self.assertFalse(bed.vm_running('chromium-vm'))
            u = units(ch).GetUnitStatus(unit_request('microvm@chromium-vm.service'), timeout=10).UnitStatus
            self.assertEqual((u.ActiveState, u.SubState), ('inactive', 'dead'))

    def test_two_vms_side_by_side(self):
        bed = self.bed
        bed.boot('gui-vm')
        bed.boot('chromium-vm')
        status = bed.vm_status()
        self.assertEqual(sorted(status), ['chromium-vm', 'gui-vm'])
        self.assertNotEqual(status['gui-vm']['cgroup'], status['chromium-vm']['cgroup'])
        for vm, addr in (('gui-vm', '127.0.0.3'), ('chromium-vm', '127.0.0.5')):
            self.assertEqual(bed.addr(vm), addr)
            with bed.channel(vm) as ch:
                self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
                u = units(ch).GetUnitStatus(unit_request(bed.unit(vm)), timeout=10).UnitStatus
                self.assertEqual(u.ActiveState, 'active')
                # Each agent controls its own manager only.
                with self.assertRaises(grpc.RpcError) as e:
                    other = 'givc-gui-vm.service' if vm == 'chromium-vm' else 'givc-chromium-vm.service'
                    units(ch).GetUnitStatus(unit_request(other), timeout=10)
                self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        env = bed.agent_env('gui-vm')
        self.assertEqual((env['TYPE'], env['SUBTYPE'], env['PARENT']), ('8', '9', 'microvm@gui-vm.service'))
        bed.shutdown_vm('gui-vm')
        self.assertEqual(sorted(bed.vm_status()), ['chromium-vm'])

    def test_vm_death_fails_its_unit(self):
        bed = self.bed
        bed.boot('chromium-vm')
        cgroup = self.vm_cgroup('chromium-vm')
        bed.crash_vm('chromium-vm')
        self.assertFalse(os.path.exists(cgroup))
        bed.host_manager.wait_for('microvm@chromium-vm.service', 'ActiveState', 'failed', timeout=30)
        bed.host_manager.systemctl('reset-failed', 'microvm@chromium-vm.service')
        # It boots again.
        bed.boot('chromium-vm')
        with bed.channel('chromium-vm') as ch:
            self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

    def test_failed_boot_and_added_vm(self):
        bed = self.bed
        # A VM added while running: its agent rejects its configuration.
        bed.add_vm({'name': 'broken-vm', 'addr': '127.0.0.7', 'env': {'TYPE': '99'}})
        self.assertIn('microvm@broken-vm.service', bed.agent_env('ghaf-host')['SERVICES'].split())
        with self.assertRaises(testbed.TestBedError) as e:
            bed.boot('broken-vm')
        self.assertIn('not a unit type', str(e.exception))
        self.assertEqual(bed.vm_unit_state('broken-vm'), 'failed')
        failed = [e for e in bed.events() if e['vm'] == 'broken-vm']
        self.assertEqual([e['event'] for e in failed], ['manager', 'down', 'boot-failed'])
        self.assertFalse(os.path.exists(failed[0]['cgroup']))
        self.assertFalse(bed.vm_running('broken-vm'))
        # The restarted host agent controls the new VM's unit.
        with bed.channel('ghaf-host') as ch:
            u = units(ch).GetUnitStatus(unit_request('microvm@broken-vm.service'), timeout=10).UnitStatus
            self.assertEqual(u.ActiveState, 'failed')


class Lifecycle(givctest.TestCase):

    def test_stop_leaves_nothing(self):
        bed = new_bed(os.path.join(self.tmp, 'bed'))
        with bed:
            bed.start_admin()
            bed.boot('gui-vm')
            bed.boot('chromium-vm')
            with bed.channel('chromium-vm') as ch:
                units(ch).StartApplication(S.systemd_pb2.AppUnitRequest(UnitName='foot@0.service'), timeout=30)
            pids = bed.recorded_pids()
            self.assertGreaterEqual(len(pids), 8)    # supervisor, admin, host manager+agent, 2 x (manager+agent)
            cgroups = bed.own_cgroups()
            self.assertEqual(len(cgroups), 3)
            self.assertTrue(all(os.path.isdir(cg) for cg in cgroups))
            # Left running on purpose: stop() takes it all down.
        assert_nothing_left(bed)
        bed.stop()      # idempotent

    def test_command_line(self):
        workdir = os.path.join(self.tmp, 'cli-bed')
        proc = subprocess.Popen(
            [sys.executable, testbed.__file__, 'up', '--givc', givctest.GIVC, '--workdir', workdir,
             '--port', '0', '--admin-port', '0', '--admin-default-args', ' '.join(TODAY_ADMIN_DEFAULTS),
             '--with-admin', '--boot', 'gui-vm'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False)
        try:
            desc = self.read_json(proc, timeout=120)
            self.assertTrue(desc['admin']['running'])
            gui = desc['vms']['gui-vm']
            self.assertEqual(gui['addr'], '127.0.0.3')
            with givctest.channel(gui['address'], {k: gui[k] for k in ('ca', 'cert', 'key')}, 'gui-vm') as ch:
                self.assertEqual(health(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
            r = subprocess.run([*desc['cli'], 'health'], capture_output=True, text=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, 'SERVING'), r.stderr)
            events = os.path.join(workdir, 'logs', 'vm-events.jsonl')
            with open(events) as f:
                cgroups = {json.loads(line)['cgroup'] for line in f}
            self.assertTrue(all(os.path.isdir(cg) for cg in cgroups))
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 0, err.decode())
            self.assertTrue(all(not os.path.exists(cg) for cg in cgroups))
            self.assertFalse(os.path.exists(os.path.join(workdir, 'supervisor.sock')))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(120)

    @staticmethod
    def read_json(proc, timeout):
        buf = b''
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('testbed.py up printed no description')
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError('testbed.py up exited (%s): %s' % (proc.wait(), proc.stderr.read().decode()))
            buf += chunk
            try:
                return json.loads(buf)
            except ValueError:
                continue


if __name__ == '__main__':
    givctest.main()
