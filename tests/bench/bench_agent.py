#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Agent benchmark against a real systemd user manager (tests/integration/systemd_harness.py).

- GetUnitStatus over mutual TLS: p50/p99 of 10,000 sequential calls from our C client
  (tests/bench/bench-unary --unit-status), after 1,000 warm-up calls.
- StartApplication: 100 starts of a transient application unit, each from the call to the
  reply; the reply comes when systemd's start job is done, i.e. the unit is active
  (Type=exec). Each is checked with systemctl afterwards and stopped.
- RSS of the agent: idle (1 s after READY=1) and after the 10,000 calls (VmRSS, RssAnon).

Targets (issue 3): GetUnitStatus p50 <= 250 us, idle RSS <= 10 MB. Reported, not enforced.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))


def vm_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        fields = dict(line.split(':', 1) for line in f if ':' in line)
    return {k: int(fields[k].split()[0]) for k in ('VmRSS', 'RssAnon', 'RssFile')}


def percentile(values, p):
    v = sorted(values)
    return v[int(p * (len(v) - 1) + 0.5)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--givc', required=True)
    p.add_argument('--bench-unary', required=True)
    p.add_argument('--calls', type=int, default=10000)
    p.add_argument('--starts', type=int, default=100)
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--json')
    args = p.parse_args()

    import grpc
    import givctest
    import systemd_harness
    os.environ['GIVC'] = givctest.GIVC = os.path.abspath(args.givc)
    S = givctest.stubs()

    tmp = tempfile.mkdtemp(prefix='givc-bench-agent-')
    certs = givctest.Certs(tmp)
    agent_paths = certs.issue('bench-vm', ips=['127.0.0.1'])
    client = certs.issue('admin-vm')
    tls_c = ['--name', 'bench-vm', '--ca', client['ca'], '--cert', client['cert'], '--key', client['key']]
    results = {'get_unit_status': [], 'start_application_ms': [], 'rss': []}

    with systemd_harness.UserManager('bench-agent') as manager:
        manager.write_unit('demo.service', '[Service]\nExecStart=/bin/sleep 3600\n')
        manager.daemon_reload()
        manager.systemctl('start', 'demo.service')
        for run in range(args.runs):
            port = givctest.free_port()
            env = manager.env()
            env.update({
                'AGENT': json.dumps({'name': 'bench-vm', 'addr': '127.0.0.1', 'port': str(port)}),
                'ADMIN_SERVER': json.dumps({'name': 'admin-vm', 'addr': '127.0.0.1', 'port': str(givctest.free_port())}),
                'TLS_CONFIG': json.dumps({'enable': True, 'caCertPath': agent_paths['ca'],
                                          'certPath': agent_paths['cert'], 'keyPath': agent_paths['key']}),
                'TYPE': '12', 'SUBTYPE': '13', 'SERVICES': 'demo.service',
                'APPLICATIONS': json.dumps([{'name': 'app', 'command': '/bin/sleep 3600'}]),
            })
            agent = givctest.Server(['agent', '--user'], env=env, name='agent-%d' % run, workdir=tmp).start()
            try:
                time.sleep(1)
                idle = vm_rss_kib(agent.proc.pid)
                r = subprocess.run([args.bench_unary, '127.0.0.1:%d' % port, *tls_c, '--unit-status', 'demo.service',
                                    '--calls', str(args.calls)], capture_output=True, text=True, timeout=600)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
                results['get_unit_status'].append(json.loads(r.stdout))
                loaded = vm_rss_kib(agent.proc.pid)
                results['rss'].append({'idle': idle, 'after_calls': loaded})

                with givctest.channel('127.0.0.1:%d' % port, client, 'bench-vm') as ch:
                    units = S.systemd_pb2_grpc.UnitControlServiceStub(ch)
                    for i in range(args.starts):
                        unit = 'app@%d.service' % (run * args.starts + i)
                        t0 = time.perf_counter()
                        units.StartApplication(S.systemd_pb2.AppUnitRequest(UnitName=unit), timeout=30)
                        results['start_application_ms'].append((time.perf_counter() - t0) * 1000)
                        if manager.show(unit, 'ActiveState')['ActiveState'] != 'active':
                            raise RuntimeError('%s is not active after StartApplication' % unit)
                        units.StopUnit(S.systemd_pb2.UnitRequest(UnitName=unit), timeout=30)
            finally:
                agent.stop()

    def median(v):
        return sorted(v)[len(v) // 2]

    gus = results['get_unit_status']
    p50 = median([g['p50_us'] for g in gus])
    p99 = median([g['p99_us'] for g in gus])
    starts = results['start_application_ms']
    idle = median([r['idle']['VmRSS'] for r in results['rss']])
    idle_anon = median([r['idle']['RssAnon'] for r in results['rss']])
    after = median([r['after_calls']['VmRSS'] for r in results['rss']])
    print('\n| measure | value |')
    print('|---|---|')
    print('| GetUnitStatus p50 / p99 (%d calls, median of %d runs) | %.1f / %.1f us |' % (args.calls, args.runs, p50, p99))
    print('| StartApplication, call to active unit: p50 / p99 (%d starts) | %.2f / %.2f ms |'
          % (len(starts), percentile(starts, 0.5), percentile(starts, 0.99)))
    print('| agent RSS idle (of which anonymous) | %.1f MB (%.1f MB) |' % (idle / 1024, idle_anon / 1024))
    print('| agent RSS after %d calls | %.1f MB |' % (args.calls, after / 1024))
    print('targets: GetUnitStatus p50 %.1f us (<= 250): %s; idle RSS %.1f MB (<= 10): %s'
          % (p50, 'met' if p50 <= 250 else 'MISSED', idle / 1024, 'met' if idle <= 10240 else 'MISSED'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    subprocess.run(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
