/* SPDX-License-Identifier: Apache-2.0 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *log_program = "vmm";
static bool log_debug_enabled;
static bool log_to_journal;

void log_setup(const char *program, bool debug)
{
    log_program = program;
    log_debug_enabled = debug;
    /* systemd sets JOURNAL_STREAM when stderr is connected to the journal;
     * then the "<N>" prefix is understood and the program name is redundant. */
    log_to_journal = getenv("JOURNAL_STREAM") != NULL;
}

static void log_va(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void log_va(int prio, const char *fmt, va_list ap)
{
    if (prio >= LOG_PRIO_DEBUG && !log_debug_enabled)
        return;
    char buf[2048];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (log_to_journal)
        fprintf(stderr, "<%d>%s\n", prio, buf);
    else
        fprintf(stderr, "%s: %s\n", log_program, buf);
}

void log_msg(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(prio, fmt, ap);
    va_end(ap);
}

int log_error_errno(int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(LOG_PRIO_ERR, fmt, ap);
    va_end(ap);
    return r;
}

bool vm_name_is_valid(const char *name)
{
    size_t n = 0;
    if (!name)
        return false;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return false;
        if (n >= VM_NAME_MAX)
            return false;
    }
    return n >= 1;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, data, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += k;
        len -= (size_t)k;
    }
    return 0;
}

int write_file_atomic(const char *dir, const char *name, const char *data, size_t len, int mode)
{
    _cleanup_free_ char *tmp = NULL, *target = NULL;
    _cleanup_close_ int dfd = -1, fd = -1;
    int r;

    /* ".tmp" marks an unfinished write; loaders ignore and remove such files. */
    if (asprintf(&tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid()) < 0 ||
        asprintf(&target, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && rename(tmp, target) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    /* The rename itself is only durable once the directory is. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return -errno;
    return 0;
}

int read_file_full(const char *path, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EBADF;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    _cleanup_free_ char *buf = malloc(max + 1);
    if (!buf)
        return -ENOMEM;
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, max + 1 - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        /* The file grew past the limit since fstat(). */
        if (n > max)
            return -EFBIG;
    }
    buf[n] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = n;
    return 0;
}

uint64_t now_realtime_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
