/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a VM: fork+exec of one `vmm` process, its control channel, its
 * event stream, and what happens when it exits.
 *
 * The VMM gets these from vmmd:
 *  - fd 3, a listening SOCK_SEQPACKET socket bound at <runtime>/<name>.sock
 *    (--api-socket fd=3). vmmd connects to it before the fork, so the
 *    channel exists from the first instant; the socket file stays, so a
 *    later vmmd (or an administrator with socat) can connect again.
 *  - fd 4, one end of a SOCK_SEQPACKET socketpair (--event-monitor fd=4):
 *    every event record, one per packet, from vmm/starting on. Subscribing
 *    on the API channel instead would lose vm/booting and vm/booted: the API
 *    server serves requests only once the VM has booted.
 *  - stdout/stderr to <runtime>/<name>.log, where a failing VMM says why
 *    (ExitReason quotes its last line) and which outlives vmmd.
 *  - fd 5, /dev/kvm (--kvm-fd 5); fd 6, <runtime>/<name>.config.json
 *    (--config /dev/fd/6); fd 7, the VM's snapshot directory
 *    <state>/snapshots/<name> (vm_snapshot_url()); from fd 8 on, every file and tap its
 *    configuration names, opened by vmmd, the configuration saying
 *    /dev/fd/N for each: the VMM runs unprivileged (vm-sandbox.h).
 * The VMM runs in its own session, so it survives vmmd (KillMode=process).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus_errors.h"
#include "util.h"
#include "vm-config.h"
#include "vm-sandbox.h"
#include "vm.h"

#define VMM_API_FD        3
#define VMM_EVENT_FD      4
#define VMM_KVM_FD        5
#define VMM_CONFIG_FD     6
/* The VM's snapshot directory: vm.snapshot writes /dev/fd/7/NAME. */
#define VMM_SNAPSHOT_DIR_FD 7
#define VMM_FIRST_FILE_FD   8

static int runtime_path(Vm *vm, const char *suffix, char **ret)
{
    return asprintf(ret, "%s/%s%s", vm->manager->runtime_dir, vm->name, suffix) < 0 ? -ENOMEM : 0;
}

static int set_string(char **field, const char *value)
{
    char *n = value ? strdup(value) : NULL;
    if (value && !n)
        return -ENOMEM;
    free(*field);
    *field = n;
    return 0;
}

/* ------------------------------------------------------------- events */

static void on_boot_info(int error, const char *code, const char *message, json_object *result,
                         void *userdata)
{
    Vm *vm = userdata;
    (void)code;
    if (error == -ECONNRESET)
        return; /* the VMM is gone; the exit handler replies */
    if (error < 0)
        log_warning("VM %s: vm.info after boot failed: %s", vm->name, message ? message : strerror(-error));
    json_object *pty = NULL;
    if (result && json_object_object_get_ex(result, "serial_pty", &pty) &&
        json_object_is_type(pty, json_type_string)) {
        if (set_string(&vm->console_path, json_object_get_string(pty)) == 0)
            (void)sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "ConsolePath",
                                                 NULL);
    }
    /* A restored VM stays paused until Resume, as the VMM leaves it. */
    if (vm->state == VM_STATE_STARTING)
        vm_set_state(vm, vm->restoring ? VM_STATE_PAUSED : VM_STATE_RUNNING);
    vm->boot_timer = sd_event_source_disable_unref(vm->boot_timer);
    if (vm->start_call) {
        /* RestoreVM answers with the object, Start with nothing. */
        if (vm->restoring)
            (void)sd_bus_reply_method_return(vm->start_call, "o", vm->path);
        else
            (void)sd_bus_reply_method_return(vm->start_call, NULL);
        vm->start_call = sd_bus_message_unref(vm->start_call);
    }
    vm->restoring = false;
}

static void apply_event(Vm *vm, const char *source, const char *event, json_object *props)
{
    if (strcmp(source, "vm") != 0)
        return;
    if (strcmp(event, "shutdown") == 0)
        vm->shutdown_seen = true;
    if ((strcmp(event, "booted") == 0 || strcmp(event, "restored") == 0) && vm->state == VM_STATE_STARTING) {
        /* Running once ConsolePath is known, so Start's caller sees both. */
        if (!vm->api ||
            vmm_conn_call(vm->api, "vm.info", NULL, VMM_REQUEST_TIMEOUT_USEC, on_boot_info, vm) < 0)
            on_boot_info(-ENOTCONN, NULL, NULL, NULL, vm);
    } else if (strcmp(event, "paused") == 0 && vm->state == VM_STATE_RUNNING) {
        vm_set_state(vm, VM_STATE_PAUSED);
    } else if ((strcmp(event, "resumed") == 0 || strcmp(event, "rebooted") == 0) &&
               vm->state == VM_STATE_PAUSED) {
        vm_set_state(vm, VM_STATE_RUNNING);
    } else if (strcmp(event, "device-removed") == 0) {
        json_object *id = NULL;
        if (props && json_object_object_get_ex(props, "id", &id) && json_object_is_type(id, json_type_string))
            vm_device_removed(vm, json_object_get_string(id));
    } else if (strcmp(event, "resized") == 0) {
        /* vCPUs the guest ejected after ResizeVCPUs asked for fewer. */
        json_object *n = NULL;
        char *end = NULL;
        unsigned long v = 0;
        if (props && json_object_object_get_ex(props, "vcpus", &n) && json_object_is_type(n, json_type_string))
            v = strtoul(json_object_get_string(n), &end, 10);
        int r = !end || *end || v > UINT32_MAX ? -EINVAL : vm_vcpus_changed(vm, (uint32_t)v);
        /* A count out of range is the VMM's junk (debug only, as other
         * junk); a definition that cannot be saved is vmmd's problem. */
        if (r == -EINVAL || r == -ERANGE)
            log_debug("VM %s: vm/resized without a usable vCPU count ignored", vm->name);
        else if (r < 0)
            log_warning("VM %s: runs %lu vCPUs, but the definition cannot be saved: %s", vm->name, v,
                        strerror(-r));
    } else if (strcmp(event, "crashed") == 0) {
        json_object *reason = NULL;
        vm->crash_reported = true;
        _cleanup_free_ char *text = NULL;
        if (props && json_object_object_get_ex(props, "reason", &reason) &&
            asprintf(&text, "the VM crashed: %s", json_object_get_string(reason)) >= 0)
            set_string(&vm->exit_reason, text);
        else
            set_string(&vm->exit_reason, "the VM crashed");
    }
}

