/* SPDX-License-Identifier: Apache-2.0 */
/*
 * glibc has no Landlock wrappers: the three syscalls are called directly.
 * The rights a ruleset handles follow the running kernel's ABI, so an older
 * kernel still confines everything it knows about, and a right it lacks is
 * dropped from the rules instead of failing them.
 */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inherited_fd.h"

/* What a rule on a path that is not a directory may grant: the kernel
 * refuses directory rights (create, remove, list) there. */
#define ACCESS_FILE                                                                                          \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |             \
     LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* A socket's directory: the VMM binds its sockets during setup and, once
 * confined, only removes them again at exit (unlink is checked on the
 * directory). */
#define ACCESS_SOCKET_DIR LANDLOCK_ACCESS_FS_REMOVE_FILE

/* ------------------------------------------------------------ the rules */

int vmm_landlock_access_parse(const char *s, uint64_t *access)
{
    if (!s || !*s)
        return -EINVAL;
    uint64_t a = 0;
    for (const char *p = s; *p; p++) {
        if (*p == 'r')
            a |= VMM_LANDLOCK_READ;
        else if (*p == 'w')
            a |= VMM_LANDLOCK_WRITE;
        else
            return -EINVAL;
    }
    *access = a;
    return 0;
}

static int append_rule(VmmLandlockRules *r, const char *path, uint64_t access)
{
    VmmLandlockRule *items = realloc(r->items, (r->n + 1) * sizeof(*items));
    if (!items)
        return -ENOMEM;
    r->items = items;
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    items[r->n++] = (VmmLandlockRule){.path = copy, .access = access};
    return 0;
}

static int add_rule(VmmLandlockRules *r, const char *path, uint64_t access)
{
    /* Inherited descriptors are duplicated, never opened by path. */
    if (inherited_fd_number(path) >= 0)
        return 0;
    return append_rule(r, path, access);
}

/* The directory a socket is created in: "." for a bare name. */
static int add_socket_dir_rule(VmmLandlockRules *r, const char *socket_path)
{
    const char *slash = strrchr(socket_path, '/');
    if (!slash)
        return add_rule(r, ".", ACCESS_SOCKET_DIR);
    if (slash == socket_path)
        return add_rule(r, "/", ACCESS_SOCKET_DIR);
    char *dir = strndup(socket_path, (size_t)(slash - socket_path));
    if (!dir)
        return -ENOMEM;
    int ret = add_rule(r, dir, ACCESS_SOCKET_DIR);
    free(dir);
    return ret;
}

static int add_console_rules(VmmLandlockRules *r, ConsoleOutputMode mode, const char *file,
                             const char *socket)
{
    int ret = 0;
    const uint64_t rw = VMM_LANDLOCK_READ | VMM_LANDLOCK_WRITE;
    if (mode == CONSOLE_MODE_PTY) {
        if ((ret = add_rule(r, "/dev/pts", rw)) < 0 || (ret = add_rule(r, "/dev/ptmx", rw)) < 0)
            return ret;
    } else if (mode == CONSOLE_MODE_FILE && file) {
        ret = add_rule(r, file, rw);
    } else if (mode == CONSOLE_MODE_SOCKET && socket) {
        if ((ret = add_rule(r, socket, rw)) < 0)
            return ret;
        ret = add_socket_dir_rule(r, socket);
    }
    return ret;
}

static bool opens_tun(const VmConfig *cfg)
{
    for (size_t i = 0; i < cfg->n_net; i++)
        if (cfg->net[i].n_fds == 0)
            return true;
    return false;
}

