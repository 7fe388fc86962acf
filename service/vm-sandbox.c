/* SPDX-License-Identifier: Apache-2.0 */
#include "vm-sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

/* AddressSanitizer reserves terabytes of shadow address space at start-up:
 * an address-space limit would stop such a VMM before main(). vmmd and the
 * VMM are built together, so vmmd's own build tells. */
#if defined(__SANITIZE_ADDRESS__)
#define VMM_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMM_ASAN_BUILD 1
#endif
#endif

/* Address space beyond guest RAM: the binary and libraries, a stack per
 * thread (vCPUs, virtio workers, event monitor), glibc's per-thread malloc
 * arenas (64 MiB reservations each). Resident memory is a memory cgroup's
 * business; this bounds what a VMM can map at all. */
#define VMM_ADDRESS_SPACE_HEADROOM (4ULL << 30)

/* ---------------------------------------------------------------- user */

/* Once, at start: every VMM runs with --landlock when the kernel has it.
 * landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION). */
static int landlock_init(bool wanted)
{
    if (!wanted) {
        log_info("Landlock: off (--no-landlock): VMMs run without --landlock");
        return 0;
    }
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        log_warning("Landlock: not available (%s); VMMs run without --landlock",
                    errno == EOPNOTSUPP ? "disabled at boot: add landlock to the lsm= kernel parameter"
                                        : strerror(errno));
        return 0;
    }
    log_info("Landlock: ABI %ld; VMMs run with --landlock", abi);
    return (int)abi;
}

int vmm_sandbox_init(VmmSandbox *s, const char *user, bool landlock)
{
    memset(s, 0, sizeof(*s));
    s->landlock_abi = landlock_init(landlock);
    s->privileged = geteuid() == 0;
    if (!s->privileged) {
        /* Without CAP_SETUID there is no other user to become. */
        if (user)
            log_warning("--vmm-user %s ignored: vmmd does not run as root, so its VMMs run as its own user",
                        user);
        s->uid = getuid();
        s->gid = getgid();
        return 0;
    }
    const char *name = user ? user : VMM_DEFAULT_USER;
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (!pw && !user) {
        log_warning("the VMM user %s does not exist (systemd-sysusers creates it from vmmd's sysusers.d "
                    "file); VMMs run as %s, which other services may share",
                    VMM_DEFAULT_USER, VMM_FALLBACK_USER);
        name = VMM_FALLBACK_USER;
        errno = 0;
        pw = getpwnam(name);
    }
    if (!pw)
        return log_error_errno(errno ? -errno : -ENOENT, "the VMM user %s does not exist%s%s", name,
                               errno ? ": " : "", errno ? strerror(errno) : "");
    if (pw->pw_uid == 0)
        log_warning("--vmm-user %s is root: VMMs keep root's ownership of files, only capabilities, "
                    "no_new_privs and namespaces confine them",
                    name);
    s->user = strdup(name);
    if (!s->user)
        return -ENOMEM;
    s->uid = pw->pw_uid;
    s->gid = pw->pw_gid;
    log_info("VMMs run as %s (uid %u, gid %u)", s->user, (unsigned)s->uid, (unsigned)s->gid);
    return 0;
}

void vmm_sandbox_free(VmmSandbox *s)
{
    free(s->user);
    s->user = NULL;
}

/* --------------------------------------------------------------- files */

typedef struct Opener {
    VmmFiles *files;
    size_t cap;
    int first_fd;
    char *errbuf;
    size_t errlen;
} Opener;

/* Takes fd: the VMM will find it as /dev/fd/N, which *path now says. */
static int hand_over(Opener *o, int fd, char **path)
{
    VmmFiles *f = o->files;
    if (f->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 8;
        int *n = realloc(f->fds, cap * sizeof(*n));
        if (!n) {
            close(fd);
            return -ENOMEM;
        }
        f->fds = n;
        o->cap = cap;
    }
    int number = o->first_fd + (int)f->n;
    f->fds[f->n++] = fd;
    if (!path)
        return number;
    char *p = NULL;
    if (asprintf(&p, "/dev/fd/%d", number) < 0)
        return -ENOMEM;
    free(*path);
    *path = p;
    return number;
}

/* N of the "/dev/fd/N" hand_over wrote. */
static int inherited_number(const char *path)
{
    return atoi(path + strlen("/dev/fd/"));
}

enum { ANY_FILE, REGULAR, REGULAR_OR_BLOCK };

