#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The server under valgrind: calls of every kind, a stop by SIGTERM, no leak."""

import os
import shutil
import threading

import grpc

import givctest
from givctest import Certs, channel, free_port

S = givctest.stubs()


class ServerUnderValgrind(givctest.TestCase):

    def test_no_leak(self):
        valgrind = shutil.which('valgrind')
        self.assertIsNotNone(valgrind, 'valgrind is required for this test')
        certs = Certs(self.tmp)
        admin = certs.issue('admin-vm')
        client = certs.issue('cli')
        port = free_port()
        log = os.path.join(self.tmp, 'valgrind.log')
        suppressions = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'valgrind.supp')
        srv = self.server(['admin', '--state-dir', os.path.join(self.tmp, 'admin-state'), '--listen', '127.0.0.1:%d' % port, '--use-tls', '--ca-cert', admin['ca'],
                           '--host-cert', admin['cert'], '--host-key', admin['key']], name='admin',
                          wrapper=[valgrind, '--leak-check=full', '--show-leak-kinds=definite,indirect',
                                   '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99',
                                   '--suppressions=' + suppressions, '--log-file=' + log])
        srv.start(timeout=120)

        with channel('127.0.0.1:%d' % port, client, 'admin-vm') as ch:
            stub = S.health_pb2_grpc.HealthStub(ch)
            for _ in range(20):
                stub.Check(S.health_pb2.HealthCheckRequest(), timeout=30)
            with self.assertRaises(grpc.RpcError):
                ch.unary_unary('/admin.AdminService/Nope')(b'', timeout=30)
            with self.assertRaises(grpc.RpcError):
                ch.unary_unary('/grpc.health.v1.Health/Check')(b'\x0f\x01', timeout=30)
            refl = ch.stream_stream('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
                                    request_serializer=S.reflection_pb2.ServerReflectionRequest.SerializeToString,
                                    response_deserializer=S.reflection_pb2.ServerReflectionResponse.FromString)
            answers = list(refl(iter([S.reflection_pb2.ServerReflectionRequest(list_services='')]), timeout=30))
            self.assertEqual(len(answers), 1)
            # A client that goes away mid-stream, and one that is still there at SIGTERM.
            gone = stub.Watch(S.health_pb2.HealthCheckRequest(), timeout=60)
            next(gone)
            gone.cancel()
            watch = stub.Watch(S.health_pb2.HealthCheckRequest(), timeout=60)
            next(watch)
            ended = threading.Event()

            def drain():
                try:
                    for _ in watch:
                        pass
                except grpc.RpcError:
                    pass
                ended.set()
            t = threading.Thread(target=drain)
            t.start()
            code = srv.stop(timeout=120)
            t.join(60)
        with open(log) as f:
            report = f.read()
        # --error-exitcode turns any memory error or definite/indirect leak into 99.
        self.assertEqual(code, 0, report)
        self.assertIn('ERROR SUMMARY: 0 errors', report)
        self.assertTrue(ended.is_set())


if __name__ == '__main__':
    givctest.main()
