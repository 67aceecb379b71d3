/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The admin's calls to agents. Channels are cached per endpoint (address and
 * TLS name) and shared by all threads; the admin presents its own
 * certificate, which the agents require.
 */

#include "address.h"
#include "rpc-client.h"
#include "tls.h"

typedef struct AgentClients AgentClients;

/* @tls is borrowed and must outlive the cache; NULL for plaintext. */
int agent_clients_new(AgentClients **ret, const TlsCredentials *tls);
AgentClients *agent_clients_free(AgentClients *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentClients *, agent_clients_free);

/**
 * agent_clients_call() - a unary call to the agent at @protocol/@address/@port
 * (upstream's TransportConfig fields), whose certificate names @tls_name
 * @flags: RPC_CALL_WAIT_FOR_READY for background work, which can afford to
 *         wait for a connection that is being (re)made: an agent that just
 *         came back would otherwise look unreachable until the channel's
 *         next attempt
 *
 * Return: as rpc_channel_call(); -EINVAL (with *ret_status explaining) when
 * the endpoint cannot be parsed.
 */
int agent_clients_call(AgentClients *c, const char *protocol, const char *address, const char *port,
                       const char *tls_name, const char *method, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *response_type, int64_t timeout_ms,
                       RpcCallFlags flags, ProtobufCMessage **ret_response, RpcStatus *ret_status);
