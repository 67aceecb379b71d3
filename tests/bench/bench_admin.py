#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Admin benchmark on the multi-VM test bed (tests/integration/testbed.py).

The bed's host agent and chromium-vm (booted once, before anything is
timed) are real agents with real systemd user managers; the admin is
restarted for each part with a fresh state directory and the monitor
interval that part needs. Clients use mutual TLS (python3-grpcio, and our
C client for the poll round trip).

1. StartApplication of `foot` in chromium-vm, sequentially: the time from
   the request to the reply, and from the request to the unit's
   ActiveEnterTimestampMonotonic in the VM's manager (same CLOCK_MONOTONIC).
   The reply implies an active unit (the admin registers the application
   only after the agent's start job finished and a GetUnitStatus said
   "active"); every start is checked in the VM's manager, then stopped with
   StopApplication before the next one (one application at a time). The
   same number of starts straight at the VM's agent shows what the admin adds.
2. Registry events at a Watch subscriber:
   - a change made behind the admin's back (systemctl freeze/thaw of the
     application's unit in the VM's manager) reaches the subscriber at the
     admin's next monitor round: about interval/2 + one poll on average.
     Measured with the default interval (5 s) and with 500 ms; each change
     comes a random time (uniform in [0, interval)) after the last event, so
     the changes do not lock onto the monitor's phase.
   - PauseApplication/ResumeApplication through the admin: request to the
     Updated event (the admin polls the unit right after the agent's call),
     and the same FreezeUnit/UnfreezeUnit straight at the VM's agent.
   - One poll: GetUnitStatus at the VM's agent from our C client (bench-unary).
3. QueryList with 1,000 entries: units registered under
   givc-chromium-vm.service with chromium-vm's certificate (the admin binds a
   registration to the certificate). They are real: active targets in the
   VM's manager, listed in the VM agent's SERVICES, so that the admin's polls
   get answers (the agent answers only for the units it controls; it
   registers only the .service ones itself, so these are left to us). The
   admin runs with --monitor-interval 60min here, so that no monitor round
   falls into the measurements; each registration still polls its entry once,
   and those polls are waited out (admin CPU idle). The entry count is
   checked before and after. QueryList latency is taken on raw bytes (the
   reply parsed once, to check it), and the admin's CPU time per call from
   /proc. Then re-registrations of the same units (what agents do when they
   reconnect; the entry keeps its status, so the registry does not change,
   but each is polled again) with no other load, while 1 or 2 QueryList
   clients run flat out, and, as the control for plain CPU contention, while
   as many health check clients run flat out.
4. Registrations per second: 1,000 new entries into an empty registry from
   one client (sequential) and from several client processes at once.
5. Admin RSS (VmRSS, RssAnon from /proc/PID/status): idle (the agents
   registered, 1 s later) and with the 1,000 entries: after registering
   them, after the QueryLists, at the end, and after a restart that restored
   them from the state file.
6. The monitor with 1,000 entries: the restarted admin at the default
   interval (5 s); CPU time of the admin, the VM's agent and the VM's
   manager per round, over --monitor-rounds rounds.

Load and concurrent clients are separate processes (this script with
--worker). Nothing is pinned; no timing passes or fails. --quick makes a
smoke run; --report-from JSON... prints the table of earlier --json runs
together (medians over all their runs).
"""

import argparse
import copy
import json
import os
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))

VM = 'chromium-vm'
APP = 'foot'
SVC_TYPE = 13           # AppVM / Svc (upstream's numbering)


# ---- helpers -----------------------------------------------------------------

def percentile(values, p):
    v = sorted(values)
    return v[int(p * (len(v) - 1) + 0.5)]


def stats(values, scale=1.0):
    """p50/p90/p99/max/min/n of values, multiplied by scale."""
    if not values:
        return None
    return {'n': len(values), 'p50': percentile(values, 0.5) * scale, 'p90': percentile(values, 0.9) * scale,
            'p99': percentile(values, 0.99) * scale, 'max': max(values) * scale, 'min': min(values) * scale,
            'mean': statistics.fmean(values) * scale}


def proc_status(pid):
    with open('/proc/%d/status' % pid) as f:
        fields = dict(line.split(':', 1) for line in f if ':' in line)
    return {k: int(fields[k].split()[0]) for k in ('VmRSS', 'RssAnon', 'RssFile')}


def proc_cpu_s(pid):
    """User + system CPU time of pid so far, in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wait_idle(pid, timeout=60, window=0.5, busy=0.02):
    """Waits until pid used at most busy s of CPU in a window; the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c0 = proc_cpu_s(pid)
        time.sleep(window)
        if proc_cpu_s(pid) - c0 <= busy:
            break
    return time.monotonic() - t0 - window


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError('timed out waiting for ' + what)
        time.sleep(0.05)


# ---- client worker processes ----------------------------------------------------
#
# Load and concurrent registrations come from separate processes, so that
# the clients do not share one Python interpreter (GIL) with each other or
# with the timing loop. A worker connects, prints "ready", waits for "go"
# on stdin, works (load workers until "stop" or EOF), and prints one JSON line.

def registry_request(S, name, port):
    return S.admin_pb2.RegistryRequest(
        Name=name, Parent='givc-%s.service' % VM, Type=SVC_TYPE,
        Transport=S.admin_pb2.TransportConfig(Protocol='tcp', Address='127.0.0.5', Port=str(port), Name=VM),
        State=S.admin_pb2.UnitStatus(Name=name, Description='benchmark unit', LoadState='loaded',
                                     ActiveState='active',
                                     Path='/org/freedesktop/systemd1/unit/' + name.replace('-', '_2d')
                                     .replace('.', '_2e')))


def service_name(i):
    """The i-th registered unit: a target, so that the VM's agent, which has
    them in SERVICES, answers for them but does not register them itself
    (agents register only the .service units of SERVICES)."""
    return 'bench-svc-%05d.target' % i


def make_units(bed, n):
    """n active target units in the VM's manager, for the registered entries."""
    m = bed.vm_manager(VM)
    for i in range(n):
        m.write_unit(service_name(i), '[Unit]\nDescription=benchmark unit %d\n' % i)
    m.daemon_reload()
    names = [service_name(i) for i in range(n)]
    for k in range(0, n, 250):
        m.systemctl('start', *names[k:k + 250], timeout=120)