static int open_path(Opener *o, const char *what, char **path, int flags, mode_t mode, int kind)
{
    /* Such a path names one of vmmd's own descriptors, never the caller's. */
    if (strncmp(*path, "/dev/fd/", 8) == 0 || strncmp(*path, "/proc/", 6) == 0) {
        snprintf(o->errbuf, o->errlen,
                 "%s %s: vmmd does not open paths under /dev/fd or /proc; give the file", what, *path);
        return -EINVAL;
    }
    /* O_NONBLOCK: opening a FIFO must not stall vmmd; it is taken off again
     * unless the VMM wants it. */
    int fd = open(*path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        int r = -errno;
        snprintf(o->errbuf, o->errlen, "cannot open %s %s%s: %s", what, *path,
                 (flags & O_DIRECT) && r == -EINVAL ? " with O_DIRECT (direct=on)" : "", strerror(-r));
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (kind == REGULAR && !S_ISREG(st.st_mode)) ||
        (kind == REGULAR_OR_BLOCK && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        snprintf(o->errbuf, o->errlen, "%s %s is not a regular file%s", what, *path,
                 kind == REGULAR_OR_BLOCK ? " or a block device" : "");
        close(fd);
        return -EINVAL;
    }
    if (!(flags & O_NONBLOCK)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            int r = -errno;
            snprintf(o->errbuf, o->errlen, "%s %s: %s", what, *path, strerror(-r));
            close(fd);
            return r;
        }
    }
    return hand_over(o, fd, path);
}

static int open_console(Opener *o, const char *what, ConsoleOutputMode mode, char **file)
{
    if (mode != CONSOLE_MODE_FILE || !*file)
        return 0;
    /* As the VMM opens it: appended to, 0600 (guest output can hold secrets). */
    return open_path(o, what, file, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK, 0600, ANY_FILE);
}

static int open_net(Opener *o, NetConfig *n, size_t index)
{
    char id[32];
    snprintf(id, sizeof(id), "net%zu", index);
    if (n->vhost_user)
        return 0; /* refused by vm_config_check_supported() */
    if (n->n_fds) {
        snprintf(o->errbuf, o->errlen,
                 "%s: fd= names descriptors of the caller, which vmmd does not have; use tap=NAME", id);
        return -EINVAL;
    }
    uint16_t pairs = (uint16_t)(n->num_queues / 2);
    int *fds = calloc(pairs, sizeof(int));
    if (!fds)
        return -ENOMEM;
    char ifname[IFNAMSIZ];
    int r = tap_open(n->tap, pairs, fds, ifname, o->errbuf, o->errlen, id);
    if (r == 0)
        r = tap_configure_host(ifname, n, o->errbuf, o->errlen, id);
    if (r == 0)
        log_debug("%s: tap %s opened for the VMM", id, ifname);
    for (uint16_t i = 0; i < pairs; i++) {
        if (r < 0) {
            if (fds[i] >= 0)
                close(fds[i]);
            continue;
        }
        int number = hand_over(o, fds[i], NULL);
        if (number < 0) {
            r = number;
            continue;
        }
        fds[i] = number;
    }
    if (r < 0) {
        free(fds);
        return r;
    }
    /* The VMM adopts the queues (fd=[...]) and reads the tap's name from
     * them; the host side is set up already. */
    free(n->tap);
    n->tap = NULL;
    n->fds = fds;
    n->n_fds = pairs;
    return 0;
}

/* Landlock on, whatever the definition says, and the snapshot directory. */
static int enable_landlock(VmConfig *cfg, int snapshot_dir_fd)
{
    LandlockConfig *rules = realloc(cfg->landlock_rules, (cfg->n_landlock_rules + 1) * sizeof(*rules));
    if (!rules)
        return -ENOMEM;
    cfg->landlock_rules = rules;
    LandlockConfig *rule = &rules[cfg->n_landlock_rules];
    *rule = (LandlockConfig){.access = strdup("rw")};
    if (asprintf(&rule->path, "/dev/fd/%d", snapshot_dir_fd) < 0)
        rule->path = NULL;
    cfg->n_landlock_rules++;
    if (!rule->path || !rule->access)
        return -ENOMEM;
    cfg->landlock_enable = true;
    return 0;
}