static void on_vmm_event(json_object *record, void *userdata)
{
    Vm *vm = userdata;
    json_object *source = NULL, *event = NULL, *props = NULL, *ts = NULL, *secs = NULL, *nanos = NULL;

    if (!json_object_object_get_ex(record, "source", &source) ||
        !json_object_is_type(source, json_type_string) ||
        !json_object_object_get_ex(record, "event", &event) ||
        !json_object_is_type(event, json_type_string)) {
        /* Debug only: a VMM sending such records in a loop would flood the
         * journal (vmm_conn.c logs junk at a falling rate). */
        log_debug("VM %s: event record without source/event ignored", vm->name);
        return;
    }
    /* The record's time is CLOCK_MONOTONIC since the VMM started; the
     * signal carries wall-clock time, anchored at StartedAt. */
    uint64_t usec = vm->started_at;
    if (json_object_object_get_ex(record, "timestamp", &ts) && json_object_is_type(ts, json_type_object) &&
        json_object_object_get_ex(ts, "secs", &secs) && json_object_object_get_ex(ts, "nanos", &nanos))
        usec +=
            (uint64_t)json_object_get_int64(secs) * 1000000u + (uint64_t)json_object_get_int64(nanos) / 1000u;

    /* properties: null or an object of strings, flattened for a{ss}. */
    const char *kv[2 * 16 + 1];
    size_t n = 0;
    if (json_object_object_get_ex(record, "properties", &props) &&
        json_object_is_type(props, json_type_object)) {
        json_object_object_foreach(props, k, v)
        {
            if (n + 2 >= ARRAY_SIZE(kv))
                break;
            kv[n++] = k;
            kv[n++] = json_object_get_string(v);
        }
    }
    kv[n] = NULL;
    const char *src = json_object_get_string(source), *ev = json_object_get_string(event);
    log_debug("VM %s: event %s/%s", vm->name, src, ev);
    /* State first, then the signal: a client reacting to vm/paused reads
     * State = paused. */
    apply_event(vm, src, ev, props);
    vm_emit_event(vm, src, ev, kv, usec);
}

/* ---------------------------------------------------------------- exit */

/* The last line the VMM wrote to its log, usually "vmm: why it stopped". */
static char *last_log_line(Vm *vm)
{
    _cleanup_free_ char *path = NULL, *data = NULL;
    size_t len = 0;
    if (runtime_path(vm, ".log", &path) < 0)
        return NULL;
    /* A runaway log is not read whole: the VMM only writes a few lines. */
    if (read_file_full(path, 1 << 20, &data, &len) < 0)
        return NULL;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    char *start = strrchr(data, '\n');
    start = start ? start + 1 : data;
    if (!*start)
        return NULL;
    if (strncmp(start, "vmm: ", 5) == 0)
        start += 5;
    return strndup(start, 400);
}

/* si is NULL for an adopted VMM: it is not our child, so its exit status
 * is not ours to read; what it said before exiting decides. */
