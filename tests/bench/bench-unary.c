/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unary round trips through our client: grpc.health.v1.Health/Check against
 * any server, sequentially on one channel (latency) or from several threads
 * (throughput). Prints one JSON object on stdout.
 *
 *   bench-unary TARGET [--name NAME] [--ca F --cert F --key F]
 *               [--calls N] [--warmup N] [--threads N] [--shared-channel]
 *               [--connect-only] [--unit-status UNIT]
 *
 * --connect-only makes one call that waits for the server to come up and
 * prints when it completed (CLOCK_REALTIME, ns), for the start-up race.
 */

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "health.pb-c.h"
#include "systemd.pb-c.h"
#include "parse-util.h"
#include "rpc-client.h"

typedef struct Worker {
        RpcChannel *channel;
        uint64_t n_calls, n_warmup;
        uint64_t *latencies_ns;
        int failures;
        pthread_t thread;
} Worker;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

/* With --unit-status, GetUnitStatus of this unit instead of a health check. */
static const char *arg_unit;

static int one_call(RpcChannel *ch) {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        Systemd__UnitRequest unit_req = SYSTEMD__UNIT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        RpcStatus st = RPC_STATUS_NULL;
        int r;

        if (arg_unit) {
                unit_req.unitname = (char *) arg_unit;
                r = rpc_channel_call(ch, "/systemd.UnitControlService/GetUnitStatus", &unit_req.base,
                                     &systemd__unit_status_response__descriptor, 10000,
                                     RPC_CALL_WAIT_FOR_READY, &resp, &st);
        } else
                r = rpc_channel_call(ch, "/grpc.health.v1.Health/Check", &req.base,
                                     &grpc__health__v1__health_check_response__descriptor, 10000,
                                     RPC_CALL_WAIT_FOR_READY, &resp, &st);
        if (r < 0)
                fprintf(stderr, "call failed: %s\n", strna(st.message));
        pb_free(resp);
        rpc_status_done(&st);
        return r;
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;

        for (uint64_t i = 0; i < w->n_warmup; i++)
                if (one_call(w->channel) < 0)
                        w->failures++;
        for (uint64_t i = 0; i < w->n_calls; i++) {
                uint64_t t0 = now_ns();

                if (one_call(w->channel) < 0)
                        w->failures++;
                w->latencies_ns[i] = now_ns() - t0;
        }
        return NULL;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static double percentile_us(const uint64_t *sorted, size_t n, double p) {
        size_t i = (size_t) (p * (double) (n - 1) + 0.5);

        return (double) sorted[i] / 1000.0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "name", required_argument, NULL, 'n' },   { "ca", required_argument, NULL, 'a' },
                { "cert", required_argument, NULL, 'c' },   { "key", required_argument, NULL, 'k' },
                { "calls", required_argument, NULL, 'N' },  { "warmup", required_argument, NULL, 'w' },
                { "threads", required_argument, NULL, 't' }, { "shared-channel", no_argument, NULL, 's' },
                { "connect-only", no_argument, NULL, 'C' }, { "unit-status", required_argument, NULL, 'u' },
                {},
        };
        const char *name = NULL, *ca = NULL, *cert = NULL, *key = NULL, *why = NULL;
        uint64_t n_calls = 10000, n_warmup = 1000, n_threads = 1, total = 0;
        _cleanup_(tls_credentials_freep) TlsCredentials *tls = NULL;
        _cleanup_(address_freep) Address *target = NULL;
        _cleanup_free_ uint64_t *all = NULL;
        _cleanup_free_ Worker *workers = NULL;
        _cleanup_free_ char *error = NULL;
        bool shared = false, connect_only = false;
        int opt, failures = 0, r;
        uint64_t t0, t1;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'n': name = optarg; break;
                case 'a': ca = optarg; break;
                case 'c': cert = optarg; break;
                case 'k': key = optarg; break;
                case 'N': (void) parse_uint64(optarg, 1, 100000000, &n_calls); break;
                case 'w': (void) parse_uint64(optarg, 0, 100000000, &n_warmup); break;
                case 't': (void) parse_uint64(optarg, 1, 1024, &n_threads); break;
                case 's': shared = true; break;
                case 'C': connect_only = true; break;
                case 'u': arg_unit = optarg; break;
                default: return 2;
                }
        if (optind != argc - 1 || address_parse(argv[optind], &target, &why) < 0) {
                fprintf(stderr, "usage: bench-unary TARGET [options] (%s)\n", strna(why));
                return 2;
        }
        if (ca && tls_credentials_load(ca, cert, key, &tls, &error) < 0) {
                fprintf(stderr, "%s\n", strna(error));
                return 1;
        }

        rpc_init();
        if (connect_only) {
                _cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
                struct timespec done;

                if (rpc_channel_new(&ch, target, name, tls, NULL) < 0 || one_call(ch) < 0)
                        return 1;
                clock_gettime(CLOCK_REALTIME, &done);
                printf("{\"connected_at_ns\": %" PRIu64 "}\n",
                       (uint64_t) done.tv_sec * NSEC_PER_SEC + (uint64_t) done.tv_nsec);
                return 0;
        }
        workers = calloc(n_threads, sizeof(Worker));
        all = calloc(n_threads * n_calls, sizeof(uint64_t));
        if (!workers || !all)
                return 1;
        for (uint64_t i = 0; i < n_threads; i++) {
                /* One connection per thread, unless asked to share one. */
                RpcChannelOptions o = { .private_connection = !shared };

                workers[i] = (Worker) { .n_calls = n_calls, .n_warmup = n_warmup,
                                        .latencies_ns = all + i * n_calls };
                if (shared && i > 0)
                        workers[i].channel = workers[0].channel;
                else {
                        r = rpc_channel_new(&workers[i].channel, target, name, tls, &o);
                        if (r < 0)
                                return 1;
                }
                /* Connect before timing starts. */
                if (one_call(workers[i].channel) < 0)
                        return 1;
        }

        t0 = now_ns();
        for (uint64_t i = 0; i < n_threads; i++)
                (void) pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        for (uint64_t i = 0; i < n_threads; i++) {
                (void) pthread_join(workers[i].thread, NULL);
                failures += workers[i].failures;
        }
        t1 = now_ns();
        total = n_threads * n_calls;

        qsort(all, total, sizeof(uint64_t), compare_u64);
        printf("{\"client\": \"c\", \"threads\": %" PRIu64 ", \"calls\": %" PRIu64 ", \"failures\": %d, "
               "\"p50_us\": %.1f, \"p99_us\": %.1f, \"calls_per_s\": %.0f}\n",
               n_threads, total, failures, percentile_us(all, total, 0.50), percentile_us(all, total, 0.99),
               (double) (total + n_threads * n_warmup) / ((double) (t1 - t0) / 1e9));

        for (uint64_t i = 0; i < n_threads; i++)
                if (!(shared && i > 0))
                        rpc_channel_free(workers[i].channel);
        rpc_shutdown();
        return failures > 0;
}