int vmm_files_open(const VmmSandbox *s, const char *config_json, int first_fd, int snapshot_dir_fd,
                   VmmFiles *ret, char *errbuf, size_t errlen)
{
    VmConfig cfg;
    ConfigError err = {0};
    memset(ret, 0, sizeof(*ret));
    if (vm_config_from_json(config_json, strlen(config_json), &cfg, &err) < 0) {
        snprintf(errbuf, errlen, "the stored configuration does not parse: %s", err.message);
        return -EINVAL;
    }
    Opener o = {.files = ret, .first_fd = first_fd, .errbuf = errbuf, .errlen = errlen};
    int r = 0;
    if (cfg.payload.kernel)
        r = open_path(&o, "the kernel", &cfg.payload.kernel, O_RDONLY, 0, REGULAR);
    if (r >= 0 && cfg.payload.initramfs)
        r = open_path(&o, "the initramfs", &cfg.payload.initramfs, O_RDONLY, 0, REGULAR);
    for (size_t i = 0; r >= 0 && i < cfg.n_disks; i++) {
        DiskConfig *d = &cfg.disks[i];
        if (d->path)
            r = open_path(&o, "the disk", &d->path,
                          (d->readonly ? O_RDONLY : O_RDWR) | (d->direct ? O_DIRECT : 0), 0,
                          REGULAR_OR_BLOCK);
    }
    if (r >= 0 && cfg.rng.src)
        r = open_path(&o, "the rng source", &cfg.rng.src, O_RDONLY, 0, ANY_FILE);
    if (r >= 0)
        r = open_console(&o, "the serial file", cfg.serial.mode, &cfg.serial.file);
    if (r >= 0)
        r = open_console(&o, "the console file", cfg.console.mode, &cfg.console.file);
    if (r >= 0)
        r = open_console(&o, "the debug console file", cfg.debug_console.mode, &cfg.debug_console.file);
    for (size_t i = 0; r >= 0 && i < cfg.n_net; i++)
        r = open_net(&o, &cfg.net[i], i);
    if (r >= 0 && s->landlock_abi > 0)
        r = enable_landlock(&cfg, snapshot_dir_fd);
    if (r >= 0) {
        ret->config_json = vm_config_to_json(&cfg, false);
        if (!ret->config_json)
            r = -ENOMEM;
    }
    vm_config_free(&cfg);
    if (r < 0) {
        if (r == -ENOMEM)
            snprintf(errbuf, errlen, "out of memory");
        vmm_files_close(ret);
        return r;
    }
    return 0;
}

void vmm_files_close(VmmFiles *f)
{
    for (size_t i = 0; i < f->n; i++)
        close(f->fds[i]);
    free(f->fds);
    free(f->config_json);
    memset(f, 0, sizeof(*f));
}

/* "fd:K", how a request names the Kth descriptor it carries (docs/api.md). */
static json_object *fd_reference(int k)
{
    char text[16];
    snprintf(text, sizeof(text), "fd:%d", k);
    return json_object_new_string(text);
}

int vmm_files_open_device(const char *member, const char *entry_json, size_t index, VmmFiles *ret,
                          char *errbuf, size_t errlen)
{
    bool net = strcmp(member, "net") == 0;
    memset(ret, 0, sizeof(*ret));
    _cleanup_free_ char *wrapped = NULL;
    if (asprintf(&wrapped, "{\"%s\":[%s]}", member, entry_json) < 0)
        return -ENOMEM;
    VmConfig cfg;
    ConfigError err = {0};
    if (vm_config_from_json(wrapped, strlen(wrapped), &cfg, &err) < 0) {
        snprintf(errbuf, errlen, "%s", err.message);
        return -EINVAL;
    }
    /* Numbered from 0: the request names its descriptors by position. */
    Opener o = {.files = ret, .first_fd = 0, .errbuf = errbuf, .errlen = errlen};
    int r = -EINVAL;
    if (net && cfg.n_net == 1) {
        r = open_net(&o, &cfg.net[0], index);
    } else if (!net && cfg.n_disks == 1 && cfg.disks[0].path) {
        DiskConfig *d = &cfg.disks[0];
        r = open_path(&o, "the disk", &d->path,
                      (d->readonly ? O_RDONLY : O_RDWR) | (d->direct ? O_DIRECT : 0), 0, REGULAR_OR_BLOCK);
    } else {
        snprintf(errbuf, errlen, "%s", net ? "one net is needed" : "a disk needs a path");
    }
    _cleanup_free_ char *text = r >= 0 ? vm_config_to_json(&cfg, false) : NULL;
    vm_config_free(&cfg);
    _cleanup_json_ json_object *doc = text ? json_tokener_parse(text) : NULL;
    json_object *list = NULL, *entry = NULL, *v;
    if (r >= 0 && (!doc || !json_object_object_get_ex(doc, member, &list) ||
                   !(entry = json_object_array_get_idx(list, 0))))
        r = -ENOMEM;
    if (r >= 0 && net && json_object_object_get_ex(entry, "fds", &v)) {
        json_object *refs = json_object_new_array();
        for (size_t i = 0; refs && i < json_object_array_length(v); i++)
            json_object_array_add(refs, fd_reference(json_object_get_int(json_object_array_get_idx(v, i))));
        json_object_object_add(entry, "fds", refs);
    } else if (r >= 0 && !net) {
        json_object_object_get_ex(entry, "path", &v);
        json_object_object_add(entry, "path", fd_reference(inherited_number(json_object_get_string(v))));
    }
    if (r >= 0 && !(ret->config_json = strdup(json_object_to_json_string_ext(entry, JSON_C_TO_STRING_PLAIN))))
        r = -ENOMEM;
    if (r < 0) {
        if (r == -ENOMEM)
            snprintf(errbuf, errlen, "out of memory");
        vmm_files_close(ret);
    }
    return r < 0 ? r : 0;
}