static void vm_reap(Vm *vm, const siginfo_t *si)
{
    /* Records the VMM wrote before it died come first (vm/shutdown, ...);
     * an adopted VMM sends them on the control channel. */
    vmm_conn_drain(vm->events);
    vmm_conn_drain(vm->api);

    _cleanup_free_ char *reason = NULL;
    VmState next = VM_STATE_CRASHED;
    if (!si) {
        /* The VMM's last records (vm/shutdown, vm/crashed) usually do not
         * reach an API subscriber: it stops serving as it exits. Its log
         * still says when the VM failed ("vmm: the VM stopped: why"). */
        _cleanup_free_ char *line = last_log_line(vm);
        if (vm->crash_reported) {
            /* exit_reason was set from vm/crashed */
        } else if (line && strncmp(line, "the VM stopped: ", 16) == 0) {
            if (asprintf(&reason, "the VM crashed: %s", line + 16) < 0)
                reason = NULL;
        } else if (vm->shutdown_seen || vm->poweroff_requested || vm->state == VM_STATE_SHUTTING_DOWN) {
            next = VM_STATE_SHUTDOWN;
            reason = strdup(vm->poweroff_requested ? "powered off by PowerOff" : "the guest powered off");
        } else {
            if (asprintf(&reason,
                         "the VMM exited without a shutdown (started by an earlier vmmd, so its exit "
                         "status is unknown)%s%s",
                         line ? ": " : "", line ? line : "") < 0)
                reason = NULL;
        }
    } else if (si->si_code == CLD_EXITED && si->si_status == 0 && !vm->crash_reported) {
        next = VM_STATE_SHUTDOWN;
        reason = strdup(vm->poweroff_requested ? "powered off by PowerOff" : "the guest powered off");
    } else if (vm->crash_reported) {
        /* exit_reason was set from vm/crashed */
    } else if (si->si_code == CLD_EXITED) {
        _cleanup_free_ char *line = last_log_line(vm);
        if (asprintf(&reason, "the VMM exited with status %d%s%s", si->si_status, line ? ": " : "",
                     line ? line : "") < 0)
            reason = NULL;
    } else if (vm->killed_by_us) {
        next = VM_STATE_SHUTDOWN;
        reason = strdup("killed by vmmd: the VMM did not stop within the PowerOff timeout");
    } else {
        if (asprintf(&reason, "the VMM was killed by signal %d (SIG%s)", si->si_status,
                     sigabbrev_np(si->si_status) ?: "?") < 0)
            reason = NULL;
    }
    if (reason)
        set_string(&vm->exit_reason, reason);
    log_notice("VM %s: VMM %u exited: %s", vm->name, vm->pid, vm->exit_reason ? vm->exit_reason : "?");

    /* Requests still waiting get their error now (ECONNRESET). */
    vmm_conn_free(vm->api);
    vm->api = NULL;
    vmm_conn_free(vm->events);
    vm->events = NULL;
    vm->pidfd_source = sd_event_source_disable_unref(vm->pidfd_source);
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    vm->pidfd = -1;
    vm->adopted = false;
    vm->boot_timer = sd_event_source_disable_unref(vm->boot_timer);
    vm->kill_timer = sd_event_source_disable_unref(vm->kill_timer);
    vm->pid = 0;
    free(vm->console_path);
    vm->console_path = NULL;

    _cleanup_free_ char *sock = NULL;
    if (runtime_path(vm, ".sock", &sock) == 0)
        (void)unlink(sock);

    if (next == VM_STATE_CRASHED && !vm->crash_reported) {
        /* Consumers watch for vm/crashed; a VMM killed from outside could
         * not send it, so vmmd does. */
        const char *props[] = {"reason", vm->exit_reason ? vm->exit_reason : "", NULL};
        vm_emit_event(vm, "vm", "crashed", props, now_realtime_usec());
    } else if (next == VM_STATE_SHUTDOWN && !vm->shutdown_seen) {
        /* An adopted VMM's last records may be lost (see above). */
        vm_emit_event(vm, "vm", "shutdown", NULL, now_realtime_usec());
    }
    (void)sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "PID", "ExitReason",
                                         "ConsolePath", NULL);
    vm_set_state(vm, next);

    if (vm->start_call) {
        (void)sd_bus_reply_method_errorf(vm->start_call, VMM_ERROR_VMM_FAILED,
                                         "VM %s: the VMM stopped before the VM booted: %s", vm->name,
                                         vm->exit_reason ? vm->exit_reason : "unknown reason");
        vm->start_call = sd_bus_message_unref(vm->start_call);
    }
    for (size_t i = 0; i < vm->n_exit_calls; i++) {
        (void)sd_bus_reply_method_return(vm->exit_calls[i], NULL);
        sd_bus_message_unref(vm->exit_calls[i]);
    }
    free(vm->exit_calls);
    vm->exit_calls = NULL;
    vm->n_exit_calls = 0;
}

/*
 * Not sd-event's child sources: libsystemd 252 arms a child's pidfd
 * EPOLLONESHOT and, when the pidfd wakes before waitid() can see the exit
 * (which happens on recent kernels), never looks again - the VMM stays a
 * zombie and PowerOff never answers. SIGCHLD is sent once the child can be
 * reaped, so vmmd checks every child then (vmmd.c).
 */
void vm_reap_if_exited(Vm *vm)
{
    if (vm->pidfd < 0 || vm->adopted)
        return;
    siginfo_t si = {0};
    if (waitid(P_PIDFD, (id_t)vm->pidfd, &si, WEXITED | WNOHANG) < 0) {
        log_error("VM %s: waitid on VMM %u: %s", vm->name, vm->pid, strerror(errno));
        return;
    }
    if (si.si_pid != 0)
        vm_reap(vm, &si);
}

static void vm_kill(Vm *vm, const char *why)
{
    if (vm->pidfd < 0)
        return;
    log_warning("VM %s: killing VMM %u: %s", vm->name, vm->pid, why);
    vm->killed_by_us = vm->poweroff_requested;
    int r = syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL, NULL, 0) < 0 ? -errno : 0;
    if (r < 0)
        log_error("VM %s: cannot kill VMM %u: %s", vm->name, vm->pid, strerror(-r));
}

static int on_boot_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    Vm *vm = userdata;
    (void)s;
    (void)usec;
    vm->boot_timer = sd_event_source_disable_unref(vm->boot_timer);
    if (vm->state == VM_STATE_STARTING) {
        set_string(&vm->exit_reason, "the VM did not boot within the start timeout");
        vm_kill(vm, "no vm/booted within the start timeout");
    }
    return 0;
}

static int on_kill_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    Vm *vm = userdata;
    (void)s;
    (void)usec;
    vm->kill_timer = sd_event_source_disable_unref(vm->kill_timer);
    vm_kill(vm, "it did not stop within the PowerOff timeout");
    return 0;
}

/* ---------------------------------------------------------------- spawn */