def worker_main(a):
    import givctest
    givctest._stub_dir = a.stub_dir
    sys.path.insert(0, a.stub_dir)
    S = givctest.stubs()
    paths = {'ca': a.ca, 'cert': a.cert, 'key': a.key}
    out = {'kind': a.worker, 'latencies_ns': [], 'errors': 0}
    with givctest.channel(a.target, paths, a.name) as ch:
        admin = S.admin_pb2_grpc.AdminServiceStub(ch)
        health = S.health_pb2_grpc.HealthStub(ch)
        raw_query = ch.unary_unary('/admin.AdminService/QueryList',
                                   request_serializer=S.admin_pb2.Empty.SerializeToString,
                                   response_deserializer=None)
        health.Check(S.health_pb2.HealthCheckRequest(), timeout=30, wait_for_ready=True)
        stop = threading.Event()
        print('ready', flush=True)
        if sys.stdin.readline().strip() != 'go':
            return 1
        if a.worker in ('querylist', 'health'):
            threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
        lat = out['latencies_ns']
        t_start = time.perf_counter_ns()
        if a.worker == 'register':
            for i in range(a.first, a.first + a.count):
                req = registry_request(S, service_name(i), a.port)
                t0 = time.perf_counter_ns()
                r = admin.RegisterService(req, timeout=30)
                lat.append(time.perf_counter_ns() - t0)
                if r.HasField('Error'):
                    out['errors'] += 1
        elif a.worker == 'querylist':
            size = 0
            while not stop.is_set():
                t0 = time.perf_counter_ns()
                raw = raw_query(S.admin_pb2.Empty(), timeout=30)
                lat.append(time.perf_counter_ns() - t0)
                size = len(raw)
                if a.count and len(lat) >= a.count:
                    break
            t0 = time.perf_counter_ns()
            items = len(S.admin_pb2.QueryListResponse.FromString(raw).List)
            out.update(items=items, bytes=size, parse_ns=time.perf_counter_ns() - t0)
        elif a.worker == 'health':
            while not stop.is_set():
                t0 = time.perf_counter_ns()
                health.Check(S.health_pb2.HealthCheckRequest(), timeout=30)
                lat.append(time.perf_counter_ns() - t0)
        out['elapsed_ns'] = time.perf_counter_ns() - t_start
        out['start_ns'] = t_start
    print(json.dumps(out), flush=True)
    return 0


