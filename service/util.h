/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by vmmd and vmmctl: cleanup attributes (so error paths
 * release what they hold without goto ladders), logging with journal
 * priorities, name checks and atomic file writes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

static inline void freep(void *p)
{
    free(*(void **)p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

static inline void json_object_putp(json_object **o)
{
    if (*o)
        json_object_put(*o);
}

#define _cleanup_(f)        __attribute__((cleanup(f)))
#define _cleanup_free_      _cleanup_(freep)
#define _cleanup_close_     _cleanup_(closep)
#define _cleanup_json_      _cleanup_(json_object_putp)
#define _cleanup_bus_msg_   _cleanup_(sd_bus_message_unrefp)
#define _cleanup_bus_error_ _cleanup_(sd_bus_error_free)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Hands ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                          \
    ({                                                                                                       \
        __typeof__(p) _p = (p);                                                                              \
        (p) = NULL;                                                                                          \
        _p;                                                                                                  \
    })
#define TAKE_FD(fd)                                                                                          \
    ({                                                                                                       \
        int _fd = (fd);                                                                                      \
        (fd) = -1;                                                                                           \
        _fd;                                                                                                 \
    })

/* Journal priorities (syslog's); under systemd stderr lines carry a "<N>"
 * prefix so the journal files them at the right level. */
enum { LOG_PRIO_ERR = 3, LOG_PRIO_WARNING = 4, LOG_PRIO_NOTICE = 5, LOG_PRIO_INFO = 6, LOG_PRIO_DEBUG = 7 };

void log_setup(const char *program, bool debug);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs and returns r (a negative errno), for "return log_error_errno(r, ...)". */
int log_error_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(LOG_PRIO_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_PRIO_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_PRIO_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_PRIO_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_PRIO_DEBUG, __VA_ARGS__)

/* VM names: 1-64 characters of [A-Za-z0-9_.-]. They become file names and
 * object path elements, so nothing else is accepted. */
#define VM_NAME_MAX 64
bool vm_name_is_valid(const char *name);

/* Writes data to dir/name atomically: a temporary file in the same
 * directory, fsync, rename over the target, fsync of the directory. A crash
 * leaves either the old or the new file, never a torn one. */
int write_file_atomic(const char *dir, const char *name, const char *data, size_t len, int mode);

/* Reads a whole regular file of at most max bytes, NUL-terminated. */
int read_file_full(const char *path, size_t max, char **ret, size_t *ret_len);

/* CLOCK_REALTIME / CLOCK_MONOTONIC in microseconds. */
uint64_t now_realtime_usec(void);