/* A listening socket nobody accepts on is stale (its VMM died); one that
 * accepts belongs to a VMM that still runs, which must not get a twin. */
static int prepare_socket_path(const char *path, sd_bus_error *error)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED,
                                 "the control socket path %s is too long; use a shorter --runtime-dir", path);
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return sd_bus_error_setf(
            error, VMM_ERROR_VMM_FAILED,
            "a VMM still serves %s (left running by an earlier vmmd?); stop it or remove "
            "the socket",
            path);
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int bind_listen(const char *path, int *ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* 0600 from the start: umask instead of chmod after bind leaves no window. */
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 8) < 0)
        return -errno;
    *ret = TAKE_FD(fd);
    return 0;
}

static int connect_to(const char *path, int *ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* The listener's backlog takes the connection before the VMM accepts. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    *ret = TAKE_FD(fd);
    return 0;
}

/* <state>/snapshots/<name>, made if missing and owned by the VMM user: the
 * VMM writes snapshots into it through its descriptor (/dev/fd/7/NAME), so
 * neither the 0700 state directory nor Landlock stand in the way, and no
 * VMM reaches another VM's snapshots by path. */
static int snapshot_dir_path(Vm *vm, char **ret)
{
    return asprintf(ret, "%s/snapshots/%s", vm->manager->state_dir, vm->name) < 0 ? -ENOMEM : 0;
}

static int open_snapshot_dir(Vm *vm, int *ret)
{
    const VmmSandbox *sb = &vm->manager->sandbox;
    _cleanup_free_ char *top = NULL, *dir = NULL;
    if (asprintf(&top, "%s/snapshots", vm->manager->state_dir) < 0 || snapshot_dir_path(vm, &dir) < 0)
        return -ENOMEM;
    if (mkdir(top, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (sb->privileged && fchown(fd, sb->uid, sb->gid) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    *ret = fd;
    return 0;
}

int vm_snapshot_url(Vm *vm, const char *url, bool create, char **ret, sd_bus_error *error)
{
    _cleanup_free_ char *dir = NULL, *prefix = NULL;
    if (snapshot_dir_path(vm, &dir) < 0 || asprintf(&prefix, "file://%s/", dir) < 0)
        return -ENOMEM;
    size_t n = strlen(prefix);
    const char *name = url + n;
    bool inside = strncmp(url, prefix, n) == 0;
    if (inside && (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "'%.200s': a snapshot of VM %s is one directory %sNAME", url, vm->name, prefix);
    if (!inside) {
        /* RestoreVM reads a snapshot by path as the VMM user, from before
         * it is confined; Snapshot writes only into the VM's directory. */
        if (!create)
            return (*ret = strdup(url)) ? 0 : -ENOMEM;
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "'%.200s': vmmd writes snapshots of VM %s only into %sNAME (its VMM may "
                                 "write nowhere else)",
                                 url, vm->name, prefix);
    }
    if (create) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot open %s: %s", dir, strerror(errno));
        const VmmSandbox *sb = &vm->manager->sandbox;
        if (mkdirat(dfd, name, 0700) == 0) {
            /* The VMM owns its directory and may have put anything there:
             * never follow what is at that name. */
            if (sb->privileged && fchownat(dfd, name, sb->uid, sb->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot hand %s/%s to the VMM user: %s",
                                         dir, name, strerror(errno));
        } else if (errno != EEXIST) {
            return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot create %s/%s: %s", dir, name,
                                     strerror(errno));
        }
    }
    return asprintf(ret, "file:///dev/fd/%d/%s", VMM_SNAPSHOT_DIR_FD, name) < 0 ? -ENOMEM : 0;
}

/* At or above min, past every number the child is given, so the dup2()s
 * there cannot clobber one another. */
static int move_high(int *fd, int min)
{
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, min);
    if (n < 0)
        return -errno;
    close(*fd);
    *fd = n;
    return 0;
}

/* fds[i] becomes descriptor VMM_API_FD + i: the API socket, the event
 * socket, /dev/kvm, the configuration, then the VM's files. */
static _Noreturn void child_exec(char **argv, int null_fd, int log_fd, const int *fds, size_t n_fds,
                                 const VmmSandbox *sandbox, uint64_t memory_size)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Its own session: vmmd's stop (and its terminal, if any) leaves it alone. */
    setsid();
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
        _exit(127);
    for (size_t i = 0; i < n_fds; i++)
        if (dup2(fds[i], VMM_API_FD + (int)i) < 0) {
            dprintf(2, "vmmd: cannot hand descriptor %zu to the VMM: %s\n", i, strerror(errno));
            _exit(127);
        }
    syscall(SYS_close_range, VMM_API_FD + (unsigned)n_fds, ~0U, 0);
    const char *what = NULL;
    int r = vmm_sandbox_enter(sandbox, memory_size, &what);
    if (r < 0) {
        dprintf(2, "vmmd: cannot confine the VMM: %s: %s\n", what, strerror(-r));
        _exit(127);
    }
    execv(argv[0], argv);
    dprintf(2, "vmm: cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* vmmd could not prepare what the VMM needs (a file it names does not
 * open): the VM ends up crashed with the reason, as when a VMM fails at
 * the same point. */
static int start_failed(Vm *vm, sd_bus_error *error, const char *why)
{
    set_string(&vm->exit_reason, why);
    log_warning("VM %s: cannot start: %s", vm->name, why);
    const char *props[] = {"reason", why, NULL};
    vm_emit_event(vm, "vm", "crashed", props, now_realtime_usec());
    (void)sd_bus_emit_properties_changed(vm->manager->bus, vm->path, VMM_VM_INTERFACE, "ExitReason", NULL);
    vm_set_state(vm, VM_STATE_CRASHED);
    return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "VM %s: the VMM could not start: %s", vm->name,
                             why);
}

