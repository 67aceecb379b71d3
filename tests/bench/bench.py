#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Transport benchmark: unary round trips over mutual TLS on loopback.

Cases (each client in its own process, servers fresh per run):
  C client      -> givc server      (tests/bench/bench-unary)
  Python client -> givc server      (python3-grpcio)
  Python client -> Python server    (the baseline: python3-grpcio on both sides)
  C client      -> Python server
For each: latency of sequential calls on one channel (p50/p99) and calls/s
with 8 concurrent clients, each with its own connection. Plus the givc
server's RSS when idle and after the load.

Targets (issue 2): C->C p50 <= 60 us; C->C throughput >= 3x Python->Python.
They are reported, never enforced: this is a measurement, not a test.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))


def percentile(sorted_values, p):
    return sorted_values[int(p * (len(sorted_values) - 1) + 0.5)]


def python_client(args):
    """Runs in a child process: Python grpcio client, prints JSON."""
    import grpc
    import givctest
    S = givctest.stubs()
    paths = {'ca': args.ca, 'cert': args.cert, 'key': args.key}

    def make_channel():
        opts = [('grpc.ssl_target_name_override', args.name), ('grpc.use_local_subchannel_pool', 1)]
        return grpc.secure_channel(args.target, givctest.credentials(paths), options=opts)

    req = S.health_pb2.HealthCheckRequest()
    latencies = []
    lock = threading.Lock()

    def worker(n_calls, n_warmup):
        with make_channel() as ch:
            check = S.health_pb2_grpc.HealthStub(ch).Check
            check(req, timeout=10, wait_for_ready=True)
            mine = []
            for _ in range(n_warmup):
                check(req, timeout=10)
            for _ in range(n_calls):
                t0 = time.perf_counter_ns()
                check(req, timeout=10)
                mine.append(time.perf_counter_ns() - t0)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(args.calls, args.warmup)) for _ in range(args.threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    total = args.threads * args.calls
    print(json.dumps({'client': 'python', 'threads': args.threads, 'calls': total,
                      'p50_us': round(percentile(latencies, 0.5) / 1000, 1),
                      'p99_us': round(percentile(latencies, 0.99) / 1000, 1),
                      'calls_per_s': round((total + args.threads * args.warmup) / elapsed)}))


def python_server(args):
    """Runs in a child process: a Python grpcio Health server with mutual TLS."""
    from concurrent import futures

    import grpc
    import givctest
    S = givctest.stubs()

    class Health(S.health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            return S.health_pb2.HealthCheckResponse(status=S.health_pb2.HealthCheckResponse.SERVING)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    S.health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    creds = grpc.ssl_server_credentials([(givctest.read(args.key), givctest.read(args.cert))],
                                        root_certificates=givctest.read(args.ca), require_client_auth=True)
    server.add_secure_port(args.target, creds)
    server.start()
    print('ready', flush=True)
    server.wait_for_termination()


def vm_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        fields = dict(line.split(':', 1) for line in f if ':' in line)
    return {k: int(fields[k].split()[0]) for k in ('VmRSS', 'RssAnon', 'RssFile')}


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError('%s failed: %s%s' % (cmd[0], r.stdout, r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--givc', help='path of the givc binary')
    p.add_argument('--bench-unary', help='path of bench-unary')
    p.add_argument('--calls', type=int, default=10000, help='sequential calls (default 10000)')
    p.add_argument('--concurrent-calls', type=int, default=2500, help='calls per concurrent client (default 2500)')
    p.add_argument('--threads', type=int, default=8, help='concurrent clients (default 8)')
    p.add_argument('--runs', type=int, default=3, help='repetitions; medians are reported (default 3)')
    p.add_argument('--json', help='also write the results here')
    # Child process modes.
    p.add_argument('--python-client', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--python-server', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--target', help=argparse.SUPPRESS)
    p.add_argument('--name', help=argparse.SUPPRESS)
    p.add_argument('--ca', help=argparse.SUPPRESS)
    p.add_argument('--cert', help=argparse.SUPPRESS)
    p.add_argument('--key', help=argparse.SUPPRESS)
    p.add_argument('--warmup', type=int, default=1000, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.python_client:
        return python_client(args)
    if args.python_server:
        return python_server(args)

    import givctest
    os.environ['GIVC'] = givctest.GIVC = os.path.abspath(args.givc)
    tmp = tempfile.mkdtemp(prefix='givc-bench-')
    certs = givctest.Certs(tmp)
    srv_paths = certs.issue('admin-vm', ips=['127.0.0.1'])
    cli_paths = certs.issue('bench-client')
    tls_c = ['--name', 'admin-vm', '--ca', cli_paths['ca'], '--cert', cli_paths['cert'], '--key', cli_paths['key']]
    me = [sys.executable, os.path.abspath(__file__)]

    def c_client(target, threads, calls):
        return run_json([args.bench_unary, target, *tls_c, '--calls', str(calls), '--threads', str(threads)])

    def py_client(target, threads, calls):
        return run_json([*me, '--python-client', '--target', target, *tls_c, '--calls', str(calls),
                         '--threads', str(threads)])

    def with_givc(fn):
        port = givctest.free_port()
        s = givctest.Server(['admin', '--state-dir', os.path.join(tmp, 'admin-state'), '--listen', '127.0.0.1:%d' % port, '--use-tls', '--ca-cert', srv_paths['ca'],
                             '--host-cert', srv_paths['cert'], '--host-key', srv_paths['key']],
                            name='admin', workdir=tmp).start()
        try:
            return fn('127.0.0.1:%d' % port, s.proc.pid)
        finally:
            s.stop()

    def with_python(fn):
        port = givctest.free_port()
        proc = subprocess.Popen([*me, '--python-server', '--target', '127.0.0.1:%d' % port,
                                 '--ca', srv_paths['ca'], '--cert', srv_paths['cert'], '--key', srv_paths['key']],
                                stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            return fn('127.0.0.1:%d' % port, proc.pid)
        finally:
            proc.terminate()
            proc.wait()

    results = {}
    cases = [('C -> givc', with_givc, c_client), ('Python -> givc', with_givc, py_client),
             ('Python -> Python', with_python, py_client), ('C -> Python', with_python, c_client)]
    for _ in range(args.runs):
        for label, server, client in cases:
            r = results.setdefault(label, {'seq': [], 'conc': []})
            r['seq'].append(server(lambda t, pid: client(t, 1, args.calls)))
            r['conc'].append(server(lambda t, pid: client(t, args.threads, args.concurrent_calls)))

    def rss_case(target, pid):
        time.sleep(1)
        idle = vm_rss_kib(pid)
        c_client(target, 1, 20000)
        c_client(target, args.threads, args.concurrent_calls)
        return idle, vm_rss_kib(pid)
    rss_idle, rss_loaded = with_givc(rss_case)

    # A client started just before its server: how long after the server's
    # READY=1 does its first call (waiting for the server) complete?
    connect_delays = []
    for delay in (0.05, 0.2, 0.5, 1.0, 2.0):
        port = givctest.free_port()
        client = subprocess.Popen([args.bench_unary, '127.0.0.1:%d' % port, *tls_c, '--connect-only'],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(delay)
        s = givctest.Server(['admin', '--state-dir', os.path.join(tmp, 'admin-state'), '--listen', '127.0.0.1:%d' % port, '--use-tls', '--ca-cert', srv_paths['ca'],
                             '--host-cert', srv_paths['cert'], '--host-key', srv_paths['key']],
                            name='admin', workdir=tmp).start()
        ready_ns = time.time_ns()
        out, _ = client.communicate(timeout=30)
        s.stop()
        connect_delays.append((delay, (json.loads(out)['connected_at_ns'] - ready_ns) / 1e6))

    def median(values):
        v = sorted(values)
        return v[len(v) // 2]

    print('\n| case | sequential p50 (us) | sequential p99 (us) | %d clients: calls/s | %d clients: p50 / p99 (us) |'
          % (args.threads, args.threads))
    print('|---|---|---|---|---|')
    summary = {}
    for label, _, _ in cases:
        r = results[label]
        s = {'p50_us': median([x['p50_us'] for x in r['seq']]), 'p99_us': median([x['p99_us'] for x in r['seq']]),
             'calls_per_s': median([x['calls_per_s'] for x in r['conc']]),
             'conc_p50_us': median([x['p50_us'] for x in r['conc']]),
             'conc_p99_us': median([x['p99_us'] for x in r['conc']])}
        summary[label] = s
        print('| %s | %.1f | %.1f | %d | %.0f / %.0f |' % (label, s['p50_us'], s['p99_us'], s['calls_per_s'],
                                                           s['conc_p50_us'], s['conc_p99_us']))
    print('\ngivc server RSS: idle %.1f MB (anon %.1f MB), after %d+%d calls %.1f MB'
          % (rss_idle['VmRSS'] / 1024, rss_idle['RssAnon'] / 1024, 20000, args.threads * args.concurrent_calls,
             rss_loaded['VmRSS'] / 1024))
    print('client started before its server: connected %s ms after READY=1 (server started %s s after the client)'
          % (', '.join('%.0f' % d for _, d in connect_delays), ', '.join('%g' % t for t, _ in connect_delays)))
    ratio = summary['C -> givc']['calls_per_s'] / summary['Python -> Python']['calls_per_s']
    print('targets: C->C p50 %.1f us (target <= 60): %s; C->C throughput %.1fx Python->Python (target >= 3x): %s'
          % (summary['C -> givc']['p50_us'], 'met' if summary['C -> givc']['p50_us'] <= 60 else 'MISSED',
             ratio, 'met' if ratio >= 3 else 'MISSED'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'runs': results, 'summary': summary, 'rss_idle_kib': rss_idle, 'rss_loaded_kib': rss_loaded,
                       'connect_after_ready_ms': connect_delays},
                      f, indent=2)
    subprocess.run(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