class Workers:
    """A set of worker processes started together and released with "go"."""

    def __init__(self, ctx, specs):
        self.procs = []
        for spec in specs:
            argv = [sys.executable, os.path.abspath(__file__), '--worker', spec['kind'],
                    '--stub-dir', ctx['stub_dir'], '--target', ctx['target'], '--name', ctx['name'],
                    '--ca', ctx['paths']['ca'], '--cert', ctx['paths']['cert'], '--key', ctx['paths']['key'],
                    '--port', str(ctx['port']), '--first', str(spec.get('first', 0)),
                    '--count', str(spec.get('count', 0))]
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        try:
            for p in self.procs:
                line = self._readline(p, 60)
                if line.strip() != 'ready':
                    raise RuntimeError('worker %d did not start: %r' % (p.pid, line))
        except BaseException:
            self.kill()
            raise

    @staticmethod
    def _readline(p, timeout):
        ready, _, _ = select.select([p.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError('worker %d is silent' % p.pid)
        return p.stdout.readline()

    def go(self):
        for p in self.procs:
            p.stdin.write('go\n')
            p.stdin.flush()

    def stop(self):
        for p in self.procs:
            p.stdin.write('stop\n')
            p.stdin.flush()

    def results(self, timeout=600):
        out = []
        for p in self.procs:
            line = self._readline(p, timeout)
            p.stdin.close()
            if p.wait(30) != 0 or not line:
                raise RuntimeError('worker %d failed (%s)' % (p.pid, p.returncode))
            out.append(json.loads(line))
        return out

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def run_workers(ctx, specs, timeout=600, cpu_of=None):
    """Runs workers to completion; their results. With cpu_of (a PID), the
    CPU time that process used from "go" to the last result goes into the
    first result as 'server_cpu_s'."""
    w = Workers(ctx, specs)
    try:
        cpu0 = proc_cpu_s(cpu_of) if cpu_of else 0
        w.go()
        out = w.results(timeout)
        if cpu_of:
            out[0]['server_cpu_s'] = proc_cpu_s(cpu_of) - cpu0
        return out
    finally:
        w.kill()


# ---- the bench ------------------------------------------------------------------

class Watcher:
    """A Watch subscriber in a thread: (monotonic time, kind, item) of every event."""

    def __init__(self, S, channel):
        self.S = S
        self.events = []
        self.cond = threading.Condition()
        self.stream = S.admin_pb2_grpc.AdminServiceStub(channel).Watch(S.admin_pb2.Empty())
        first = next(self.stream)
        if first.WhichOneof('Status') != 'Initial':
            raise RuntimeError('the first Watch item is not Initial')
        self.initial = first.Initial
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for item in self.stream:
                t = time.monotonic()
                kind = item.WhichOneof('Status')
                with self.cond:
                    self.events.append((t, kind, getattr(item, kind)))
                    self.cond.notify_all()
        except Exception:  # noqa: BLE001 (cancelled at the end)
            pass

    def mark(self):
        with self.cond:
            return len(self.events)

    def wait(self, since, pred, timeout):
        """The first event at index >= since that pred accepts: (index, time, kind, item)."""
        deadline = time.monotonic() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.events):
                    t, kind, item = self.events[i]
                    if pred(kind, item):
                        return i, t, kind, item
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError('no matching Watch event')
                self.cond.wait(left)

    def close(self):
        self.stream.cancel()
        self.thread.join(10)


class Bench:

    def __init__(self, args, bed, S, tmp):
        self.args = args
        self.bed = bed
        self.S = S
        self.tmp = tmp
        self.admin_starts = 0

    # -- admin --

    def start_admin(self, interval=None, keep_state=False):
        """(Re)starts the admin, with a fresh state directory unless keep_state;
        returns once the agents have registered."""
        self.admin_starts += 1
        if not keep_state:
            self.state_dir = os.path.join(self.tmp, 'state-%d' % self.admin_starts)
        extra = ['--state-dir', self.state_dir]
        if interval:
            extra += ['--monitor-interval', interval]
        if self.bed.admin_running():
            self.bed.stop_admin()
        self.bed.start_admin(extra_args=extra)
        self.pid = self.bed.admin.proc.pid
        with self.bed.channel(self.bed.admin_name) as ch:
            admin = self.S.admin_pb2_grpc.AdminServiceStub(ch)
            wanted = {self.bed.unit(self.bed.host_name), self.bed.unit(VM)}
            wait_until(lambda: wanted <= {i.Name for i in admin.QueryList(self.S.admin_pb2.Empty(),
                                                                            timeout=10).List},
                       60, 'the agents to register with the admin')

    def admin_stub(self, ch):
        return self.S.admin_pb2_grpc.AdminServiceStub(ch)

    def query(self, admin):
        return admin.QueryList(self.S.admin_pb2.Empty(), timeout=30).List

    def app_request(self, name, vm=None):
        r = self.S.admin_pb2.ApplicationRequest(AppName=name)
        if vm:
            r.VmName = vm
        return r

    def start_app(self, admin):
        """StartApplication foot in chromium-vm: (t0, t1, unit)."""
        t0 = time.monotonic()
        r = admin.StartApplication(self.app_request(APP, VM), timeout=60)
        t1 = time.monotonic()
        if r.CmdStatus != 'Command successful.':
            raise RuntimeError('StartApplication: %r' % r.CmdStatus)
        apps = [i.Name for i in self.query(admin) if i.Name.startswith(APP + '@')]
        if len(apps) != 1:
            raise RuntimeError('expected one %s instance registered, got %r' % (APP, apps))
        return t0, t1, apps[0]

    # -- 1. StartApplication --

    def starts(self, count):
        """count times StartApplication, then StopApplication; the starts' latencies (ms)."""
        out = []
        with self.bed.channel(self.bed.admin_name) as ch:
            admin = self.admin_stub(ch)
            for _ in range(count):
                t0, t1, _ = self.start_app(admin)
                out.append((t1 - t0) * 1000)
                admin.StopApplication(self.app_request(APP), timeout=60)
        return out

    def start_application(self):
        m = self.bed.vm_manager(VM)
        rpc_ms, active_ms, after_active_ms, stop_ms, activating_ms = [], [], [], [], []
        with self.bed.channel(self.bed.admin_name) as ch:
            admin = self.admin_stub(ch)
            for i in range(self.args.starts):
                t0, t1, unit = self.start_app(admin)
                rpc_ms.append((t1 - t0) * 1000)
                # Checked on the VM's side: active, and since when (systemd's CLOCK_MONOTONIC).
                p = m.show(unit, 'ActiveState', 'ActiveEnterTimestampMonotonic', 'InactiveExitTimestampMonotonic')
                if p.get('ActiveState') != 'active':
                    raise RuntimeError('%s is %r in the VM after StartApplication' % (unit, p))
                active_at = int(p['ActiveEnterTimestampMonotonic']) / 1e6
                activating_ms.append((int(p['InactiveExitTimestampMonotonic']) / 1e6 - t0) * 1000)
                active_ms.append((active_at - t0) * 1000)
                after_active_ms.append((t1 - active_at) * 1000)
                t2 = time.monotonic()
                admin.StopApplication(self.app_request(APP), timeout=60)
                stop_ms.append((time.monotonic() - t2) * 1000)
                if m.show(unit, 'ActiveState').get('ActiveState') not in ('inactive', None):
                    raise RuntimeError('%s still there after StopApplication' % unit)
            left = [i.Name for i in self.query(admin) if i.Name.startswith(APP + '@')]
            if left:
                raise RuntimeError('applications left registered: %r' % left)
        # The same starts straight at the VM's agent: what the admin adds.
        direct_ms = []
        with self.bed.channel(VM, client=self.bed.admin_name) as ch:
            units = self.S.systemd_pb2_grpc.UnitControlServiceStub(ch)
            for i in range(self.args.starts):
                unit = '%s@%d.service' % (APP, 900 + i)
                t0 = time.monotonic()
                units.StartApplication(self.S.systemd_pb2.AppUnitRequest(UnitName=unit), timeout=60)
                direct_ms.append((time.monotonic() - t0) * 1000)
                units.StopUnit(self.S.systemd_pb2.UnitRequest(UnitName=unit), timeout=60)
        return {'rpc_ms': rpc_ms, 'active_ms': active_ms, 'active_to_reply_ms': after_active_ms,
                'stop_ms': stop_ms, 'activating_ms': activating_ms, 'agent_direct_ms': direct_ms}

    # -- 2. Watch --

    def poll_round_trip(self, unit):
        """GetUnitStatus of unit at the VM's agent from our C client (what one poll costs)."""
        p = self.bed.paths(self.bed.admin_name)
        r = subprocess.run([self.args.bench_unary, self.bed.address(VM), '--name', VM, '--ca', p['ca'],
                            '--cert', p['cert'], '--key', p['key'], '--unit-status', unit,
                            '--calls', str(self.args.poll_calls), '--warmup', '100'],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError('bench-unary: ' + r.stderr)
        return json.loads(r.stdout)

    def watch_behind_back(self, interval_s, samples):
        """Freeze/thaw with systemctl in the VM's manager → Updated at a Watch subscriber."""
        m = self.bed.vm_manager(VM)
        out = {'interval_s': interval_s, 'latency_ms': [], 'systemctl_ms': []}
        with self.bed.channel(self.bed.admin_name) as ch:
            admin = self.admin_stub(ch)
            _, _, unit = self.start_app(admin)
            w = Watcher(self.S, ch)
            try:
                for k in range(samples):
                    time.sleep(random.uniform(0, interval_s))
                    freeze = k % 2 == 0
                    want = 'Paused' if freeze else 'Running'
                    mark = w.mark()
                    ta = time.monotonic()
                    m.systemctl('freeze' if freeze else 'thaw', unit)
                    tb = time.monotonic()
                    _, te, _, _ = w.wait(mark, lambda kind, it: kind == 'Updated' and it.Name == unit
                                         and it.VmStatus == want, interval_s * 3 + 10)
                    out['latency_ms'].append((te - tb) * 1000)
                    out['systemctl_ms'].append((tb - ta) * 1000)
                if samples % 2:
                    m.systemctl('thaw', unit)
            finally:
                w.close()
            admin.StopApplication(self.app_request(APP), timeout=60)
        return out

    def watch_through_admin(self, samples):
        """PauseApplication/ResumeApplication → Updated at a Watch subscriber."""
        out = {'event_ms': [], 'rpc_ms': []}
        with self.bed.channel(self.bed.admin_name) as ch:
            admin = self.admin_stub(ch)
            _, _, unit = self.start_app(admin)
            w = Watcher(self.S, ch)
            try:
                for k in range(samples):
                    pause = k % 2 == 0
                    want = 'Paused' if pause else 'Running'
                    call = admin.PauseApplication if pause else admin.ResumeApplication
                    mark = w.mark()
                    t0 = time.monotonic()
                    call(self.app_request(unit), timeout=60)
                    t1 = time.monotonic()
                    _, te, _, _ = w.wait(mark, lambda kind, it: kind == 'Updated' and it.Name == unit
                                         and it.VmStatus == want, 30)
                    out['event_ms'].append((te - t0) * 1000)
                    out['rpc_ms'].append((t1 - t0) * 1000)
                if samples % 2:
                    admin.ResumeApplication(self.app_request(unit), timeout=60)
            finally:
                w.close()
            # The same freezes and thaws straight at the VM's agent: what systemd takes.
            out['agent_direct_ms'] = []
            with self.bed.channel(VM, client=self.bed.admin_name) as vch:
                units = self.S.systemd_pb2_grpc.UnitControlServiceStub(vch)
                for k in range(samples):
                    call = units.FreezeUnit if k % 2 == 0 else units.UnfreezeUnit
                    t0 = time.monotonic()
                    call(self.S.systemd_pb2.UnitRequest(UnitName=unit), timeout=60)
                    out['agent_direct_ms'].append((time.monotonic() - t0) * 1000)
                if samples % 2:
                    units.UnfreezeUnit(self.S.systemd_pb2.UnitRequest(UnitName=unit), timeout=60)
            admin.StopApplication(self.app_request(APP), timeout=60)
        return out

    # -- 3-5. registrations, QueryList, RSS --

    def worker_ctx(self):
        return {'stub_dir': self.args.stub_dir, 'target': self.bed.address(self.bed.admin_name),
                'name': self.bed.admin_name, 'paths': self.bed.paths(VM), 'port': self.bed.port}

    def count_entries(self):
        with self.bed.channel(self.bed.admin_name) as ch:
            return len(self.query(self.admin_stub(ch)))

    @staticmethod
    def reg_summary(results):
        lat = [x for r in results for x in r['latencies_ns']]
        start = min(r['start_ns'] for r in results)
        end = max(r['start_ns'] + r['elapsed_ns'] for r in results)
        if any(r['errors'] for r in results):
            raise RuntimeError('registrations were refused')
        out = {'clients': len(results), 'registrations': len(lat), 'per_s': len(lat) / ((end - start) / 1e9),
               'latency_us': stats(lat, 1e-3)}
        if 'server_cpu_s' in results[0]:
            out['admin_cpu_us_per_call'] = results[0]['server_cpu_s'] * 1e6 / len(lat)
        return out

    def registry_part(self):
        a, n = self.args, self.args.entries
        ctx = self.worker_ctx()
        out = {}
        self.start_admin(a.registry_interval)
        time.sleep(1)
        base = self.count_entries()
        out['rss_idle'] = proc_status(self.pid)

        # 4. one client, sequential, into an empty registry
        out['register_1_client'] = self.reg_summary(
            run_workers(ctx, [{'kind': 'register', 'first': 0, 'count': n}], cpu_of=self.pid))
        # Each registration queues a poll of the new entry; let them finish.
        out['register_1_client']['settle_s'] = wait_idle(self.pid)
        if self.count_entries() != base + n:
            raise RuntimeError('expected %d entries' % (base + n))
        out['rss_registered'] = proc_status(self.pid)
        out['state_file_bytes'] = os.path.getsize(os.path.join(self.state_dir, 'admin-state.json'))

        # 3. QueryList with n entries
        ql = run_workers(ctx, [{'kind': 'querylist', 'count': a.querylist_calls}], cpu_of=self.pid)[0]
        out['querylist'] = {'latency_us': stats(ql['latencies_ns'], 1e-3), 'items': ql['items'],
                            'bytes': ql['bytes'], 'parse_us': ql['parse_ns'] / 1e3,
                            'admin_cpu_us_per_call': ql['server_cpu_s'] * 1e6 / len(ql['latencies_ns'])}
        out['rss_queried'] = proc_status(self.pid)
        if ql['items'] != base + n:
            raise RuntimeError('QueryList returned %d items, expected %d' % (ql['items'], base + n))

        # StartApplication's reply waits for the state file, which holds all entries now.
        out['start_with_entries_ms'] = self.starts(a.starts_with_entries)

        # Re-registrations of the same services (as agents do when they
        # reconnect): alone, then while other clients load the admin.
        rereg = min(n, a.reregistrations)
        spec = [{'kind': 'register', 'first': 0, 'count': rereg}]
        out['rereg'] = {'none': self.reg_summary(run_workers(ctx, spec, cpu_of=self.pid))}
        for load, k in [(load, k) for load in ('querylist', 'health') for k in a.load_clients]:
            loaders = Workers(ctx, [{'kind': load}] * k)
            try:
                loaders.go()
                time.sleep(0.5)         # let them get going
                regs = run_workers(ctx, spec)
                loaders.stop()
                lres = loaders.results()
            finally:
                loaders.kill()
            d = self.reg_summary(regs)
            lat = [x for r in lres for x in r['latencies_ns']]
            d['load'] = {'clients': len(lres), 'calls_per_s': sum(len(r['latencies_ns']) / (r['elapsed_ns'] / 1e9)
                                                                  for r in lres),
                         'latency_us': stats(lat, 1e-3)}
            out['rereg']['%s-%d' % (load, k)] = d
        out['entries_after'] = self.count_entries()
        if out['entries_after'] != base + n:
            raise RuntimeError('the registry changed size during the measurement: %d' % out['entries_after'])
        out['rss_loaded'] = proc_status(self.pid)
        out['entries'] = base + n

        # The monitor with all entries, at the default interval: the admin
        # restarted on the same state, which it restores and polls at once.
        self.start_admin(keep_state=True)
        out['rss_restored'] = proc_status(self.pid)
        out['monitor'] = self.monitor_cost(a.monitor_rounds)

        # 4. several clients at once, into an empty registry (a fresh admin)
        self.start_admin(a.registry_interval)
        k = a.clients
        per = n // k
        specs = [{'kind': 'register', 'first': j * per, 'count': per} for j in range(k)]
        out['register_n_clients'] = self.reg_summary(run_workers(ctx, specs, cpu_of=self.pid))
        out['register_n_clients']['settle_s'] = wait_idle(self.pid)
        if self.count_entries() != base + per * k:
            raise RuntimeError('expected %d entries' % (base + per * k))
        return out

    def monitor_cost(self, rounds, interval_s=5.0):
        """CPU of the admin, the VM's agent and the VM's manager over whole monitor rounds."""
        st = self.bed.vm_status()[VM]
        pids = {'admin': self.pid, 'agent': int(st['agent_pid']), 'vm_manager': int(st['manager_pid'])}
        time.sleep(1)
        c0 = {k: proc_cpu_s(p) for k, p in pids.items()}
        time.sleep(rounds * interval_s)
        return {'rounds': rounds, 'entries': self.count_entries(),
                'cpu_ms_per_round': {k: (proc_cpu_s(p) - c0[k]) * 1000 / rounds for k, p in pids.items()}}

    def run(self, run_no):
        a = self.args
        res = {'run': run_no}
        # The default monitor interval (5 s): applications and Watch.
        self.start_admin()
        res['start_application'] = self.start_application()
        res['watch_admin'] = self.watch_through_admin(a.pause_samples)
        res['watch_5s'] = self.watch_behind_back(5.0, a.watch_samples_5s)
        self.start_admin('500ms')
        res['watch_500ms'] = self.watch_behind_back(0.5, a.watch_samples_500ms)
        with self.bed.channel(self.bed.admin_name) as ch:
            admin = self.admin_stub(ch)
            _, _, unit = self.start_app(admin)
            res['poll_round_trip'] = self.poll_round_trip(unit)
            admin.StopApplication(self.app_request(APP), timeout=60)
        res.update(self.registry_part())
        self.bed.stop_admin()
        return res


# ---- report ---------------------------------------------------------------------

def med(runs, *path):
    """The median over runs of runs[i][path...]."""
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v[p]
        vals.append(v)
    return statistics.median(vals)


def summarize(runs):
    """Adds '_stats' to each run: p50/p90/... of its sample lists."""
    for r in runs:
        sa, wa = r['start_application'], r['watch_admin']
        r['_stats'] = {
            'start': {k: stats(sa[k]) for k in ('rpc_ms', 'activating_ms', 'active_ms', 'active_to_reply_ms',
                                                 'stop_ms', 'agent_direct_ms')},
            'watch_5s': stats(r['watch_5s']['latency_ms']),
            'watch_500ms': stats(r['watch_500ms']['latency_ms']),
            'pause_event': stats(wa['event_ms']),
            'pause_rpc': stats(wa['rpc_ms']),
            'pause_agent': stats(wa['agent_direct_ms']),
            'start_with_entries': stats(r['start_with_entries_ms']),
        }


def report(runs, args):
    summarize(runs)
    rows = []

    def row(what, fmt, *paths):
        rows.append((what, fmt % tuple(med(runs, *p) for p in paths)))

    def st(*p):
        return ('_stats',) + p

    n_starts = runs[0]['_stats']['start']['rpc_ms']['n']
    row('StartApplication foot in chromium-vm, request → reply: p50 / p90 / max (%d starts)' % n_starts,
        '%.1f / %.1f / %.1f ms', *[st('start', 'rpc_ms', k) for k in ('p50', 'p90', 'max')])
    row('… request → unit active in the VM (its ActiveEnterTimestamp): p50 / p90 / max',
        '%.1f / %.1f / %.1f ms', *[st('start', 'active_ms', k) for k in ('p50', 'p90', 'max')])
    row('… request → start job running in the VM (InactiveExitTimestamp): p50 / p90 / max',
        '%.1f / %.1f / %.1f ms', *[st('start', 'activating_ms', k) for k in ('p50', 'p90', 'max')])
    row('… unit active → reply at the client: p50 / max', '%.2f / %.2f ms',
        st('start', 'active_to_reply_ms', 'p50'), st('start', 'active_to_reply_ms', 'max'))
    row('the same starts straight at the VM\'s agent (no admin): p50 / p90 / max', '%.1f / %.1f / %.1f ms',
        *[st('start', 'agent_direct_ms', k) for k in ('p50', 'p90', 'max')])
    row('StopApplication between the starts: p50 / p90', '%.1f / %.1f ms',
        st('start', 'stop_ms', 'p50'), st('start', 'stop_ms', 'p90'))
    row('StartApplication with %d entries in the registry: p50 / p90 / max (%d starts)'
        % (runs[0]['entries'], runs[0]['_stats']['start_with_entries']['n']), '%.1f / %.1f / %.1f ms',
        *[st('start_with_entries', k) for k in ('p50', 'p90', 'max')])

    for key, interval in (('watch_5s', 5.0), ('watch_500ms', 0.5)):
        pooled = [x for r in runs for x in r[key]['latency_ms']]
        rows.append(('Watch: freeze/thaw with systemctl in the VM → Updated, monitor interval %g s: '
                     'p50 / p90 / min / max (%d changes per run)' % (interval, runs[0]['_stats'][key]['n']),
                     '%.0f / %.0f / %.0f / %.0f ms' % tuple(med(runs, *st(key, k))
                                                            for k in ('p50', 'p90', 'min', 'max'))))
        rows.append(('… all %d changes pooled: mean (expected interval/2 + one poll)' % len(pooled),
                     '%.0f ms (%.0f ms)' % (statistics.fmean(pooled), interval * 500)))
    row('one poll: GetUnitStatus at the VM\'s agent, C client: p50 / p99', '%.0f / %.0f µs',
        ('poll_round_trip', 'p50_us'), ('poll_round_trip', 'p99_us'))
    n_pause = runs[0]['_stats']['pause_event']['n']
    row('Pause/ResumeApplication → Updated at the subscriber: p50 / p90 (%d calls)' % n_pause,
        '%.1f / %.1f ms', st('pause_event', 'p50'), st('pause_event', 'p90'))
    row('… → reply: p50 / p90', '%.1f / %.1f ms', st('pause_rpc', 'p50'), st('pause_rpc', 'p90'))
    row('… FreezeUnit/UnfreezeUnit straight at the VM\'s agent: p50 / p90', '%.1f / %.1f ms',
        st('pause_agent', 'p50'), st('pause_agent', 'p90'))

    ql = 'querylist'
    row('QueryList, %d entries (%d KB reply), raw bytes: p50 / p99 (%d calls)'
        % (runs[0]['entries'], runs[0][ql]['bytes'] / 1024, runs[0][ql]['latency_us']['n']),
        '%.0f / %.0f µs', (ql, 'latency_us', 'p50'), (ql, 'latency_us', 'p99'))
    row('… admin CPU per QueryList', '%.0f µs', (ql, 'admin_cpu_us_per_call'))
    row('… parsing the reply in python (protobuf cpp)', '%.0f µs', (ql, 'parse_us'))
    row('re-registration of one of them, no other load: p50 / p99', '%.0f / %.0f µs',
        ('rereg', 'none', 'latency_us', 'p50'), ('rereg', 'none', 'latency_us', 'p99'))
    for load in ('querylist', 'health'):
        for k in args.load_clients:
            key = '%s-%d' % (load, k)
            what = ('%d QueryList client(s)' % k if load == 'querylist'
                    else '%d health-check client(s) (control)' % k)
            row('… while %s run flat out: p50 / p99; the load: calls/s' % what, '%.0f / %.0f µs; %.0f/s',
                ('rereg', key, 'latency_us', 'p50'), ('rereg', key, 'latency_us', 'p99'),
                ('rereg', key, 'load', 'calls_per_s'))
    r1, rn = runs[0]['register_1_client'], runs[0]['register_n_clients']
    row('registrations/s, 1 client, sequential (%d new entries; latency p50 / p99)' % r1['registrations'],
        '%.0f/s (%.0f / %.0f µs)', ('register_1_client', 'per_s'),
        ('register_1_client', 'latency_us', 'p50'), ('register_1_client', 'latency_us', 'p99'))
    row('registrations/s, %d clients at once (%d new entries; latency p50 / p99)'
        % (rn['clients'], rn['registrations']),
        '%.0f/s (%.0f / %.0f µs)', ('register_n_clients', 'per_s'),
        ('register_n_clients', 'latency_us', 'p50'), ('register_n_clients', 'latency_us', 'p99'))
    row('admin CPU per registration: new (1 client) / new (%d clients) / re-registration' % rn['clients'],
        '%.0f / %.0f / %.0f µs', ('register_1_client', 'admin_cpu_us_per_call'),
        ('register_n_clients', 'admin_cpu_us_per_call'), ('rereg', 'none', 'admin_cpu_us_per_call'))
    rows.append(('state file with %d entries' % runs[0]['entries'], '%.0f KB' % (med(runs, 'state_file_bytes') / 1024)))
    row('one monitor round over %d entries: CPU of admin / VM agent / VM manager'
        % runs[0]['monitor']['entries'], '%.0f / %.0f / %.0f ms',
        *[('monitor', 'cpu_ms_per_round', k) for k in ('admin', 'agent', 'vm_manager')])
    for key, label in (('rss_idle', 'idle (agents registered, 1 s later)'),
                       ('rss_registered', 'with %d entries, after registering them' % runs[0]['entries']),
                       ('rss_queried', 'with %d entries, after the QueryLists' % runs[0]['entries']),
                       ('rss_loaded', 'with %d entries, at the end' % runs[0]['entries']),
                       ('rss_restored', 'restarted, %d entries restored from the state' % runs[0]['entries'])):
        rows.append(('admin RSS %s: VmRSS (RssAnon)' % label,
                     '%.1f MB (%.1f MB)' % (med(runs, key, 'VmRSS') / 1024, med(runs, key, 'RssAnon') / 1024)))

    print('\n| measure (median of %d run%s) | value |' % (len(runs), '' if len(runs) == 1 else 's'))
    print('|---|---|')
    for what, value in rows:
        print('| %s | %s |' % (what, value))
    print('\nper run:')
    for r in runs:
        s = r['_stats']
        print('  run %d: start p50 %.1f ms, watch p50 %.0f ms (5 s) %.0f ms (500 ms), pause→event p50 %.1f ms, '
              'QueryList p50 %.0f µs, registrations/s %.0f (1) %.0f (%d), RSS %.1f → %.1f MB'
              % (r['run'], s['start']['rpc_ms']['p50'], s['watch_5s']['p50'], s['watch_500ms']['p50'],
                 s['pause_event']['p50'], r[ql]['latency_us']['p50'], r['register_1_client']['per_s'],
                 r['register_n_clients']['per_s'], r['register_n_clients']['clients'],
                 r['rss_idle']['VmRSS'] / 1024, r['rss_loaded']['VmRSS'] / 1024))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--givc')
    p.add_argument('--bench-unary')
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--starts', type=int, default=100)
    p.add_argument('--pause-samples', type=int, default=100)
    p.add_argument('--watch-samples-5s', type=int, default=20)
    p.add_argument('--watch-samples-500ms', type=int, default=60)
    p.add_argument('--poll-calls', type=int, default=2000)
    p.add_argument('--entries', type=int, default=1000)
    p.add_argument('--querylist-calls', type=int, default=1000)
    p.add_argument('--reregistrations', type=int, default=1000)
    p.add_argument('--load-clients', default='1,2', type=lambda v: [int(x) for x in v.split(',')],
                   help='numbers of concurrent QueryList (and health check) clients (default 1,2)')
    p.add_argument('--clients', type=int, default=4)
    p.add_argument('--monitor-rounds', type=int, default=4)
    p.add_argument('--starts-with-entries', type=int, default=30)
    p.add_argument('--registry-interval', default='60min',
                   help='monitor interval of the admin for parts 3-5 (default 60min)')
    p.add_argument('--quick', action='store_true', help='a smoke run: one run, few iterations')
    p.add_argument('--json')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--report-from', nargs='+', metavar='JSON', help='print the table of earlier --json files')
    # worker mode (internal)
    p.add_argument('--worker', choices=('register', 'querylist', 'health'), help=argparse.SUPPRESS)
    for opt in ('--stub-dir', '--target', '--name', '--ca', '--cert', '--key'):
        p.add_argument(opt, help=argparse.SUPPRESS)
    p.add_argument('--port', type=int, help=argparse.SUPPRESS)
    p.add_argument('--first', type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument('--count', type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker_main(args)
    if args.report_from:
        runs = []
        for path in args.report_from:
            with open(path) as f:
                d = json.load(f)
            args.load_clients = d['args']['load_clients']
            runs += d['runs']
        for i, r in enumerate(runs):
            r['run'] = i + 1
        report(runs, args)
        return 0
    if not args.givc or not args.bench_unary:
        p.error('--givc and --bench-unary are required')
    if args.quick:
        args.runs, args.starts, args.pause_samples = 1, 10, 10
        args.watch_samples_5s, args.watch_samples_500ms, args.poll_calls = 2, 6, 200
        args.querylist_calls, args.reregistrations, args.monitor_rounds = 100, 200, 1
        args.starts_with_entries = 5
    random.seed(args.seed)

    import givctest
    import testbed
    os.environ['GIVC'] = givctest.GIVC = os.path.abspath(args.givc)
    S = givctest.stubs()
    args.stub_dir = givctest._stub_dir
    tmp = tempfile.mkdtemp(prefix='givc-ba-')
    runs = []
    try:
        vms = copy.deepcopy(testbed.DEFAULT_VMS)
        next(vm for vm in vms if vm['name'] == VM)['services'] = [service_name(i) for i in range(args.entries)]
        bed = testbed.TestBed(args.givc, os.path.join(tmp, 'bed'), vms=vms, port=None, admin_port=None,
                              admin_default_args=())
        with bed:
            bed.boot(VM)
            make_units(bed, args.entries)
            bench = Bench(args, bed, S, tmp)
            for run in range(args.runs):
                t = time.monotonic()
                runs.append(bench.run(run + 1))
                print('run %d done in %.0f s' % (run + 1, time.monotonic() - t), file=sys.stderr, flush=True)
        report(runs, args)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump({'args': {k: v for k, v in vars(args).items() if not k.startswith('_')}, 'runs': runs},
                          f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(args.stub_dir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
