/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The hardware identifier of a VM (spec §2.10): the MAC address of a network
 * interface, read from sysfs. Without a configured interface, exactly one
 * wireless interface (wl*) must exist.
 */

#include "macro.h"

#define HWID_SYSFS_NET "/sys/class/net"

/**
 * hwid_find_interface() - the interface to read
 * @sysfs_net: normally HWID_SYSFS_NET (tests pass a directory of their own)
 * @configured: HWID_IFACE, or NULL to look for the one wl* interface
 *
 * Return: 0; -ENODEV with a sentence when there is none, or several, or the
 * configured one does not exist; -ENOMEM.
 */
int hwid_find_interface(const char *sysfs_net, const char *configured, char **ret_iface, char **ret_error);

/* The identifier: the trimmed contents of SYSFS_NET/IFACE/address. -errno on failure. */
int hwid_read(const char *sysfs_net, const char *iface, char **ret_identifier);
