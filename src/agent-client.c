/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small list of channels under a mutex: an admin talks to tens of agents.
 * Channels are thread-safe, so the lock only guards the list; calls run
 * without it.
 */

#include <pthread.h>

#include "agent-client.h"

typedef struct CachedChannel {
        struct CachedChannel *next;
        char *key; /* "<target> <tls name>" */
        RpcChannel *channel;
} CachedChannel;

struct AgentClients {
        const TlsCredentials *tls;
        pthread_mutex_t lock;
        CachedChannel *channels;
};

int agent_clients_new(AgentClients **ret, const TlsCredentials *tls) {
        AgentClients *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->tls = tls;
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

AgentClients *agent_clients_free(AgentClients *c) {
        if (!c)
                return NULL;
        for (CachedChannel *i = c->channels, *next; i; i = next) {
                next = i->next;
                rpc_channel_free(i->channel);
                free(i->key);
                free(i);
        }
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

static int get_channel(AgentClients *c, const Address *a, const char *tls_name, RpcChannel **ret) {
        _cleanup_free_ char *target = address_to_string(a), *key = NULL;
        CachedChannel *i;
        int r = 0;

        if (!target || asprintf(&key, "%s %s", target, strempty(tls_name)) < 0)
                return -ENOMEM;

        pthread_mutex_lock(&c->lock);
        for (i = c->channels; i; i = i->next)
                if (streq(i->key, key))
                        break;
        if (!i) {
                i = calloc(1, sizeof(*i));
                if (!i)
                        r = -ENOMEM;
                else {
                        r = rpc_channel_new(&i->channel, a, isempty(tls_name) ? NULL : tls_name, c->tls,
                                            NULL);
                        if (r < 0)
                                i = mfree(i);
                        else {
                                i->key = TAKE_PTR(key);
                                i->next = c->channels;
                                c->channels = i;
                        }
                }
        }
        if (i)
                *ret = i->channel;
        pthread_mutex_unlock(&c->lock);
        return r;
}

int agent_clients_call(AgentClients *c, const char *protocol, const char *address, const char *port,
                       const char *tls_name, const char *method, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *response_type, int64_t timeout_ms,
                       RpcCallFlags flags, ProtobufCMessage **ret_response, RpcStatus *ret_status) {
        _cleanup_(address_freep) Address *a = NULL;
        RpcChannel *channel;
        const char *why = NULL;
        int r;

        r = address_from_transport(protocol, address, port, &a, &why);
        if (r < 0) {
                if (ret_status)
                        rpc_status_set(ret_status, RPC_INVALID_ARGUMENT,
                                       "the agent's endpoint %s/%s/%s is unusable: %s", strempty(protocol),
                                       strempty(address), strempty(port), strna(why));
                return r;
        }
        r = get_channel(c, a, tls_name, &channel);
        if (r < 0) {
                if (ret_status)
                        rpc_status_set(ret_status, RPC_INTERNAL, "cannot create a channel: %s",
                                       strerror(-r));
                return r;
        }
        return rpc_channel_call(channel, method, request, response_type, timeout_ms, flags, ret_response,
                                ret_status);
}