static int derive(const VmConfig *cfg, const char *api_socket_path, const char *event_monitor_path,
                  VmmLandlockRules *r, char *errbuf, size_t errlen)
{
    const uint64_t rd = VMM_LANDLOCK_READ, rw = VMM_LANDLOCK_READ | VMM_LANDLOCK_WRITE;
    int ret;
#define TRY(call)                                                                                            \
    do {                                                                                                     \
        if ((ret = (call)) < 0)                                                                              \
            goto nomem;                                                                                      \
    } while (0)

    TRY(add_rule(r, "/dev/kvm", rw));
    /* Read again on every in-process reboot (vmm.c: build_vm). */
    if (cfg->payload.firmware)
        TRY(add_rule(r, cfg->payload.firmware, rd));
    if (cfg->payload.kernel)
        TRY(add_rule(r, cfg->payload.kernel, rd));
    if (cfg->payload.initramfs)
        TRY(add_rule(r, cfg->payload.initramfs, rd));
    for (size_t i = 0; i < cfg->n_disks; i++)
        if (cfg->disks[i].path)
            TRY(add_rule(r, cfg->disks[i].path, cfg->disks[i].readonly ? rd : rw));
    if (opens_tun(cfg))
        TRY(add_rule(r, "/dev/net/tun", rw));
    TRY(add_rule(r, cfg->rng.src ? cfg->rng.src : "/dev/urandom", rd));
    TRY(add_console_rules(r, cfg->serial.mode, cfg->serial.file, cfg->serial.socket));
    TRY(add_console_rules(r, cfg->console.mode, cfg->console.file, cfg->console.socket));
    TRY(add_console_rules(r, cfg->debug_console.mode, cfg->debug_console.file, NULL));
    if (cfg->has_vsock && cfg->vsock.socket) {
        TRY(add_rule(r, cfg->vsock.socket, rw));
        TRY(add_socket_dir_rule(r, cfg->vsock.socket));
    }
    if (api_socket_path)
        TRY(add_socket_dir_rule(r, api_socket_path));
    /* A FIFO is opened again when its reader goes away (event_monitor.c). */
    if (event_monitor_path)
        TRY(add_rule(r, event_monitor_path, rw));
#undef TRY

    for (size_t i = 0; i < cfg->n_landlock_rules; i++) {
        const LandlockConfig *u = &cfg->landlock_rules[i];
        uint64_t granted;
        if (vmm_landlock_access_parse(u->access, &granted) < 0) {
            snprintf(errbuf, errlen, "Invalid landlock access: %.100s", u->access ? u->access : "(none)");
            return -EINVAL;
        }
        /* Kept even for /dev/fd/N: an inherited directory (vmmd's snapshot
         * directory) is reached through that path, /dev/fd/N/NAME. */
        if ((ret = append_rule(r, u->path, granted)) < 0)
            goto nomem;
    }
    return 0;

nomem:
    snprintf(errbuf, errlen, "out of memory");
    return ret;
}

int vmm_landlock_rules_from_config(const VmConfig *cfg, const char *api_socket_path,
                                   const char *event_monitor_path, VmmLandlockRules *out, char *errbuf,
                                   size_t errlen)
{
    *out = (VmmLandlockRules){0};
    int r = derive(cfg, api_socket_path, event_monitor_path, out, errbuf, errlen);
    if (r < 0)
        vmm_landlock_rules_free(out);
    return r;
}

void vmm_landlock_rules_free(VmmLandlockRules *rules)
{
    for (size_t i = 0; i < rules->n; i++)
        free(rules->items[i].path);
    free(rules->items);
    *rules = (VmmLandlockRules){0};
}

/* ------------------------------------------------------------ the kernel */

int vmm_landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? -errno : (int)v;
}

static uint64_t handled_access(int abi)
{
    uint64_t a = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
                 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        a |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        a |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        a |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return a;
}

static int add_path_rule(int ruleset_fd, const VmmLandlockRule *rule, uint64_t handled, bool skip_missing,
                         char *errbuf, size_t errlen)
{
    int fd = open(rule->path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (skip_missing && e == ENOENT)
            return 0;
        snprintf(errbuf, errlen, "landlock: cannot open %s for a rule: %s", rule->path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        snprintf(errbuf, errlen, "landlock: cannot stat %s: %s", rule->path, strerror(e));
        return -e;
    }
    uint64_t granted = rule->access & handled;
    if (!S_ISDIR(st.st_mode))
        granted &= ACCESS_FILE;
    int ret = 0;
    /* The kernel refuses a rule that grants nothing (ENOMSG); it would
     * change nothing anyway. */
    if (granted) {
        struct landlock_path_beneath_attr attr = {.allowed_access = granted, .parent_fd = fd};
        if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0) {
            ret = -errno;
            snprintf(errbuf, errlen, "landlock: cannot add the rule for %s: %s", rule->path, strerror(errno));
        }
    }
    close(fd);
    return ret;
}

int vmm_landlock_ruleset_create(const VmmLandlockRules *rules, int abi, bool skip_missing, char *errbuf,
                                size_t errlen)
{
    uint64_t handled = handled_access(abi);
    struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
    int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (fd < 0) {
        int e = errno;
        snprintf(errbuf, errlen, "landlock: cannot create a ruleset: %s", strerror(e));
        return -e;
    }
    for (size_t i = 0; i < rules->n; i++) {
        int r = add_path_rule(fd, &rules->items[i], handled, skip_missing, errbuf, errlen);
        if (r < 0) {
            close(fd);
            return r;
        }
    }
    return fd;
}

