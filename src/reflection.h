/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Server reflection (grpc.reflection.v1 and v1alpha, which are
 * wire-identical) on every server, so that generic tools (grpcurl,
 * grpc_cli, Postman) can list and describe what a givc server offers. The
 * answers come from descriptors generated at build time (descriptors.h).
 */

#include "rpc-server.h"

/* Called by rpc_server_start(); not for other callers. */
int reflection_service_attach(RpcServer *s);
