/* SPDX-License-Identifier: Apache-2.0 */
/* "/dev/fd/N" as a configured path: the inherited descriptor, duplicated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inherited_fd.h"

static void test_number(void **state)
{
    (void)state;
    assert_int_equal(inherited_fd_number("/dev/fd/0"), 0);
    assert_int_equal(inherited_fd_number("/dev/fd/17"), 17);
    assert_int_equal(inherited_fd_number("/dev/fd/2147483647"), 2147483647);
    assert_int_equal(inherited_fd_number("/dev/fd/2147483648"), -1);
    assert_int_equal(inherited_fd_number("/dev/fd/"), -1);
    assert_int_equal(inherited_fd_number("/dev/fd/-1"), -1);
    assert_int_equal(inherited_fd_number("/dev/fd/7x"), -1);
    assert_int_equal(inherited_fd_number("/dev/fd/7/"), -1);
    assert_int_equal(inherited_fd_number("/dev/fdx/7"), -1);
    assert_int_equal(inherited_fd_number("/proc/self/fd/7"), -1);
    assert_int_equal(inherited_fd_number("disk.img"), -1);
    assert_int_equal(inherited_fd_number(NULL), -1);
}

/* A file this process could not open by its path any more (removed after
 * opening) is still reached through its descriptor: nothing is re-opened. */
static void test_duplicates_without_reopening(void **state)
{
    (void)state;
    char path[] = "/tmp/vmm-inherited-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    assert_int_equal(unlink(path), 0);

    char name[32];
    snprintf(name, sizeof(name), "/dev/fd/%d", fd);
    int dup_fd = open_or_inherit(name, O_RDWR | O_NONBLOCK, 0);
    assert_true(dup_fd >= 3);
    assert_int_not_equal(dup_fd, fd);
    assert_true(fcntl(dup_fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK); /* asked for, so set on the description */
    char buf[5];
    assert_int_equal(pread(dup_fd, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "hello", 5);
    close(dup_fd);
    close(fd);
}

/* A read-only descriptor where writes are wanted fails now, not at the
 * guest's first write. */
static void test_access_mode_checked(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    char name[32];
    snprintf(name, sizeof(name), "/dev/fd/%d", fd);
    errno = 0;
    assert_int_equal(open_or_inherit(name, O_RDWR, 0), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(open_or_inherit(name, O_WRONLY | O_APPEND, 0), -1);
    int ro = open_or_inherit(name, O_RDONLY, 0);
    assert_true(ro >= 0);
    close(ro);
    close(fd);

    /* A descriptor that is not open. */
    errno = 0;
    assert_int_equal(open_or_inherit("/dev/fd/999999", O_RDONLY, 0), -1);
    assert_int_equal(errno, EBADF);
}

static void test_plain_path_opens(void **state)
{
    (void)state;
    int fd = open_or_inherit("/dev/null", O_WRONLY, 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    assert_int_equal(open_or_inherit("/nonexistent/x", O_RDONLY, 0), -1);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_duplicates_without_reopening),
        cmocka_unit_test(test_access_mode_checked),
        cmocka_unit_test(test_plain_path_opens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