int vmm_landlock_restrict_self(int ruleset_fd)
{
    return syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------ the process */

static bool enabled;
/* Set once the main thread is confined: threads it starts later (the
 * workers of hot-added devices) inherit that domain, the narrowest, and
 * could not add another (its seccomp filter has no Landlock calls). */
static bool main_restricted;
static int kernel_abi;
static VmmLandlockRules process_rules;
/* Written before any thread starts, read-only afterwards. */
static int setup_ruleset_fd = -1;

#ifdef VMM_SANITIZER_BUILD
/* The sanitizer runtimes read /proc (LeakSanitizer lists the threads and
 * the mappings at exit) and the mapped binaries (symbolizing a report); a
 * report must never be lost to a denial. Read only, and only what is mapped
 * now, so everything else stays as confined as in a normal build. */
static int add_sanitizer_rules(VmmLandlockRules *r)
{
    int ret = add_rule(r, "/proc", VMM_LANDLOCK_READ);
    FILE *maps = fopen("/proc/self/maps", "re");
    if (ret < 0 || !maps) {
        if (maps)
            fclose(maps);
        return ret;
    }
    char line[PATH_MAX + 128];
    while (ret == 0 && fgets(line, sizeof(line), maps)) {
        char *path = strchr(line, '/');
        if (!path || strstr(path, " (deleted)"))
            continue;
        path[strcspn(path, "\n")] = '\0';
        /* A file is mapped several times in a row: one rule is enough. */
        if (r->n && strcmp(r->items[r->n - 1].path, path) == 0)
            continue;
        ret = add_rule(r, path, VMM_LANDLOCK_READ);
    }
    fclose(maps);
    return ret;
}
#endif

/* Cloud Hypervisor validates the user's rules whether or not --landlock is
 * given: each path must exist and each access be r, w or both. */
static int check_user_rules(const VmConfig *cfg, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_landlock_rules; i++) {
        const LandlockConfig *u = &cfg->landlock_rules[i];
        uint64_t granted;
        if (vmm_landlock_access_parse(u->access, &granted) < 0) {
            snprintf(errbuf, errlen, "Invalid landlock access: %.100s", u->access ? u->access : "(none)");
            return -EINVAL;
        }
        if (access(u->path, F_OK) < 0) {
            int e = errno;
            snprintf(errbuf, errlen, "Path %s provided in landlock-rules does not exist", u->path);
            return -e;
        }
    }
    return 0;
}

int vmm_landlock_setup(const VmConfig *cfg, const char *api_socket_path, const char *event_monitor_path,
                       char *errbuf, size_t errlen)
{
    int r = check_user_rules(cfg, errbuf, errlen);
    if (r < 0 || !cfg->landlock_enable)
        return r;
    int abi = vmm_landlock_abi();
    if (abi < 0) {
        snprintf(errbuf, errlen, "--landlock: the kernel has no Landlock (%s); refusing to run unconfined",
                 abi == -EOPNOTSUPP ? "disabled at boot: add landlock to the lsm= kernel parameter"
                                    : "not built in");
        return abi;
    }
    /* Needed by landlock_restrict_self without CAP_SYS_ADMIN, and inherited
     * by the threads created from here on. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        int e = errno;
        snprintf(errbuf, errlen, "landlock: cannot set no_new_privs: %s", strerror(e));
        return -e;
    }
    r = vmm_landlock_rules_from_config(cfg, api_socket_path, event_monitor_path, &process_rules, errbuf,
                                       errlen);
    if (r < 0)
        return r;
#ifdef VMM_SANITIZER_BUILD
    if ((r = add_sanitizer_rules(&process_rules)) < 0) {
        snprintf(errbuf, errlen, "out of memory");
        vmm_landlock_rules_free(&process_rules);
        return r;
    }
#endif
    setup_ruleset_fd = vmm_landlock_ruleset_create(&process_rules, abi, true, errbuf, errlen);
    if (setup_ruleset_fd < 0) {
        r = setup_ruleset_fd;
        setup_ruleset_fd = -1;
        vmm_landlock_rules_free(&process_rules);
        return r;
    }
    kernel_abi = abi;
    enabled = true;
    return 0;
}

void vmm_landlock_enter(void)
{
    if (!enabled || main_restricted)
        return;
    int r = vmm_landlock_restrict_self(setup_ruleset_fd);
    if (r < 0) {
        fprintf(stderr, "vmm: landlock: cannot confine a thread: %s\n", strerror(-r));
        _exit(1);
    }
}

int vmm_landlock_restrict_main(char *errbuf, size_t errlen)
{
    if (!enabled)
        return 0;
    int fd = vmm_landlock_ruleset_create(&process_rules, kernel_abi, false, errbuf, errlen);
    if (fd < 0)
        return fd;
    int r = vmm_landlock_restrict_self(fd);
    close(fd);
    if (r < 0)
        snprintf(errbuf, errlen, "landlock: cannot confine the VMM: %s", strerror(-r));
    else
        main_restricted = true;
    return r;
}

void vmm_landlock_teardown(void)
{
    if (setup_ruleset_fd >= 0)
        close(setup_ruleset_fd);
    setup_ruleset_fd = -1;
    vmm_landlock_rules_free(&process_rules);
    enabled = false;
    main_restricted = false;
}
