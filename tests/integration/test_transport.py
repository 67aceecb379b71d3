#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The transport layer as an independent gRPC peer (Python grpcio) sees it:
mutual TLS, health, reflection, errors, listeners, shutdown."""

import os
import signal
import socket
import subprocess
import threading
import time

import grpc
from google.protobuf import descriptor_pb2

import givctest
from givctest import Certs, channel, free_port

S = givctest.stubs()

HEALTH = '/grpc.health.v1.Health/Check'
REFLECTION_V1 = '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo'
REFLECTION_V1ALPHA = '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'


def health_check(ch, service='', timeout=5):
    stub = S.health_pb2_grpc.HealthStub(ch)
    return stub.Check(S.health_pb2.HealthCheckRequest(service=service), timeout=timeout)


def reflection_call(ch, requests, path=REFLECTION_V1):
    call = ch.stream_stream(path,
                            request_serializer=S.reflection_pb2.ServerReflectionRequest.SerializeToString,
                            response_deserializer=S.reflection_pb2.ServerReflectionResponse.FromString)
    return list(call(iter(requests), timeout=5))


class AdminTransport(givctest.TestCase):
    """An admin server with mutual TLS on TCP, as deployed."""

    def setUp(self):
        super().setUp()
        self.certs = Certs(self.tmp)
        self.admin = self.certs.issue('admin-vm', ips=['127.0.0.1'])
        self.client = self.certs.issue('ghaf-host', ips=['127.0.0.1'])
        self.port = free_port()
        self.target = '127.0.0.1:%d' % self.port
        self.srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--addr', '127.0.0.1', '--port', str(self.port), '--use-tls',
                                '--ca-cert', self.admin['ca'], '--host-cert', self.admin['cert'],
                                '--host-key', self.admin['key']], name='admin').start()

    def tearDown(self):
        code = self.srv.stop()
        self.assertEqual(code, 0, self.srv.logs())
        super().tearDown()

    def ch(self, paths='client', name='admin-vm', target=None):
        return channel(target or self.target, self.client if paths == 'client' else paths, name)

    def test_health_over_mtls(self):
        with self.ch() as ch:
            r = health_check(ch)
            self.assertEqual(r.status, S.health_pb2.HealthCheckResponse.SERVING)
            r = health_check(ch, 'grpc.health.v1.Health')
            self.assertEqual(r.status, S.health_pb2.HealthCheckResponse.SERVING)
            with self.assertRaises(grpc.RpcError) as e:
                health_check(ch, 'no.Such')
            self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
            # A status message quoting a huge request is cut, so that it still fits in its header
            # (uncut, the client got RESOURCE_EXHAUSTED about the metadata size instead).
            for n in (9000, 1 << 20):
                with self.assertRaises(grpc.RpcError) as e:
                    health_check(ch, 'é' * n)
                self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND, e.exception.details()[:200])
                self.assertLessEqual(len(e.exception.details().encode()), 1024)
                self.assertTrue(e.exception.details().endswith('…'))
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

    def test_health_by_ip_name(self):
        # The certificate carries IP 127.0.0.1: verifying against the IP works too.
        with self.ch(name=None) as ch:
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

    def test_reflection(self):
        for path in (REFLECTION_V1, REFLECTION_V1ALPHA):
            with self.ch() as ch:
                R = S.reflection_pb2.ServerReflectionRequest
                resp = reflection_call(ch, [R(list_services=''),
                                            R(file_containing_symbol='grpc.health.v1.Health'),
                                            R(file_by_filename='grpc/health/v1/health.proto'),
                                            R(file_containing_symbol='no.Such.Thing')], path)
                self.assertEqual(len(resp), 4)
                names = sorted(s.name for s in resp[0].list_services_response.service)
                self.assertIn('grpc.health.v1.Health', names)
                self.assertIn('grpc.reflection.v1.ServerReflection', names)
                self.assertIn('grpc.reflection.v1alpha.ServerReflection', names)
                for r in resp[1:3]:
                    fd = descriptor_pb2.FileDescriptorProto.FromString(
                        r.file_descriptor_response.file_descriptor_proto[0])
                    self.assertEqual(fd.name, 'grpc/health/v1/health.proto')
                    self.assertEqual(fd.package, 'grpc.health.v1')
                    self.assertEqual([s.name for s in fd.service], ['Health'])
                self.assertEqual(resp[3].error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0])

    def test_unknown_method(self):
        with self.ch() as ch:
            call = ch.unary_unary('/admin.AdminService/NoSuchMethod')
            with self.assertRaises(grpc.RpcError) as e:
                call(b'', timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
            self.assertIn('/admin.AdminService/NoSuchMethod', e.exception.details())

    def test_garbage_then_next_call(self):
        with self.ch() as ch:
            call = ch.unary_unary(HEALTH)
            for garbage in (b'\x0f\x01', b'\x0a\x05ab', b'\x0a\x02\xc3\x28', os.urandom(64) + b'\xff'):
                with self.assertRaises(grpc.RpcError) as e:
                    call(garbage, timeout=5)
                self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

    def test_client_without_certificate(self):
        creds = grpc.ssl_channel_credentials(root_certificates=givctest.read(self.client['ca']))
        with grpc.secure_channel(self.target, creds,
                                 options=[('grpc.ssl_target_name_override', 'admin-vm')]) as ch:
            with self.assertRaises(grpc.RpcError) as e:
                health_check(ch)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assert_logged('certificate')

    def test_client_from_other_ca(self):
        other = Certs(os.path.join(self.tmp, 'other'))
        rogue = other.issue('ghaf-host', ips=['127.0.0.1'])
        # The rogue client trusts our CA for the server, but its own cert is foreign.
        rogue = dict(rogue, ca=self.client['ca'])
        with self.ch(paths=rogue) as ch:
            with self.assertRaises(grpc.RpcError) as e:
                health_check(ch)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assert_logged('certificate verify failed')

    def test_plaintext_client(self):
        with grpc.insecure_channel(self.target) as ch:
            with self.assertRaises(grpc.RpcError) as e:
                health_check(ch)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_wrong_server_name(self):
        with self.ch(name='net-vm') as ch:
            with self.assertRaises(grpc.RpcError) as e:
                health_check(ch)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_alpn_h2(self):
        # grpc-go >= 1.67 refuses servers that do not negotiate ALPN h2.
        r = subprocess.run(['openssl', 's_client', '-connect', self.target, '-alpn', 'h2',
                            '-CAfile', self.client['ca'], '-cert', self.client['cert'], '-key', self.client['key'],
                            '-verify_return_error'],
                           input=b'', capture_output=True, timeout=20)
        out = (r.stdout + r.stderr).decode(errors='replace')
        self.assertIn('ALPN protocol: h2', out)
        self.assertIn('New, TLSv1.3', out)
        self.assertIn('Verify return code: 0 (ok)', out)

    def test_second_server_refused(self):
        r = givctest.run_givc('admin', '--state-dir', os.path.join(self.tmp, 'admin-state2'), '--addr', '127.0.0.1', '--port', str(self.port), '--use-tls',
                              '--ca-cert', self.admin['ca'], '--host-cert', self.admin['cert'],
                              '--host-key', self.admin['key'], timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('Address already in use', r.stderr)
        # The first server is unaffected.
        with self.ch() as ch:
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

    def test_concurrent_clients(self):
        errors = []

        def worker():
            try:
                with self.ch() as ch:
                    for _ in range(50):
                        health_check(ch)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_debug_logs_every_call(self):
        port = free_port()
        srv = self.server(['admin', '--debug', '--state-dir', os.path.join(self.tmp, 'debug-state'), '--addr',
                           '127.0.0.1', '--port', str(port), '--use-tls', '--ca-cert', self.admin['ca'],
                           '--host-cert', self.admin['cert'], '--host-key', self.admin['key']],
                          name='admin-debug').start()
        with self.ch(target='127.0.0.1:%d' % port) as ch:
            health_check(ch)
            with self.assertRaises(grpc.RpcError):
                health_check(ch, 'no.Such')
        deadline = time.monotonic() + 10
        while 'NOT_FOUND in' not in srv.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(srv.logs(), r'/grpc.health.v1.Health/Check from ipv4:127.0.0.1:\d+: OK in [0-9.]+ ms')
        self.assertRegex(srv.logs(), r'/grpc.health.v1.Health/Check from ipv4:127.0.0.1:\d+: NOT_FOUND in')
        self.assertEqual(srv.stop(), 0)
        # Without --debug, no such lines (the server of the other tests).
        with self.ch() as ch:
            health_check(ch)
        self.assertNotIn('/grpc.health.v1.Health/Check from', self.srv.logs())

    def test_handshake_failures_do_not_flood_the_log(self):
        # Anyone who can connect can make the server log a failed handshake.
        for _ in range(100):
            with socket.create_connection(('127.0.0.1', self.port), timeout=10) as s:
                s.sendall(b'\x16\x03\x01\x00\x05hello, not TLS' * 4)
                try:
                    s.recv(1024)
                except OSError:
                    pass
        self.assert_logged('grpc:')
        time.sleep(1)
        lines = [line for line in self.srv.logs().splitlines() if 'grpc:' in line]
        # At most a burst of 20 a window; the rest are counted when the next window opens.
        self.assertLessEqual(len(lines), 21, '\n'.join(lines))
        with self.ch() as ch:
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

    def assert_logged(self, text):
        # The server logs why the handshake failed; give its log a moment to arrive.
        deadline = time.monotonic() + 10
        while text not in self.srv.logs():
            if time.monotonic() > deadline:
                self.fail('%r not in the server log:\n%s' % (text, self.srv.logs()))
            time.sleep(0.05)


class Shutdown(givctest.TestCase):

    def test_sigterm_during_stream(self):
        certs = Certs(self.tmp)
        admin = certs.issue('admin-vm')
        client = certs.issue('cli')
        port = free_port()
        srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen', '127.0.0.1:%d' % port, '--use-tls', '--ca-cert', admin['ca'],
                           '--host-cert', admin['cert'], '--host-key', admin['key']], name='admin').start()
        with channel('127.0.0.1:%d' % port, client, 'admin-vm') as ch:
            stub = S.health_pb2_grpc.HealthStub(ch)
            stream = stub.Watch(S.health_pb2.HealthCheckRequest(), timeout=30)
            first = next(stream)
            self.assertEqual(first.status, S.health_pb2.HealthCheckResponse.SERVING)
            srv.proc.send_signal(signal.SIGTERM)
            # The watcher hears NOT_SERVING, then the stream ends.
            second = next(stream)
            self.assertEqual(second.status, S.health_pb2.HealthCheckResponse.NOT_SERVING)
            with self.assertRaises(grpc.RpcError) as e:
                next(stream)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(srv.stop(), 0, srv.logs())
        self.assertIn('Stopped.', srv.logs())

    def test_sigint(self):
        port = free_port()
        srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen', '127.0.0.1:%d' % port], name='admin').start()
        self.assertEqual(srv.stop(signal.SIGINT), 0, srv.logs())


class Listeners(givctest.TestCase):
    """Unix, abstract, IPv6 and several listeners at once; plaintext when asked."""

    def test_many_listeners_plaintext(self):
        port = free_port()
        path = os.path.join(self.tmp, 'admin.sock')
        abstract = 'givc-test-%d' % os.getpid()
        args = ['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen-tcp', '127.0.0.1:%d' % port, '--listen-unix', path,
                '--listen', 'unix-abstract:' + abstract]
        v6 = givctest.ipv6_available()
        if v6:
            port6 = free_port('::1')
            args += ['--listen-tcp', '[::1]:%d' % port6]
        srv = self.server(args, name='admin').start()
        self.assertIn('TLS is off', srv.logs())
        targets = ['127.0.0.1:%d' % port, 'unix:' + path, 'unix-abstract:' + abstract]
        if v6:
            targets.append('[::1]:%d' % port6)
        for t in targets:
            with channel(t) as ch:
                self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING, t)

        # A second server may not take over the unix socket or the abstract name.
        for extra in (['--listen-unix', path], ['--listen', 'unix-abstract:' + abstract]):
            r = givctest.run_givc('admin', '--state-dir', os.path.join(self.tmp, 'admin-state2'), *extra, timeout=20)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn('cannot listen on', r.stderr)
        with channel('unix:' + path) as ch:
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)

        self.assertEqual(srv.stop(), 0, srv.logs())
        self.assertFalse(os.path.exists(path), 'the socket file is removed on exit')

    def test_unix_socket_with_mtls(self):
        certs = Certs(self.tmp)
        admin = certs.issue('admin-vm')
        client = certs.issue('cli')
        path = os.path.join(self.tmp, 'admin.sock')
        srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen-unix', path, '--use-tls', '--ca-cert', admin['ca'],
                           '--host-cert', admin['cert'], '--host-key', admin['key']], name='admin').start()
        with channel('unix:' + path, client, 'admin-vm') as ch:
            self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
        self.assertEqual(srv.stop(), 0, srv.logs())


class KeyTypes(givctest.TestCase):
    """Ed25519, ECDSA and RSA certificates, on either side."""

    def test_key_types(self):
        for kind in ('ed25519', 'ecdsa', 'rsa'):
            with self.subTest(kind=kind):
                d = os.path.join(self.tmp, kind)
                os.makedirs(d)
                certs = Certs(d, key_type=kind)
                admin = certs.issue('admin-vm')
                client = certs.issue('cli', key_type={'ed25519': 'rsa', 'ecdsa': 'ed25519', 'rsa': 'ecdsa'}[kind])
                port = free_port()
                srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen', '127.0.0.1:%d' % port, '--use-tls',
                                   '--ca-cert', admin['ca'], '--host-cert', admin['cert'], '--host-key', admin['key']],
                                  name='admin-' + kind).start()
                with channel('127.0.0.1:%d' % port, client, 'admin-vm') as ch:
                    self.assertEqual(health_check(ch).status, S.health_pb2.HealthCheckResponse.SERVING)
                self.assertEqual(srv.stop(), 0, srv.logs())


class AgentConfiguration(givctest.TestCase):
    """The agent's TLS files are checked before anything starts (--check-config needs no systemd)."""

    def test_bad_tls_files(self):
        certs = Certs(self.tmp)
        agent = certs.issue('gui-vm')
        other = Certs(os.path.join(self.tmp, 'other')).issue('gui-vm')
        env = dict(os.environ)
        env['AGENT'] = '{"addr":"127.0.0.1","name":"gui-vm","port":"%d"}' % free_port()
        env['ADMIN_SERVER'] = '{"addr":"127.0.0.1","name":"admin-vm","port":"%d"}' % free_port()
        env['TYPE'] = '8'
        env['SUBTYPE'] = '9'
        cases = [
            ({'caCertPath': agent['ca'], 'certPath': agent['cert'], 'keyPath': '/nonexistent/key.pem'},
             "/nonexistent/key.pem"),
            ({'caCertPath': agent['ca'], 'certPath': agent['cert'], 'keyPath': other['key']},
             'does not belong to certificate'),
            ({'caCertPath': agent['ca'], 'certPath': other['cert'], 'keyPath': other['key']},
             'was not issued by the CA'),
            ({'caCertPath': agent['key'], 'certPath': agent['cert'], 'keyPath': agent['key']}, 'CA'),
        ]
        for tls, expected in cases:
            with self.subTest(expected=expected):
                env['TLS_CONFIG'] = ('{"enable":true,"caCertPath":"%s","certPath":"%s","keyPath":"%s"}'
                                     % (tls['caCertPath'], tls['certPath'], tls['keyPath']))
                r = givctest.run_givc('agent', '--check-config', env=env)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(expected, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        env['TLS_CONFIG'] = ('{"enable":true,"caCertPath":"%s","certPath":"%s","keyPath":"%s"}'
                             % (agent['ca'], agent['cert'], agent['key']))
        r = givctest.run_givc('agent', '--check-config', env=env)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == '__main__':
    givctest.main()