/* restore_url: NULL boots the VM; otherwise the VMM restores it from that
 * snapshot (--restore), given the same files as for a boot, so the
 * /dev/fd/N paths the snapshot's configuration names are those files. */
static int spawn_vmm(Vm *vm, sd_bus_message *m, const char *restore_url, sd_bus_error *error)
{
    Manager *mgr = vm->manager;
    _cleanup_free_ char *sock = NULL, *cfg_name = NULL, *cfg_path = NULL, *log_path = NULL;
    _cleanup_close_ int listen_fd = -1, api_fd = -1, null_fd = -1, log_fd = -1, kvm_fd = -1, cfg_fd = -1,
                        snap_fd = -1;
    _cleanup_(vmm_files_close) VmmFiles files = {0};
    int ev[2] = {-1, -1};
    int r;

    if (access(mgr->vmm_path, X_OK) < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED,
                                 "cannot execute the VMM %s: %s; start vmmd with "
                                 "--vmm PATH",
                                 mgr->vmm_path, strerror(errno));
    if (runtime_path(vm, ".sock", &sock) < 0 || runtime_path(vm, ".log", &log_path) < 0 ||
        runtime_path(vm, ".config.json", &cfg_path) < 0 ||
        asprintf(&cfg_name, "%s.config.json", vm->name) < 0)
        return -ENOMEM;
    r = prepare_socket_path(sock, error);
    if (r < 0)
        return r;
    /* What needs privilege is opened here, with vmmd's; the VMM gets the
     * descriptors (vm-sandbox.h). */
    char why[512];
    _cleanup_free_ char *config = NULL;
    /* (A restore takes only the files from it: the VMM runs the snapshot's
     * configuration, which has the UUID the guest booted with.) */
    r = vm_config_for_vmm(vm->config_json, vm->uuid, &config);
    if (r < 0)
        return r;
    r = vmm_files_open(&mgr->sandbox, config, VMM_FIRST_FILE_FD, VMM_SNAPSHOT_DIR_FD, &files, why, sizeof(why));
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return start_failed(vm, error, why);
    r = open_snapshot_dir(vm, &snap_fd);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        snprintf(why, sizeof(why), "cannot open the snapshot directory %s/snapshots/%s: %s", mgr->state_dir,
                 vm->name, strerror(-r));
        return start_failed(vm, error, why);
    }
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        snprintf(why, sizeof(why), "cannot open /dev/kvm: %s", strerror(errno));
        return start_failed(vm, error, why);
    }
    /* The configuration as the VMM runs it: its files are /dev/fd/N. */
    r = write_file_atomic(mgr->runtime_dir, cfg_name, files.config_json, strlen(files.config_json), 0600);
    if (r < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot write %s: %s", cfg_path, strerror(-r));
    cfg_fd = open(cfg_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (cfg_fd < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot open %s: %s", cfg_path,
                                 strerror(errno));
    r = bind_listen(sock, &listen_fd);
    if (r < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot listen on %s: %s", sock, strerror(-r));
    r = connect_to(sock, &api_fd);
    if (r < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot connect to %s: %s", sock, strerror(-r));
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ev) < 0)
        return -errno;
    _cleanup_close_ int ev_ours = ev[0], ev_theirs = ev[1];
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (null_fd < 0 || log_fd < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot open %s: %s",
                                 log_fd < 0 ? log_path : "/dev/null", strerror(errno));
    size_t n_fds = VMM_FIRST_FILE_FD - VMM_API_FD + files.n;
    _cleanup_free_ int *fds = calloc(n_fds, sizeof(int));
    if (!fds)
        return -ENOMEM;
    int high = VMM_API_FD + (int)n_fds;
    if ((r = move_high(&null_fd, high)) < 0 || (r = move_high(&log_fd, high)) < 0 ||
        (r = move_high(&listen_fd, high)) < 0 || (r = move_high(&ev_theirs, high)) < 0 ||
        (r = move_high(&kvm_fd, high)) < 0 || (r = move_high(&cfg_fd, high)) < 0 ||
        (r = move_high(&snap_fd, high)) < 0)
        return r;
    for (size_t i = 0; i < files.n; i++)
        if ((r = move_high(&files.fds[i], high)) < 0)
            return r;
    fds[VMM_API_FD - VMM_API_FD] = listen_fd;
    fds[VMM_EVENT_FD - VMM_API_FD] = ev_theirs;
    fds[VMM_KVM_FD - VMM_API_FD] = kvm_fd;
    fds[VMM_CONFIG_FD - VMM_API_FD] = cfg_fd;
    fds[VMM_SNAPSHOT_DIR_FD - VMM_API_FD] = snap_fd;
    memcpy(fds + (VMM_FIRST_FILE_FD - VMM_API_FD), files.fds, files.n * sizeof(int));

    char api_arg[16], ev_arg[16], kvm_arg[16], cfg_arg[24];
    snprintf(api_arg, sizeof(api_arg), "fd=%d", VMM_API_FD);
    snprintf(ev_arg, sizeof(ev_arg), "fd=%d", VMM_EVENT_FD);
    snprintf(kvm_arg, sizeof(kvm_arg), "%d", VMM_KVM_FD);
    snprintf(cfg_arg, sizeof(cfg_arg), "/dev/fd/%d", VMM_CONFIG_FD);
    char *argv[] = {mgr->vmm_path, (char *)"--config",
                    cfg_arg,       (char *)"--api-socket",
                    api_arg,       (char *)"--event-monitor",
                    ev_arg,        (char *)"--kvm-fd",
                    kvm_arg,       NULL};
    _cleanup_free_ char *restore_arg = NULL;
    if (restore_url) {
        if (asprintf(&restore_arg, "source_url=%s", restore_url) < 0)
            return -ENOMEM;
        /* The configuration is the snapshot's own: --restore in --config's place. */
        argv[1] = (char *)"--restore";
        argv[2] = restore_arg;
    }

    uint64_t started = now_realtime_usec();
    pid_t pid = fork();
    if (pid < 0)
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "cannot fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(argv, null_fd, log_fd, fds, n_fds, &mgr->sandbox, vm->memory_max);

    /* The child is ours and unreaped until vm_reap_if_exited() reaps it,
     * so the pid cannot have been reused yet. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        r = -errno;
        kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        return sd_bus_error_setf(error, VMM_ERROR_VMM_FAILED, "pidfd_open: %s", strerror(-r));
    }
    vm->pidfd = pidfd;

    vm->pid = (uint32_t)pid;
    vm->restoring = restore_url != NULL;
    vm->started_at = started;
    vm->crash_reported = false;
    vm->shutdown_seen = false;
    vm->adopted = false;
    vm->poweroff_requested = false;
    vm->killed_by_us = false;
    free(vm->exit_reason);
    vm->exit_reason = NULL;
    free(vm->console_path);
    vm->console_path = NULL;
    log_info("VM %s: started VMM %d", vm->name, (int)pid);

    /* From here on failures are the VMM's: it is running, so they end in
     * killing it and the exit handler reporting. */
    r = vmm_conn_new(mgr->event, TAKE_FD(api_fd), VMM_CONN_API, on_vmm_event, NULL, vm, &vm->api);
    if (r >= 0)
        r = vmm_conn_new(mgr->event, TAKE_FD(ev_ours), VMM_CONN_EVENT_SINK, on_vmm_event, NULL, vm,
                         &vm->events);
    if (r >= 0)
        r = sd_event_add_time_relative(mgr->event, &vm->boot_timer, CLOCK_MONOTONIC, VMM_BOOT_TIMEOUT_USEC, 0,
                                       on_boot_timeout, vm);
    if (m)
        vm->start_call = sd_bus_message_ref(m);
    (void)sd_bus_emit_properties_changed(mgr->bus, vm->path, VMM_VM_INTERFACE, "PID", "StartedAt",
                                         "ExitReason", "ConsolePath", NULL);
    vm_set_state(vm, VM_STATE_STARTING);
    if (r < 0) {
        set_string(&vm->exit_reason, "vmmd could not set up the control channel");
        vm_kill(vm, strerror(-r));
    }
    return 1;
}

int vm_start(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    return spawn_vmm(vm, m, NULL, error);
}

int vm_restore(Vm *vm, sd_bus_message *m, const char *source_url, sd_bus_error *error)
{
    return spawn_vmm(vm, m, source_url, error);
}

/* ------------------------------------------------------------- requests */

typedef struct Request {
    Vm *vm;
    sd_bus_message *call;
    char action[32];
} Request;

static void on_request_reply(int error, const char *code, const char *message, json_object *result,
                             void *userdata)
{
    Request *req = userdata;
    Vm *vm = req->vm;
    (void)result;

    if (error < 0) {
        vm_reply_failed(vm, req->call, req->action, error, code, message);
    } else {
        if (strcmp(req->action, "vm.pause") == 0)
            vm_set_state(vm, VM_STATE_PAUSED);
        else if (strcmp(req->action, "vm.resume") == 0)
            vm_set_state(vm, VM_STATE_RUNNING);
        else if (strcmp(req->action, "vm.power-button") == 0 && vm->state == VM_STATE_RUNNING)
            vm_set_state(vm, VM_STATE_SHUTTING_DOWN);
        (void)sd_bus_reply_method_return(req->call, NULL);
    }
    sd_bus_message_unref(req->call);
    free(req);
}

int vm_request(Vm *vm, sd_bus_message *m, const char *action, sd_bus_error *error)
{
    return vm_request_args(vm, m, action, NULL, VMM_REQUEST_TIMEOUT_USEC, error);
}

void vm_reply_failed(Vm *vm, sd_bus_message *call, const char *action, int error, const char *code,
                     const char *message)
{
    if (error == -EREMOTEIO)
        (void)sd_bus_reply_method_errorf(call, vmm_api_code_to_bus_error(code), "VM %s: %s: %s", vm->name,
                                         action, message);
    else if (error == -ETIMEDOUT)
        (void)sd_bus_reply_method_errorf(call, VMM_ERROR_VMM_FAILED,
                                         "VM %s: the VMM did not answer %s in time; PowerOff stops it",
                                         vm->name, action);
    else
        (void)sd_bus_reply_method_errorf(call, VMM_ERROR_VMM_FAILED, "VM %s: the VMM went away during %s",
                                         vm->name, action);
}

int vm_send_failed(Vm *vm, const char *action, int r, sd_bus_error *error)
{
    return sd_bus_error_setf(error, r == -EBUSY ? VMM_ERROR_LIMIT_EXCEEDED : VMM_ERROR_VMM_FAILED,
                             "VM %s: cannot send %s: %s", vm->name, action,
                             r == -EBUSY ? "too many requests wait for its VMM already; try again"
                                         : strerror(-r));
}

int vm_request_args(Vm *vm, sd_bus_message *m, const char *action, json_object *args, uint64_t timeout_usec,
                    sd_bus_error *error)
{
    if (!vm->api)
        return sd_bus_error_setf(error, VMM_ERROR_INVALID_STATE, "VM %s has no VMM to talk to (it is %s)",
                                 vm->name, vm_state_to_string(vm->state));
    Request *req = calloc(1, sizeof(*req));
    if (!req)
        return -ENOMEM;
    req->vm = vm;
    req->call = sd_bus_message_ref(m);
    snprintf(req->action, sizeof(req->action), "%s", action);
    int r = vmm_conn_call(vm->api, action, args, timeout_usec, on_request_reply, req);
    if (r < 0) {
        sd_bus_message_unref(req->call);
        free(req);
        return vm_send_failed(vm, action, r, error);
    }
    return 1;
}

static void on_poweroff_reply(int error, const char *code, const char *message, json_object *result,
                              void *userdata)
{
    Vm *vm = userdata;
    (void)code;
    (void)result;
    /* Success: the VMM exits and the exit handler answers PowerOff. A VMM
     * that refused or did not answer is killed at once. */
    if (error < 0 && error != -ECONNRESET)
        vm_kill(vm, message ? message : strerror(-error));
}

int vm_poweroff(Vm *vm, sd_bus_message *m, sd_bus_error *error)
{
    (void)error;
    sd_bus_message **n = realloc(vm->exit_calls, (vm->n_exit_calls + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    vm->exit_calls = n;
    vm->exit_calls[vm->n_exit_calls++] = sd_bus_message_ref(m);
    if (vm->poweroff_requested)
        return 1; /* already on its way down: wait with the others */
    vm->poweroff_requested = true;
    int r = sd_event_add_time_relative(vm->manager->event, &vm->kill_timer, CLOCK_MONOTONIC,
                                       VMM_POWEROFF_TIMEOUT_USEC, 0, on_kill_timeout, vm);
    if (r < 0 || !vm->api ||
        vmm_conn_call(vm->api, "vmm.shutdown", NULL, VMM_POWEROFF_TIMEOUT_USEC, on_poweroff_reply, vm) < 0)
        vm_kill(vm, "no working control channel");
    return 1;
}

/* GetInfo and GetCounters: the VMM's answer, merged with what vmmd knows. */
typedef struct Query {
    Vm *vm;
    sd_bus_message *call;
    bool info;
} Query;

static void reply_json(sd_bus_message *call, json_object *o)
{
    (void)sd_bus_reply_method_return(
        call, "s",
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void on_query_reply(int error, const char *code, const char *message, json_object *result,
                           void *userdata)
{
    Query *q = userdata;
    (void)code;
    if (error < 0 && !q->info) {
        (void)sd_bus_reply_method_errorf(
            q->call, error == -EREMOTEIO ? vmm_api_code_to_bus_error(code) : VMM_ERROR_VMM_FAILED,
            "VM %s: vm.counters failed: %s", q->vm->name, message ? message : strerror(-error));
    } else if (q->info) {
        _cleanup_json_ json_object *o = vm_info_json(q->vm);
        /* Info degrades to vmmd's view when the VMM cannot answer. */
        if (o)
            json_object_object_add(o, "vmm", error < 0 ? NULL : json_object_get(result));
        if (o)
            reply_json(q->call, o);
        else
            (void)sd_bus_reply_method_errorf(q->call, SD_BUS_ERROR_NO_MEMORY, "out of memory");
    } else {
        _cleanup_json_ json_object *empty = json_object_new_object();
        reply_json(q->call, result ? result : empty);
    }
    sd_bus_message_unref(q->call);
    free(q);
}

int vm_query(Vm *vm, sd_bus_message *m, const char *action, sd_bus_error *error)
{
    bool info = strcmp(action, "vm.info") == 0;
    if (!vm->api || vm->state == VM_STATE_STARTING) {
        if (!info)
            return sd_bus_error_setf(error, VMM_ERROR_INVALID_STATE,
                                     "VM %s is %s: counters exist only while it runs; Start it first",
                                     vm->name, vm_state_to_string(vm->state));
        _cleanup_json_ json_object *o = vm_info_json(vm);
        if (!o)
            return -ENOMEM;
        json_object_object_add(o, "vmm", NULL);
        return sd_bus_reply_method_return(
            m, "s",
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    Query *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->vm = vm;
    q->call = sd_bus_message_ref(m);
    q->info = info;
    int r = vmm_conn_call(vm->api, action, NULL, VMM_REQUEST_TIMEOUT_USEC, on_query_reply, q);
    if (r < 0) {
        sd_bus_message_unref(q->call);
        free(q);
        return vm_send_failed(vm, action, r, error);
    }
    return 1;
}

/* ------------------------------------------------------------- adoption */

/* When the process started, as CLOCK_REALTIME usec: the anchor of its event
 * timestamps (monotonic since its start). /proc/PID/stat field 22 counts
 * clock ticks since boot, so this is exact to a tick. */
static uint64_t process_started_at(uint32_t pid)
{
    _cleanup_free_ char *path = NULL, *data = NULL;
    if (asprintf(&path, "/proc/%u/stat", pid) < 0 || read_file_full(path, 4096, &data, NULL) < 0)
        return now_realtime_usec();
    /* The command name may hold spaces and parentheses: count from its end. */
    char *p = strrchr(data, ')');
    unsigned long long ticks = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &ticks) != 1)
        return now_realtime_usec();
    struct timespec boot;
    clock_gettime(CLOCK_BOOTTIME, &boot);
    uint64_t since_boot = (uint64_t)boot.tv_sec * 1000000u + (uint64_t)boot.tv_nsec / 1000u;
    uint64_t start = (uint64_t)ticks * 1000000u / (uint64_t)sysconf(_SC_CLK_TCK);
    uint64_t age = since_boot > start ? since_boot - start : 0;
    return now_realtime_usec() - age;
}

static int on_adopted_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    (void)s, (void)fd, (void)revents;
    vm_reap(userdata, NULL);
    return 0;
}

static void adoption_failed(Vm *vm, const char *why)
{
    log_warning("VM %s: cannot adopt the VMM left running by an earlier vmmd: %s", vm->name, why);
    vmm_conn_free(vm->api);
    vm->api = NULL;
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    vm->pidfd = -1;
    vm->adopted = false;
}

static void on_adopt_subscribed(int error, const char *code, const char *message, json_object *result,
                                void *userdata)
{
    Vm *vm = userdata;
    (void)code, (void)result;
    if (error < 0 && error != -ECONNRESET)
        log_warning("VM %s: events.subscribe failed, no Event signals from it: %s", vm->name,
                    message ? message : strerror(-error));
}

static void on_adopt_info(int error, const char *code, const char *message, json_object *result,
                          void *userdata)
{
    Vm *vm = userdata;
    Manager *mgr = vm->manager;
    json_object *jpid = NULL, *jstate = NULL, *pty = NULL;
    (void)code;

    vm->adopting = false;
    if (error < 0 || !result || !json_object_object_get_ex(result, "pid", &jpid) ||
        !json_object_is_type(jpid, json_type_int) || json_object_get_int64(jpid) <= 0 ||
        json_object_get_int64(jpid) > INT32_MAX || !json_object_object_get_ex(result, "state", &jstate)) {
        adoption_failed(vm, error < 0 ? (message ? message : strerror(-error)) : "vm.info without pid/state");
        manager_adoption_settled(mgr);
        return;
    }
    uint32_t pid = (uint32_t)json_object_get_int64(jpid);
    /* The VMM named its own pid on a connection that is still up, so the
     * process is alive and the pidfd refers to it. */
    vm->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (vm->pidfd < 0) {
        adoption_failed(vm, strerror(errno));
        manager_adoption_settled(mgr);
        return;
    }
    int r = sd_event_add_io(mgr->event, &vm->pidfd_source, vm->pidfd, EPOLLIN, on_adopted_exit, vm);
    if (r < 0) {
        adoption_failed(vm, strerror(-r));
        manager_adoption_settled(mgr);
        return;
    }
    const char *st = json_object_get_string(jstate);
    VmState next = strcmp(st, "Paused") == 0     ? VM_STATE_PAUSED
                   : strcmp(st, "Shutdown") == 0 ? VM_STATE_SHUTTING_DOWN
                   : strcmp(st, "Created") == 0  ? VM_STATE_STARTING
                                                 : VM_STATE_RUNNING;
    vm->pid = pid;
    vm->started_at = process_started_at(pid);
    vm->crash_reported = false;
    vm->poweroff_requested = false;
    vm->killed_by_us = false;
    free(vm->exit_reason);
    vm->exit_reason = NULL;
    if (json_object_object_get_ex(result, "serial_pty", &pty) && json_object_is_type(pty, json_type_string))
        set_string(&vm->console_path, json_object_get_string(pty));
    log_notice("VM %s: adopted VMM %u (%s)", vm->name, pid, st);
    (void)sd_bus_emit_properties_changed(mgr->bus, vm->path, VMM_VM_INTERFACE, "PID", "StartedAt",
                                         "ExitReason", "ConsolePath", NULL);
    vm_set_state(vm, next);
    manager_adoption_settled(mgr);
}

int vm_adopt(Vm *vm)
{
    _cleanup_free_ char *sock = NULL;
    _cleanup_close_ int fd = -1;
    if (runtime_path(vm, ".sock", &sock) < 0)
        return -ENOMEM;
    if (strlen(sock) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
        return 0;
    /* Refused or missing: no VMM runs it (a stale socket stays for Start to
     * replace). */
    if (connect_to(sock, &fd) < 0)
        return 0;
    int r = vmm_conn_new(vm->manager->event, TAKE_FD(fd), VMM_CONN_API, on_vmm_event, NULL, vm, &vm->api);
    if (r < 0)
        return r;
    vm->adopted = true;
    vm->adopting = true;
    vm->shutdown_seen = false;
    /* Subscribe first: every event after vm.info's answer is then seen. The
     * API answers only once the VM booted, so vm.info may wait as long as a
     * boot does. */
    r = vmm_conn_call(vm->api, "events.subscribe", NULL, VMM_REQUEST_TIMEOUT_USEC, on_adopt_subscribed, vm);
    if (r >= 0)
        r = vmm_conn_call(vm->api, "vm.info", NULL, VMM_BOOT_TIMEOUT_USEC, on_adopt_info, vm);
    if (r < 0) {
        vm->adopting = false;
        adoption_failed(vm, strerror(-r));
        return 0;
    }
    vm->manager->n_adopting++;
    return 1;
}