/* -------------------------------------------------------------- child */

static int failed(const char **what, const char *step)
{
    *what = step;
    return -errno;
}

/* Lowers a limit to value; never above the hard limit vmmd has, which only
 * CAP_SYS_RESOURCE could raise. */
static int lower_limit(int resource, rlim_t value)
{
    struct rlimit cur;
    if (getrlimit(resource, &cur) < 0)
        return -1;
    if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < value)
        value = cur.rlim_max;
    struct rlimit l = {value, value};
    return setrlimit(resource, &l);
}

int vmm_sandbox_enter(const VmmSandbox *s, uint64_t memory_size, const char **what)
{
    if (lower_limit(RLIMIT_NOFILE, VMM_NOFILE_LIMIT) < 0)
        return failed(what, "setrlimit(RLIMIT_NOFILE)");
    /* Guest RAM may be locked (prefault), nothing beyond it. */
    if (lower_limit(RLIMIT_MEMLOCK, memory_size) < 0)
        return failed(what, "setrlimit(RLIMIT_MEMLOCK)");
    /* A core dump would hold the guest's memory. */
    if (lower_limit(RLIMIT_CORE, 0) < 0)
        return failed(what, "setrlimit(RLIMIT_CORE)");
#ifndef VMM_ASAN_BUILD
    if (lower_limit(RLIMIT_AS, memory_size + VMM_ADDRESS_SPACE_HEADROOM) < 0)
        return failed(what, "setrlimit(RLIMIT_AS)");
#endif

    if (s->privileged) {
        /* Its own mount table (private: nothing it could mount propagates
         * back) and no view of the host's System V IPC and POSIX message
         * queues. Where namespaces cannot be made (a container without
         * CAP_SYS_ADMIN) the VMM runs without them, saying so in its log. */
        if (unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0) {
            if (errno != EPERM && errno != EINVAL && errno != ENOSYS)
                return failed(what, "unshare(CLONE_NEWNS|CLONE_NEWIPC)");
            dprintf(2, "vmmd: no mount/IPC namespaces for this VMM: %s\n", strerror(errno));
        } else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
            return failed(what, "making the mount namespace private");
        }
        if (setgroups(0, NULL) < 0)
            return failed(what, "setgroups");
        if (setresgid(s->gid, s->gid, s->gid) < 0)
            return failed(what, "setresgid");
        /* Needs CAP_SETPCAP, so before the user changes. An empty bounding
         * set also keeps a VMM running as root from regaining capabilities
         * at exec. */
        for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                return failed(what, "PR_CAPBSET_DROP");
        /* Leaving uid 0 clears the permitted and effective sets. */
        if (setresuid(s->uid, s->uid, s->uid) < 0)
            return failed(what, "setresuid");
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return failed(what, "PR_CAP_AMBIENT_CLEAR_ALL");
    /* The inheritable set survives setuid; and a VMM running as root (or an
     * unprivileged vmmd's own capabilities) would keep the others. */
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {0};
    if (syscall(SYS_capset, &hdr, none) < 0)
        return failed(what, "capset");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return failed(what, "PR_SET_NO_NEW_PRIVS");
    return 0;
}
