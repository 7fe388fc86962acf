/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a tap device and setting up its host side: what `--net tap=...`
 * needs CAP_NET_ADMIN for. The VMM does it when it runs with that privilege;
 * vmmd does it for the unprivileged VMMs it starts and passes the queues as
 * `fd=[...]` (docs/security.md).
 */
#pragma once

#include <linux/if.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Opens pairs queues of the tap called name, or of a new one when name is
 * NULL or empty: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (IFF_MULTI_QUEUE with
 * more than one pair), non-blocking, close-on-exec, into fds[0..pairs-1];
 * ifname receives the device's name. On failure nothing stays open, fds are
 * -1 and errbuf says why (prefixed with id); returns -errno. */
int tap_open(const char *name, uint16_t pairs, int *fds, char ifname[IFNAMSIZ], char *errbuf, size_t errlen,
             const char *id);

/* The host side of the tap ifname as cfg asks: ip and mask, host_mac, mtu,
 * then up. Returns 0 or -errno with errbuf set. */
int tap_configure_host(const char *ifname, const NetConfig *cfg, char *errbuf, size_t errlen, const char *id);
