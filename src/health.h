/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * grpc.health.v1.Health on every server: Check and Watch for the empty
 * service name (the whole server) and for each service it serves. A server
 * is SERVING while it runs and NOT_SERVING from the moment its shutdown
 * begins; Watch streams get that change, then end.
 */

#include "rpc-server.h"

/* Called by rpc_server_start(); not for other callers. */
int health_service_attach(RpcServer *s);
