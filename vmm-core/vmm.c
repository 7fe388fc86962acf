/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads: the main thread runs the event loop (signals, API socket, serial
 * input, requests from devices); one thread per vCPU runs KVM_RUN. vCPUs are
 * kicked out of KVM with SIGUSR1, whose handler sets kvm_run->immediate_exit
 * so a kick that lands just before KVM_RUN is not lost. Devices never act on
 * the lifecycle themselves: they post a request that the main thread carries
 * out, so no vCPU thread ever tears down the VM it runs in.
 */
#include "vmm.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "api_server.h"
#include "balloon.h"
#include "blk.h"
#include "boot.h"
#include "bus.h"
#include "cpu_hotplug.h"
#include "cpuid.h"
#include "event_loop.h"
#include "event_monitor.h"
#include "guest_memory.h"
#include "landlock.h"
#include "layout.h"
#include "mem_hotplug.h"
#include "net.h"
#include "pci_hotplug.h"
#include "platform.h"
#include "smbios.h"
#include "snapshot.h"
#include "vcpu.h"
#include "vm.h"
#include "vmm_devices.h"
#include "vsock.h"

#define KICK_SIGNAL SIGUSR1

typedef enum VmState {
    VM_STATE_CREATED,
    VM_STATE_RUNNING,
    VM_STATE_PAUSED,
    VM_STATE_SHUTDOWN,
} VmState;

static const char *const vm_state_names[] = {
    [VM_STATE_CREATED] = "Created",
    [VM_STATE_RUNNING] = "Running",
    [VM_STATE_PAUSED] = "Paused",
    [VM_STATE_SHUTDOWN] = "Shutdown",
};

/* What the main thread is asked to do; a higher value wins over a lower. */
enum {
    REQ_NONE = 0,
    REQ_REBOOT,
    REQ_SHUTDOWN, /* orderly: guest powered off, API, signal -> exit 0 */
    REQ_FATAL,    /* the VM cannot go on -> exit 1 */
};

typedef struct Vmm Vmm;

typedef struct VcpuThread {
    Vmm *vmm;
    Vcpu vcpu;
    pthread_t thread;
    bool started;
    /* Ejected by the guest (vm.resize to fewer): the thread stays parked,
     * its KVM vCPU kept for a later vm.resize to more (KVM cannot destroy
     * one). Under the Vmm's lock. */
    bool retired;
} VcpuThread;

struct Vmm {
    const VmConfig *cfg;
    /* The configuration as vm.resize and hotplug changed it, owned here;
     * NULL until the first change, then what cfg points to. */
    VmConfig *changed_cfg;
    GuestMemory mem;
    Vm vm;
    int kvm_fd;
    struct kvm_cpuid2 *cpuid;
    VcpuThread *vcpus; /* room for max_vcpus */
    size_t max_vcpus;
    size_t n_vcpus;   /* the guest's: vCPUs 0 to n_vcpus - 1 */
    size_t n_threads; /* started threads, retired ones included */
    Bus pio, mmio;
    X86BootSetup boot;

    EventLoop *loop;
    EventMonitor *events;
    ApiServer *api;
    int request_fd; /* eventfd: a device or vCPU posted a request */
    int signal_fd;
    VmmDevices devices;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    VmState state;
    bool pause_requested;
    bool stop_requested;
    size_t parked;

    atomic_int request;
    atomic_bool panic_pending;
    char fatal_reason[512]; /* under lock */
    int exit_status;
    uint64_t reboots;
    /* Set while a VM is built from a snapshot: RAM already holds the tables
     * and the guest, and the vCPUs get their saved state. */
    const Snapshot *restoring;
};

static __thread struct kvm_run *tls_kvm_run;

static void kick_handler(int sig)
{
    (void)sig;
    struct kvm_run *run = tls_kvm_run;
    if (run)
        run->immediate_exit = 1;
}

static void emit(Vmm *vmm, const char *source, const char *event, const char *const *props)
{
    if (vmm->events)
        event_monitor_emit(vmm->events, source, event, props);
}

/* ---------------------------------------------------------- requests */

static void post_request(Vmm *vmm, int req, const char *reason)
{
    if (reason) {
        pthread_mutex_lock(&vmm->lock);
        if (vmm->fatal_reason[0] == '\0')
            snprintf(vmm->fatal_reason, sizeof(vmm->fatal_reason), "%s", reason);
        pthread_mutex_unlock(&vmm->lock);
    }
    int cur = atomic_load(&vmm->request);
    while (req > cur && !atomic_compare_exchange_weak(&vmm->request, &cur, req))
        ;
    uint64_t one = 1;
    if (write(vmm->request_fd, &one, sizeof(one)) < 0) {
        /* The eventfd counter cannot overflow with our few writes. */
    }
}

static void device_request(void *ctx, VmRequest req)
{
    Vmm *vmm = ctx;
    switch (req) {
    case VM_REQUEST_SHUTDOWN:
        post_request(vmm, REQ_SHUTDOWN, NULL);
        break;
    case VM_REQUEST_REBOOT:
        post_request(vmm, REQ_REBOOT, NULL);
        break;
    case VM_REQUEST_PANIC:
        atomic_store(&vmm->panic_pending, true);
        post_request(vmm, REQ_NONE, NULL);
        break;
    }
}

/* ------------------------------------------------------------ vCPUs */

static void park_until_stopped(Vmm *vmm)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->parked++;
    pthread_cond_broadcast(&vmm->cond);
    while (!vmm->stop_requested)
        pthread_cond_wait(&vmm->cond, &vmm->lock);
    vmm->parked--;
    pthread_mutex_unlock(&vmm->lock);
}

static void *vcpu_thread_main(void *arg)
{
    VcpuThread *t = arg;
    Vmm *vmm = t->vmm;
    char err[512];

    tls_kvm_run = t->vcpu.run;
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
    /* Before the first KVM_RUN: guest code never runs unconfined. */
    vmm_seccomp_enter(VMM_THREAD_VCPU);

    for (;;) {
        pthread_mutex_lock(&vmm->lock);
        while ((vmm->pause_requested || t->retired) && !vmm->stop_requested) {
            vmm->parked++;
            pthread_cond_broadcast(&vmm->cond);
            pthread_cond_wait(&vmm->cond, &vmm->lock);
            vmm->parked--;
        }
        bool stop = vmm->stop_requested;
        pthread_mutex_unlock(&vmm->lock);
        if (stop)
            break;

        err[0] = '\0';
        VcpuExit e = vcpu_run_once(&t->vcpu, &vmm->pio, &vmm->mmio, err, sizeof(err));
        switch (e) {
        case VCPU_EXIT_CONTINUE:
            continue;
        case VCPU_EXIT_INTERRUPTED:
            t->vcpu.run->immediate_exit = 0;
            continue;
        case VCPU_EXIT_RESET:
            post_request(vmm, REQ_REBOOT, NULL);
            break;
        case VCPU_EXIT_POWEROFF:
            post_request(vmm, REQ_SHUTDOWN, NULL);
            break;
        case VCPU_EXIT_SHUTDOWN:
        case VCPU_EXIT_ERROR:
            post_request(vmm, REQ_FATAL, err);
            break;
        }
        /* This vCPU must not enter the guest again; wait for the teardown. */
        park_until_stopped(vmm);
        break;
    }
    tls_kvm_run = NULL;
    return NULL;
}

static void kick_all(Vmm *vmm)
{
    for (size_t i = 0; i < vmm->max_vcpus; i++)
        if (vmm->vcpus[i].started)
            pthread_kill(vmm->vcpus[i].thread, KICK_SIGNAL);
}

static void stop_vcpus(Vmm *vmm)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->stop_requested = true;
    pthread_cond_broadcast(&vmm->cond);
    pthread_mutex_unlock(&vmm->lock);
    kick_all(vmm);
    for (size_t i = 0; i < vmm->max_vcpus; i++) {
        if (vmm->vcpus[i].started) {
            pthread_join(vmm->vcpus[i].thread, NULL);
            vmm->vcpus[i].started = false;
        }
    }
    vmm->n_threads = 0;
}

static void destroy_vcpus(Vmm *vmm)
{
    stop_vcpus(vmm);
    for (size_t i = 0; i < vmm->max_vcpus; i++)
        vcpu_destroy(&vmm->vcpus[i].vcpu);
    free(vmm->vcpus);
    vmm->vcpus = NULL;
    vmm->n_vcpus = vmm->max_vcpus = 0;
}

/* Parks every vCPU outside KVM_RUN; returns when all are parked. */
static void pause_vcpus(Vmm *vmm)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->pause_requested = true;
    pthread_mutex_unlock(&vmm->lock);
    kick_all(vmm);
    pthread_mutex_lock(&vmm->lock);
    while (vmm->parked < vmm->n_threads && !vmm->stop_requested)
        pthread_cond_wait(&vmm->cond, &vmm->lock);
    pthread_mutex_unlock(&vmm->lock);
}

static void resume_vcpus(Vmm *vmm)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->pause_requested = false;
    pthread_cond_broadcast(&vmm->cond);
    pthread_mutex_unlock(&vmm->lock);
}

/* ---------------------------------------------------------- building */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vmm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* Creates the KVM VM, writes the firmware tables and the payload, creates
 * the vCPUs: everything a (re)boot needs, devices excepted. */
static int build_vm(Vmm *vmm)
{
    char err[512];
    const VmConfig *cfg = vmm->cfg;

    if (vm_create(&vmm->vm, vmm->kvm_fd, &vmm->mem, err, sizeof(err)) < 0)
        return fail("%s", err);
    if (vmm_devices_vm_created(&vmm->devices, err, sizeof(err)) < 0)
        return fail("%s", err);

    const GuestRegion *hotplug = guest_memory_hotplug_region(&vmm->mem);
    AcpiPlatform platform = {
        .mem_hotplug_base = hotplug ? hotplug->gpa : 0,
        .mem_slot_size = GUEST_MEMORY_HOTPLUG_SLOT,
        .mem_slots = hotplug ? (uint32_t)(hotplug->reserved / GUEST_MEMORY_HOTPLUG_SLOT) : 0,
        .boot_vcpus = cfg->cpus.boot_vcpus,
        .max_vcpus = cfg->cpus.max_vcpus,
        .serial = cfg->serial.mode != CONSOLE_MODE_OFF,
        .pvpanic = cfg->pvpanic,
        /* The PCI host bridge always exists (vmm_devices.c), devices or not. */
        .pci = true,
    };
    uint64_t rsdp = 0;
    if (!vmm->restoring && acpi_build_tables(&vmm->mem, &platform, &rsdp, err, sizeof(err)) < 0)
        return fail("%s", err);
    if (!vmm->restoring &&
        smbios_write_tables(&vmm->mem, cfg->has_platform ? &cfg->platform : NULL, err, sizeof(err)) < 0)
        return fail("%s", err);
    if (!vmm->restoring && x86_load_payload(&vmm->mem, &cfg->payload, rsdp, &vmm->boot, err, sizeof(err)) < 0)
        return fail("%s", err);

    /* Room for every vCPU vm.resize may add: the threads keep pointers to
     * their VcpuThread, so the array never moves. */
    vmm->n_vcpus = cfg->cpus.boot_vcpus;
    vmm->vcpus = calloc(cfg->cpus.max_vcpus, sizeof(*vmm->vcpus));
    if (!vmm->vcpus)
        return fail("out of memory");
    vmm->max_vcpus = cfg->cpus.max_vcpus;
    for (size_t i = 0; i < vmm->max_vcpus; i++) {
        vmm->vcpus[i].vmm = vmm;
        vmm->vcpus[i].vcpu.fd = -1;
    }
    for (size_t i = 0; i < vmm->n_vcpus; i++) {
        if (vcpu_create(&vmm->vcpus[i].vcpu, &vmm->vm, (uint32_t)i, vmm->cpuid, &cfg->cpus, err,
                        sizeof(err)) < 0)
            return fail("%s", err);
    }
    if (!vmm->restoring && vcpu_set_boot_state(&vmm->vcpus[0].vcpu, &vmm->boot, err, sizeof(err)) < 0)
        return fail("%s", err);
    return 0;
}

/* paused: the threads park before their first KVM_RUN (a restored VM). */
static int start_vcpus(Vmm *vmm, bool paused)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->stop_requested = false;
    vmm->pause_requested = paused;
    pthread_mutex_unlock(&vmm->lock);
    for (size_t i = 0; i < vmm->n_vcpus; i++) {
        int r = pthread_create(&vmm->vcpus[i].thread, NULL, vcpu_thread_main, &vmm->vcpus[i]);
        if (r != 0)
            return fail("cannot start vCPU %zu thread: %s", i, strerror(r));
        vmm->vcpus[i].started = true;
        vmm->n_threads++;
    }
    return 0;
}

static void set_state(Vmm *vmm, VmState s)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->state = s;
    pthread_mutex_unlock(&vmm->lock);
}

static VmState get_state(Vmm *vmm)
{
    pthread_mutex_lock(&vmm->lock);
    VmState s = vmm->state;
    pthread_mutex_unlock(&vmm->lock);
    return s;
}

static int boot(Vmm *vmm)
{
    emit(vmm, "vm", "booting", NULL);
    if (build_vm(vmm) < 0 || start_vcpus(vmm, false) < 0)
        return -1;
    set_state(vmm, VM_STATE_RUNNING);
    emit(vmm, "vm", "booted", NULL);
    return 0;
}

/* The snapshot module's view of the VM; *vcpus is to be freed. */
static int snapshot_vm(Vmm *vmm, SnapshotVm *sv, Vcpu ***vcpus)
{
    *vcpus = calloc(vmm->n_vcpus ? vmm->n_vcpus : 1, sizeof(**vcpus));
    if (!*vcpus)
        return -ENOMEM;
    for (size_t i = 0; i < vmm->n_vcpus; i++)
        (*vcpus)[i] = &vmm->vcpus[i].vcpu;
    *sv = (SnapshotVm){.cfg = vmm->cfg,
                       .mem = &vmm->mem,
                       .vm = &vmm->vm,
                       .vcpus = *vcpus,
                       .n_vcpus = vmm->n_vcpus,
                       .devices = &vmm->devices};
    return 0;
}

/* As Cloud Hypervisor's restore: the VM comes back Paused and runs on
 * vm.resume. RAM was restored before the devices were created. */
static int restore(Vmm *vmm, const Snapshot *snap)
{
    char err[512];
    emit(vmm, "vm", "restoring", NULL);
    vmm->restoring = snap;
    int r = build_vm(vmm);
    vmm->restoring = NULL;
    if (r < 0)
        return -1;
    SnapshotVm sv;
    Vcpu **vcpus;
    if (snapshot_vm(vmm, &sv, &vcpus) < 0)
        return fail("out of memory");
    r = snapshot_restore_state(snap, &sv, err, sizeof(err));
    free(vcpus);
    if (r < 0)
        return fail("%s", err);
    if (start_vcpus(vmm, true) < 0)
        return -1;
    set_state(vmm, VM_STATE_PAUSED);
    emit(vmm, "vm", "restored", NULL);
    return 0;
}

static void teardown_vm(Vmm *vmm)
{
    destroy_vcpus(vmm);
    vm_destroy(&vmm->vm, true);
}

static void do_reboot(Vmm *vmm)
{
    emit(vmm, "vm", "rebooting", NULL);
    teardown_vm(vmm);
    /* Devices first: their reset waits for requests still in flight, which
     * would otherwise land in the freshly cleared RAM. */
    vmm_devices_reset(&vmm->devices, vmm->cfg->cpus.boot_vcpus);
    int r = guest_memory_clear(&vmm->mem);
    if (r < 0) {
        post_request(vmm, REQ_FATAL, "cannot clear guest memory for the reboot");
        return;
    }
    if (build_vm(vmm) < 0 || start_vcpus(vmm, false) < 0) {
        post_request(vmm, REQ_FATAL, "reboot failed");
        return;
    }
    vmm->reboots++;
    set_state(vmm, VM_STATE_RUNNING);
    emit(vmm, "vm", "rebooted", NULL);
}

/* ------------------------------------------------- main-loop handlers */

static void on_request(void *ctx, uint32_t events)
{
    (void)events;
    Vmm *vmm = ctx;
    uint64_t v;
    if (read(vmm->request_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;

    if (atomic_exchange(&vmm->panic_pending, false))
        emit(vmm, "guest", "panic", NULL);

    int req = atomic_exchange(&vmm->request, REQ_NONE);
    switch (req) {
    case REQ_REBOOT:
        do_reboot(vmm);
        break;
    case REQ_SHUTDOWN:
        vmm->exit_status = 0;
        event_loop_quit(vmm->loop);
        break;
    case REQ_FATAL:
        vmm->exit_status = 1;
        event_loop_quit(vmm->loop);
        break;
    }
}

static void on_signal(void *ctx, uint32_t events)
{
    (void)events;
    Vmm *vmm = ctx;
    struct signalfd_siginfo si;
    if (read(vmm->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        /* SIGTERM/SIGINT: stop the VM and exit cleanly. */
        vmm->exit_status = 0;
        event_loop_quit(vmm->loop);
    }
}

/* ------------------------------------------------------------- API */

static int api_error(char *errbuf, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int api_error(char *errbuf, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return r;
}

static json_object *info_json(Vmm *vmm)
{
    json_object *o = json_object_new_object();
    char *cfg = vm_config_to_json(vmm->cfg, false);
    json_object_object_add(o, "config", cfg ? json_tokener_parse(cfg) : NULL);
    free(cfg);
    json_object_object_add(o, "state", json_object_new_string(vm_state_names[get_state(vmm)]));
    json_object_object_add(o, "memory_actual_size", json_object_new_int64((int64_t)vmm->mem.ram_size));
    json_object_object_add(o, "vcpus", json_object_new_int((int)vmm->n_vcpus));
    json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
    json_object_object_add(o, "reboots", json_object_new_int64((int64_t)vmm->reboots));
    const char *pty = vmm_devices_serial_pty(&vmm->devices);
    if (pty)
        json_object_object_add(o, "serial_pty", json_object_new_string(pty));
    const char *console_pty = vmm_devices_console_pty(&vmm->devices);
    if (console_pty)
        json_object_object_add(o, "console_pty", json_object_new_string(console_pty));
    return o;
}

static json_object *counters_json(Vmm *vmm)
{
    json_object *o = json_object_new_object();
    for (size_t i = 0; i < vmm->n_vcpus; i++) {
        Vcpu *v = &vmm->vcpus[i].vcpu;
        char name[32];
        snprintf(name, sizeof(name), "vcpu%zu", i);
        json_object *c = json_object_new_object();
        json_object_object_add(c, "exits_io", json_object_new_uint64(v->exits_io));
        json_object_object_add(c, "exits_mmio", json_object_new_uint64(v->exits_mmio));
        json_object_object_add(c, "exits_other", json_object_new_uint64(v->exits_other));
        json_object_object_add(o, name, c);
    }
    json_object *bus = json_object_new_object();
    json_object_object_add(bus, "pio_unhandled_reads", json_object_new_uint64(vmm->pio.unhandled_reads));
    json_object_object_add(bus, "pio_unhandled_writes", json_object_new_uint64(vmm->pio.unhandled_writes));
    json_object_object_add(bus, "mmio_unhandled_reads", json_object_new_uint64(vmm->mmio.unhandled_reads));
    json_object_object_add(bus, "mmio_unhandled_writes", json_object_new_uint64(vmm->mmio.unhandled_writes));
    json_object_object_add(o, "bus", bus);
    vmm_devices_add_counters(&vmm->devices, o);
    return o;
}

/* A removal is under way while the guest has not ejected every vCPU asked
 * for, or has ejected one below the top that others keep in the count. */
static bool vcpu_removal_pending(Vmm *vmm)
{
    if (cpu_hotplug_unplug_pending(vmm->devices.cpu_hotplug))
        return true;
    for (size_t i = 0; i < vmm->n_vcpus; i++)
        if (vmm->vcpus[i].retired)
            return true;
    return false;
}

/* Cloud Hypervisor's vm.snapshot: {"destination_url": "file:///dir"}, on
 * a paused VM (docs/snapshot.md). */
static int api_snapshot(Vmm *vmm, VmState state, json_object *args, char *errbuf, size_t errlen)
{
    json_object *url = NULL;
    if (!args || !json_object_object_get_ex(args, "destination_url", &url) ||
        !json_object_is_type(url, json_type_string))
        return api_error(errbuf, errlen, -EINVAL, "vm.snapshot needs a destination_url string");
    const char *dir = snapshot_url_path(json_object_get_string(url), "destination_url", errbuf, errlen);
    if (!dir)
        return -EINVAL;
    if (state != VM_STATE_PAUSED)
        return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Paused", vm_state_names[state]);
    /* The state file holds vCPUs 0 to n_vcpus - 1, all of them the guest's. */
    if (vcpu_removal_pending(vmm))
        return api_error(errbuf, errlen, -EBUSY,
                         "a vCPU removal is under way (vm.resize): the guest has not ejected every vCPU asked for");
    emit(vmm, "vm", "snapshotting", NULL);
    SnapshotVm sv;
    Vcpu **vcpus;
    if (snapshot_vm(vmm, &sv, &vcpus) < 0)
        return api_error(errbuf, errlen, -ENOMEM, "out of memory");
    int r = snapshot_save(dir, &sv, errbuf, errlen);
    free(vcpus);
    /* A destination that is not there is the caller's mistake; any other
     * errno would be mistaken for an API code (ENOENT: UnknownAction). */
    if (r == -ENOENT || r == -ENOTDIR)
        return -EINVAL;
    if (r < 0)
        return r == -ENOMEM ? r : -EIO;
    emit(vmm, "vm", "snapshotted", NULL);
    return 0;
}

/* ----------------------------------------------- resize and hotplug */

static bool state_live(VmState s)
{
    return s == VM_STATE_RUNNING || s == VM_STATE_PAUSED;
}

/* The configuration as a JSON object, each disk, net and vsock carrying
 * the id its device has: defaults ("_disk0") are positional, and a removal
 * must not rename the functions after it. Built while the device arrays
 * still match the configuration's. */
static json_object *config_doc(Vmm *vmm)
{
    char *text = vm_config_to_json(vmm->cfg, false);
    json_object *doc = text ? json_tokener_parse(text) : NULL;
    free(text);
    if (!doc)
        return NULL;
    json_object *list, *v;
    if (json_object_object_get_ex(doc, "disks", &list) && json_object_is_type(list, json_type_array))
        for (size_t i = 0; i < json_object_array_length(list) && i < vmm->devices.n_disks; i++)
            json_object_object_add(
                json_object_array_get_idx(list, i), "id",
                json_object_new_string(virtio_pci_id(virtio_blk_transport(vmm->devices.disks[i]))));
    if (json_object_object_get_ex(doc, "net", &list) && json_object_is_type(list, json_type_array))
        for (size_t i = 0; i < json_object_array_length(list) && i < vmm->devices.n_nets; i++)
            json_object_object_add(
                json_object_array_get_idx(list, i), "id",
                json_object_new_string(virtio_pci_id(virtio_net_transport(vmm->devices.nets[i]))));
    if (vmm->devices.vsock && json_object_object_get_ex(doc, "vsock", &v) &&
        json_object_is_type(v, json_type_object))
        json_object_object_add(
            v, "id", json_object_new_string(virtio_pci_id(virtio_vsock_transport(vmm->devices.vsock))));
    return doc;
}

/* doc as a configuration that passed the same parsing and validation as
 * one given at start; -EINVAL with the validator's message. */
static int config_from_doc(json_object *doc, VmConfig **out, char *errbuf, size_t errlen)
{
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    VmConfig *c = calloc(1, sizeof(*c));
    if (!c || !text) {
        free(c);
        return api_error(errbuf, errlen, -ENOMEM, "out of memory");
    }
    ConfigError err = {0};
    if (vm_config_from_json(text, strlen(text), c, &err) < 0) {
        free(c);
        return api_error(errbuf, errlen, -EINVAL, "%s", err.message);
    }
    if (vm_config_validate(c, &err) < 0 || vm_config_check_supported(c, &err) < 0) {
        vm_config_free(c);
        free(c);
        return api_error(errbuf, errlen, -EINVAL, "%s", err.message);
    }
    *out = c;
    return 0;
}

/* Nothing keeps pointers into a configuration once its devices exist
 * (they copy what they need), so the previous copy can go. */
static void config_replace(Vmm *vmm, VmConfig *next)
{
    if (vmm->changed_cfg) {
        vm_config_free(vmm->changed_cfg);
        free(vmm->changed_cfg);
    }
    vmm->changed_cfg = next;
    vmm->cfg = next;
}

static bool json_u64(json_object *v, uint64_t *out)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

/* The configuration with section.key set to value, validated as at start;
 * *next is the caller's. */
static int config_with(Vmm *vmm, const char *section, const char *key, uint64_t value, VmConfig **next,
                       char *errbuf, size_t errlen)
{
    json_object *doc = config_doc(vmm), *obj;
    if (!doc || !json_object_object_get_ex(doc, section, &obj)) {
        json_object_put(doc);
        return api_error(errbuf, errlen, -ENOMEM, "out of memory");
    }
    json_object_object_add(obj, key, json_object_new_uint64(value));
    int r = config_from_doc(doc, next, errbuf, errlen);
    json_object_put(doc);
    return r;
}

/* The guest grew or shrank: the configuration's section.key follows (so a
 * reboot or a snapshot keeps the new size), and vm/resized says prop=shown. */
static void resized(Vmm *vmm, const char *section, const char *key, uint64_t value, const char *prop,
                    uint64_t shown)
{
    char err[256];
    VmConfig *next;
    if (config_with(vmm, section, key, value, &next, err, sizeof(err)) == 0)
        config_replace(vmm, next);
    else
        fprintf(stderr, "vmm: the configuration cannot follow %s.%s = %" PRIu64 ": %s\n", section, key, value,
                err);
    char num[24];
    snprintf(num, sizeof(num), "%" PRIu64, shown);
    const char *props[] = {prop, num, NULL};
    emit(vmm, "vm", "resized", props);
}

static void vcpus_resized(Vmm *vmm, size_t n)
{
    vmm->n_vcpus = n;
    resized(vmm, "cpus", "boot_vcpus", n, "vcpus", n);
}

static void set_retired(Vmm *vmm, size_t i, bool retired)
{
    pthread_mutex_lock(&vmm->lock);
    vmm->vcpus[i].retired = retired;
    pthread_cond_broadcast(&vmm->cond);
    pthread_mutex_unlock(&vmm->lock);
}

/* vm.resize's desired_vcpus, as Cloud Hypervisor's:
 * - more: vCPUs n_vcpus to want - 1 are created (or, ejected before, woken
 *   again), their threads started (parked if the VM is paused) and
 *   announced to the guest through the CPU hotplug controller; the guest
 *   brings them online with INIT/SIPI like any CPU.
 * - fewer: the guest is asked to eject vCPUs want to n_vcpus - 1 and the
 *   call returns; the guest takes each CPU offline and runs its _EJ0, and
 *   on_cpu_eject() parks it for good. The count drops (vm/resized) once
 *   the top ones are gone.
 * Either way a removal asked for before and not done yet is called off for
 * the vCPUs below want. */
static int resize_vcpus(Vmm *vmm, uint64_t want, char *errbuf, size_t errlen)
{
    if (want > vmm->cfg->cpus.max_vcpus)
        return api_error(errbuf, errlen, -EINVAL, "desired_vcpus %" PRIu64 " is more than --cpus max=%u",
                         want, vmm->cfg->cpus.max_vcpus);
    for (size_t i = 0; i < want; i++)
        cpu_hotplug_cancel_unplug(vmm->devices.cpu_hotplug, (uint32_t)i);
    /* Every new vCPU is made before any starts, so a failure changes nothing. */
    size_t made = vmm->n_vcpus;
    for (; made < want; made++) {
        if (vmm->vcpus[made].started)
            continue; /* retired: its vCPU is still there */
        char err[256];
        if (vcpu_create(&vmm->vcpus[made].vcpu, &vmm->vm, (uint32_t)made, vmm->cpuid, &vmm->cfg->cpus, err,
                        sizeof(err)) < 0) {
            for (size_t k = vmm->n_vcpus; k < made; k++)
                if (!vmm->vcpus[k].started)
                    vcpu_destroy(&vmm->vcpus[k].vcpu);
            return api_error(errbuf, errlen, -EIO, "vCPU %zu: %s", made, err);
        }
    }
    int r = 0;
    size_t n = vmm->n_vcpus;
    for (size_t i = 0; i < want; i++) {
        VcpuThread *t = &vmm->vcpus[i];
        if (t->started && t->retired) {
            set_retired(vmm, i, false);
        } else if (!t->started) {
            int e = pthread_create(&t->thread, NULL, vcpu_thread_main, t);
            if (e != 0) {
                r = api_error(errbuf, errlen, -e, "cannot start vCPU %zu thread: %s", i, strerror(e));
                for (size_t k = i; k < want; k++)
                    if (!vmm->vcpus[k].started)
                        vcpu_destroy(&vmm->vcpus[k].vcpu);
                break;
            }
            t->started = true;
            vmm->n_threads++;
        } else {
            continue; /* running */
        }
        cpu_hotplug_plug(vmm->devices.cpu_hotplug, (uint32_t)i);
        if (i + 1 > n)
            n = i + 1;
    }
    /* What runs is what the configuration says, even after a failure. */
    if (n != vmm->n_vcpus)
        vcpus_resized(vmm, n);
    if (r < 0)
        return r;
    for (size_t i = want; i < vmm->n_vcpus; i++) {
        int e = vmm->vcpus[i].retired ? 0 : cpu_hotplug_request_unplug(vmm->devices.cpu_hotplug, (uint32_t)i);
        if (e < 0 && e != -EALREADY)
            return api_error(errbuf, errlen, -EIO, "vCPU %zu cannot be asked for: %s", i, strerror(-e));
    }
    return 0;
}

/* The guest ejected vCPUs (their _EJ0 wrote CEJ): each thread parks for
 * good, kicked out of KVM_RUN where it idles as an offline CPU, and the
 * count drops past the top ones. */
static void on_cpu_eject(void *ctx, uint32_t events)
{
    (void)events;
    Vmm *vmm = ctx;
    uint32_t ejected[CPU_HOTPLUG_WORDS];
    cpu_hotplug_take_ejected(vmm->devices.cpu_hotplug, ejected);
    for (size_t i = 1; i < vmm->n_vcpus; i++) {
        if (!(ejected[i / 32] & (1U << (i % 32))) || !vmm->vcpus[i].started)
            continue;
        set_retired(vmm, i, true);
        pthread_kill(vmm->vcpus[i].thread, KICK_SIGNAL);
    }
    size_t n = vmm->n_vcpus;
    while (n > 1 && vmm->vcpus[n - 1].retired)
        n--;
    if (n != vmm->n_vcpus)
        vcpus_resized(vmm, n);
}

/* vm.resize's desired_ram, as Cloud Hypervisor's hotplug_method=acpi: the RAM
 * past the current size is plugged slot by slot (GUEST_MEMORY_HOTPLUG_SLOT
 * bytes of the region reserved for hotplug_size), each given to KVM, then to
 * the device workers, then announced to the guest (memory hotplug
 * controller, GED): Linux's ACPI memory driver adds it, to be onlined as the
 * guest's policy says. hotplugged_size follows, so a reboot or a snapshot
 * keeps it; vm/resized says the new size. Memory is never unplugged. */
static int resize_memory(Vmm *vmm, uint64_t want, char *errbuf, size_t errlen)
{
    const GuestRegion *hp = guest_memory_hotplug_region(&vmm->mem);
    uint64_t now = vmm->mem.ram_size;
    if (!hp)
        return api_error(errbuf, errlen, -EOPNOTSUPP,
                         "desired_ram: the VM has no hot-pluggable memory (--memory hotplug_size=)");
    if (want < now)
        return api_error(errbuf, errlen, -EOPNOTSUPP,
                         "desired_ram %" PRIu64 ": the VM has %" PRIu64 " bytes and memory is never unplugged",
                         want, now);
    if ((want - now) % GUEST_MEMORY_HOTPLUG_SLOT || want - now > hp->reserved - hp->size)
        return api_error(errbuf, errlen, -EINVAL,
                         "desired_ram %" PRIu64 ": the VM has %" PRIu64
                         " bytes and can grow by multiples of 128 MiB, %" PRIu64 " bytes at most",
                         want, now, hp->reserved - hp->size);
    int r = 0;
    while (r == 0 && vmm->mem.ram_size < want) {
        uint64_t gpa = hp->gpa + hp->size;
        r = vm_add_memory(&vmm->vm, gpa, GUEST_MEMORY_HOTPLUG_SLOT, hp->hva + hp->size);
        if (r < 0)
            r = api_error(errbuf, errlen, -EIO, "desired_ram: KVM refused the memory at 0x%" PRIx64 ": %s", gpa,
                          strerror(-r));
        else if ((r = guest_memory_plug(&vmm->mem, GUEST_MEMORY_HOTPLUG_SLOT, &gpa)) == 0)
            mem_hotplug_plug(vmm->devices.mem_hotplug, (uint32_t)((gpa - hp->gpa) / GUEST_MEMORY_HOTPLUG_SLOT));
    }
    if (vmm->mem.ram_size == now)
        return r;
    /* What the guest has is what the configuration says, even after a failure. */
    resized(vmm, "memory", "hotplugged_size", hp->size, "memory", vmm->mem.ram_size);
    return r;
}

/* Cloud Hypervisor's vm.resize ({"desired_vcpus", "desired_ram",
 * "desired_balloon"}): vCPUs up to --cpus max and the balloon. */
static int api_resize(Vmm *vmm, VmState state, json_object *args, char *errbuf, size_t errlen)
{
    uint64_t bytes = 0, vcpus = 0, ram = 0;
    bool have = false, have_vcpus = false, have_ram = false;
    if (!args)
        return api_error(errbuf, errlen, -EINVAL, "vm.resize needs desired_vcpus, desired_ram or desired_balloon");
    json_object_object_foreach(args, key, val)
    {
        if (strcmp(key, "desired_balloon") == 0) {
            if (!json_u64(val, &bytes))
                return api_error(errbuf, errlen, -EINVAL, "desired_balloon must be a byte count");
            have = true;
        } else if (strcmp(key, "desired_vcpus") == 0) {
            if (!json_u64(val, &vcpus) || vcpus == 0)
                return api_error(errbuf, errlen, -EINVAL, "desired_vcpus must be a vCPU count of 1 or more");
            have_vcpus = true;
        } else if (strcmp(key, "desired_ram") == 0) {
            if (!json_u64(val, &ram))
                return api_error(errbuf, errlen, -EINVAL, "desired_ram must be a byte count");
            have_ram = true;
        } else {
            return api_error(errbuf, errlen, -EINVAL, "vm.resize: unknown member '%.64s'", key);
        }
    }
    if (!have && !have_vcpus && !have_ram)
        return api_error(errbuf, errlen, -EINVAL, "vm.resize needs desired_vcpus, desired_ram or desired_balloon");
    if (!state_live(state))
        return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Running or Paused",
                         vm_state_names[state]);
    if (have && !vmm->devices.balloon)
        return api_error(errbuf, errlen, -EOPNOTSUPP, "the VM has no balloon (--balloon)");
    int r;
    /* Memory first: a balloon target may count on it. */
    if (have_ram && (r = resize_memory(vmm, ram, errbuf, errlen)) < 0)
        return r;
    if (have_vcpus && (r = resize_vcpus(vmm, vcpus, errbuf, errlen)) < 0)
        return r;
    if (!have)
        return 0;
    VmConfig *next;
    r = config_with(vmm, "balloon", "size", bytes, &next, errbuf, errlen);
    if (r < 0)
        return r;
    if (virtio_balloon_resize(vmm->devices.balloon, bytes) < 0) {
        vm_config_free(next);
        free(next);
        return api_error(errbuf, errlen, -EINVAL, "desired_balloon %" PRIu64 " is more than the guest's RAM",
                         bytes);
    }
    config_replace(vmm, next);
    return 0;
}

static void bdf_string(char out[16], unsigned slot)
{
    snprintf(out, 16, "0000:00:%02x.0", slot & 0x1f);
}

/* Cloud Hypervisor's default ids, the first one not taken; the one vsock
 * is "_vsock", as at boot. */
static void new_device_id(Vmm *vmm, const char *kind, char *out, size_t len)
{
    const char *prefix = strcmp(kind, "disk") == 0 ? "_disk" : strcmp(kind, "net") == 0 ? "_net" : "_vsock";
    snprintf(out, len, "%s", prefix);
    if (strcmp(kind, "vsock") == 0 && vmm_devices_find(&vmm->devices, out) < 0)
        return;
    for (unsigned n = 0;; n++) {
        snprintf(out, len, "%s%u", prefix, n);
        if (vmm_devices_find(&vmm->devices, out) < 0)
            return;
    }
}

/* vm.add-disk, vm.add-net, vm.add-vsock with Cloud Hypervisor's DiskConfig,
 * NetConfig and VsockConfig bodies; result {"id", "bdf"} as its
 * PciDeviceInfo. The entry joins the configuration and must pass its
 * validation (unique ids and paths, ...) before any device is made. */
static int api_add_device(Vmm *vmm, VmState state, const char *kind, json_object *args, json_object **result,
                          char *errbuf, size_t errlen)
{
    if (!state_live(state))
        return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Running or Paused",
                         vm_state_names[state]);
    if (!args || json_object_object_length(args) == 0)
        return api_error(errbuf, errlen, -EINVAL, "vm.add-%s needs a %s configuration", kind, kind);
    char id[128];
    json_object *given;
    if (json_object_object_get_ex(args, "id", &given) && json_object_is_type(given, json_type_string)) {
        if ((size_t)snprintf(id, sizeof(id), "%s", json_object_get_string(given)) >= sizeof(id))
            return api_error(errbuf, errlen, -EINVAL, "id: longer than %zu bytes", sizeof(id) - 1);
    } else
        new_device_id(vmm, kind, id, sizeof(id));
    json_object *entry = NULL, *doc = config_doc(vmm), *list;
    if (!doc || json_object_deep_copy(args, &entry, NULL) < 0) {
        json_object_put(doc);
        return api_error(errbuf, errlen, -ENOMEM, "out of memory");
    }
    if (!json_object_object_get_ex(args, "id", NULL))
        json_object_object_add(entry, "id", json_object_new_string(id));
    const char *member = strcmp(kind, "disk") == 0 ? "disks" : kind;
    if (strcmp(kind, "vsock") == 0) {
        if (json_object_object_get_ex(doc, "vsock", NULL)) {
            json_object_put(entry);
            json_object_put(doc);
            return api_error(errbuf, errlen, -EBUSY, "the VM has a vsock device already");
        }
        json_object_object_add(doc, "vsock", entry);
    } else {
        if (!json_object_object_get_ex(doc, member, &list) || !json_object_is_type(list, json_type_array)) {
            list = json_object_new_array();
            json_object_object_add(doc, member, list);
        }
        json_object_array_add(list, entry);
    }
    VmConfig *next;
    int r = config_from_doc(doc, &next, errbuf, errlen);
    json_object_put(doc);
    if (r < 0)
        return r;
    if (strcmp(kind, "disk") == 0)
        r = vmm_devices_add_disk(&vmm->devices, next, &next->disks[next->n_disks - 1], id, errbuf, errlen);
    else if (strcmp(kind, "net") == 0)
        r = vmm_devices_add_net(&vmm->devices, &next->net[next->n_net - 1], id, errbuf, errlen);
    else
        r = vmm_devices_add_vsock(&vmm->devices, &next->vsock, id, errbuf, errlen);
    if (r < 0) {
        vm_config_free(next);
        free(next);
        /* Landlock refuses what the start-up rules did not name. */
        if (vmm->cfg->landlock_enable && strstr(errbuf, strerror(EACCES))) {
            size_t n = strlen(errbuf);
            snprintf(errbuf + n, errlen - n,
                     " (--landlock: add the path with --landlock-rules when starting the VM)");
        }
        return r;
    }
    config_replace(vmm, next);
    char bdf[16];
    bdf_string(bdf, (unsigned)r);
    const char *props[] = {"id", id, "bdf", bdf, NULL};
    emit(vmm, "vm", "device-added", props);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "bdf", json_object_new_string(bdf));
    *result = o;
    return 0;
}

/* Cloud Hypervisor's vm.remove-device {"id"}: asks the guest to eject the
 * function; it is torn down when the guest does (on_eject), which emits
 * vm/device-removed. */
static int api_remove_device(Vmm *vmm, VmState state, json_object *args, char *errbuf, size_t errlen)
{
    json_object *id;
    if (!args || !json_object_object_get_ex(args, "id", &id) || !json_object_is_type(id, json_type_string) ||
        json_object_object_length(args) != 1)
        return api_error(errbuf, errlen, -EINVAL, "vm.remove-device needs {\"id\": string} and nothing else");
    if (!state_live(state))
        return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Running or Paused",
                         vm_state_names[state]);
    int slot = vmm_devices_find(&vmm->devices, json_object_get_string(id));
    if (slot < 0)
        return api_error(errbuf, errlen, -EINVAL, "no removable device (disk, net, vsock) has the id '%.64s'",
                         json_object_get_string(id));
    int r = vmm->devices.hotplug ? pci_hotplug_request_unplug(vmm->devices.hotplug, (unsigned)slot) : -ENOENT;
    if (r == -EALREADY)
        return api_error(errbuf, errlen, -EBUSY,
                         "%s: removal already requested, waiting for the guest to eject it",
                         json_object_get_string(id));
    /* Found, but no longer ejectable: the guest ejected it a moment ago and
     * on_eject has not run yet. */
    if (r < 0)
        return api_error(errbuf, errlen, -EBUSY, "%s: already ejected by the guest, being removed",
                         json_object_get_string(id));
    return 0;
}

/* The guest ejected slots (_EJ0 wrote B0EJ): tear their functions down
 * with the vCPUs parked, since a vCPU may be inside one of their BAR
 * callbacks, and drop them from the configuration. */
static void on_eject(void *ctx, uint32_t events)
{
    (void)events;
    Vmm *vmm = ctx;
    uint32_t slots = pci_hotplug_take_ejected(vmm->devices.hotplug);
    for (unsigned slot = 1; slot < 32; slot++) {
        if (!(slots & (1U << slot)) || !vmm_devices_id_at(&vmm->devices, slot))
            continue;
        char id[128], bdf[16], err[512];
        snprintf(id, sizeof(id), "%s", vmm_devices_id_at(&vmm->devices, slot));
        json_object *doc = config_doc(vmm);
        bool running = get_state(vmm) == VM_STATE_RUNNING;
        if (running)
            pause_vcpus(vmm);
        vmm_devices_remove_slot(&vmm->devices, slot);
        if (running)
            resume_vcpus(vmm);
        VmConfig *next = NULL;
        if (doc) {
            json_object *v;
            for (int k = 0; k < 2; k++) {
                json_object *list;
                if (!json_object_object_get_ex(doc, k ? "net" : "disks", &list) ||
                    !json_object_is_type(list, json_type_array))
                    continue;
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                    json_object *e = json_object_array_get_idx(list, i);
                    if (json_object_object_get_ex(e, "id", &v) &&
                        strcmp(json_object_get_string(v), id) == 0) {
                        json_object_array_del_idx(list, i, 1);
                        break;
                    }
                }
            }
            if (json_object_object_get_ex(doc, "vsock", &v) && json_object_object_get_ex(v, "id", &v) &&
                strcmp(json_object_get_string(v), id) == 0)
                json_object_object_del(doc, "vsock");
            if (config_from_doc(doc, &next, err, sizeof(err)) < 0)
                fprintf(stderr, "vmm: %s was removed but the configuration still names it: %s\n", id, err);
            json_object_put(doc);
        }
        if (next)
            config_replace(vmm, next);
        bdf_string(bdf, slot);
        const char *props[] = {"id", id, "bdf", bdf, NULL};
        emit(vmm, "vm", "device-removed", props);
    }
}

static int api_dispatch(void *ctx, const char *action, json_object *args, json_object **result, char *errbuf,
                        size_t errlen)
{
    (void)args;
    Vmm *vmm = ctx;
    VmState state = get_state(vmm);

    if (strcmp(action, "vmm.ping") == 0) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "version", json_object_new_string(VMM_VERSION));
        json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
        *result = o;
        return 0;
    }
    if (strcmp(action, "vmm.shutdown") == 0 || strcmp(action, "vm.shutdown") == 0) {
        post_request(vmm, REQ_SHUTDOWN, NULL);
        return 0;
    }
    if (strcmp(action, "vm.info") == 0) {
        *result = info_json(vmm);
        return 0;
    }
    if (strcmp(action, "vm.counters") == 0) {
        *result = counters_json(vmm);
        return 0;
    }
    if (strcmp(action, "vm.pause") == 0) {
        if (state != VM_STATE_RUNNING)
            return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Running", vm_state_names[state]);
        emit(vmm, "vm", "pausing", NULL);
        pause_vcpus(vmm);
        set_state(vmm, VM_STATE_PAUSED);
        emit(vmm, "vm", "paused", NULL);
        return 0;
    }
    if (strcmp(action, "vm.resume") == 0) {
        if (state != VM_STATE_PAUSED)
            return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Paused", vm_state_names[state]);
        emit(vmm, "vm", "resuming", NULL);
        resume_vcpus(vmm);
        set_state(vmm, VM_STATE_RUNNING);
        emit(vmm, "vm", "resumed", NULL);
        return 0;
    }
    if (strcmp(action, "vm.snapshot") == 0)
        return api_snapshot(vmm, state, args, errbuf, errlen);
    if (strcmp(action, "vm.resize") == 0)
        return api_resize(vmm, state, args, errbuf, errlen);
    if (strcmp(action, "vm.add-disk") == 0 || strcmp(action, "vm.add-net") == 0 ||
        strcmp(action, "vm.add-vsock") == 0)
        return api_add_device(vmm, state, action + strlen("vm.add-"), args, result, errbuf, errlen);
    if (strcmp(action, "vm.remove-device") == 0)
        return api_remove_device(vmm, state, args, errbuf, errlen);
    if (strcmp(action, "vm.power-button") == 0) {
        if (state != VM_STATE_RUNNING)
            return api_error(errbuf, errlen, -EBUSY, "the VM is %s, not Running", vm_state_names[state]);
        vmm_devices_power_button(&vmm->devices);
        return 0;
    }
    if (strcmp(action, "vm.reboot") == 0) {
        if (state != VM_STATE_RUNNING && state != VM_STATE_PAUSED)
            return api_error(errbuf, errlen, -EBUSY, "the VM is %s", vm_state_names[state]);
        post_request(vmm, REQ_REBOOT, NULL);
        return 0;
    }
    return api_error(errbuf, errlen, -ENOENT, "unknown action %s", action);
}

/* ------------------------------------------------------------ run */

static int setup_signals(Vmm *vmm)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must return EINTR */
    sigemptyset(&sa.sa_mask);
    if (sigaction(KICK_SIGNAL, &sa, NULL) < 0)
        return fail("sigaction: %s", strerror(errno));

    /* Blocked everywhere (threads inherit the mask); the kick signal is
     * unblocked by each vCPU thread, the others are read via signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, KICK_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* A vanished API or serial peer must not kill the VMM. */
    signal(SIGPIPE, SIG_IGN);

    sigdelset(&set, KICK_SIGNAL);
    vmm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (vmm->signal_fd < 0)
        return fail("signalfd: %s", strerror(errno));
    return 0;
}

int vmm_run(const VmConfig *cfg, const VmmOptions *opts)
{
    char err[512];
    Vmm *vmm = calloc(1, sizeof(*vmm));
    if (!vmm)
        return fail("out of memory"), 1;
    vmm->cfg = cfg;
    vmm->kvm_fd = -1;
    vmm->vm.vm_fd = -1;
    vmm->vm.kvm_fd = -1;
    vmm->request_fd = -1;
    vmm->signal_fd = -1;
    vmm->exit_status = 1;
    pthread_mutex_init(&vmm->lock, NULL);
    pthread_cond_init(&vmm->cond, NULL);
    bus_init(&vmm->pio, "pio");
    bus_init(&vmm->mmio, "mmio");
    int status = 1;

    /* First: no_new_privs and the filters must exist before any thread. */
    if (vmm_seccomp_setup(opts->seccomp, err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }
    /* Also before any thread: those started during setup enter its ruleset. */
    if (vmm_landlock_setup(cfg, opts->api_socket_path, opts->event_monitor_path, err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }
    vmm->events = event_monitor_new(opts->event_monitor_path, opts->event_monitor_fd, err, sizeof(err));
    if (!vmm->events) {
        fail("--event-monitor: %s", err);
        goto out;
    }
    emit(vmm, "vmm", "starting", NULL);

    if (setup_signals(vmm) < 0)
        goto out;
    vmm->loop = event_loop_new();
    vmm->request_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!vmm->loop || vmm->request_fd < 0) {
        fail("cannot create the event loop: %s", strerror(errno));
        goto out;
    }
    if (event_loop_add(vmm->loop, vmm->request_fd, EPOLLIN, on_request, vmm) < 0 ||
        event_loop_add(vmm->loop, vmm->signal_fd, EPOLLIN, on_signal, vmm) < 0) {
        fail("cannot watch the control fds");
        goto out;
    }

    /* A restore maps the snapshot's memory over fresh RAM: prefaulting that
     * first would be wasted work. */
    MemoryConfig memory = cfg->memory;
    memory.prefault = cfg->memory.prefault && !opts->restore;
    if (guest_memory_create(&vmm->mem, &memory, err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }
    if (opts->restore &&
        snapshot_restore_memory(opts->restore, &vmm->mem, &cfg->memory,
                                opts->restore_prefault || cfg->memory.prefault, err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }

    /* /dev/kvm is opened once; the supported CPUID is asked once. */
    vmm->kvm_fd =
        opts->kvm_fd >= 0 ? vm_adopt_kvm(opts->kvm_fd, err, sizeof(err)) : vm_open_kvm(err, sizeof(err));
    if (vmm->kvm_fd < 0) {
        fail("%s", err);
        goto out;
    }
    vmm->cpuid = cpuid_supported(vmm->kvm_fd, err, sizeof(err));
    if (!vmm->cpuid) {
        fail("%s", err);
        goto out;
    }

    VmControl control = {.request = device_request, .ctx = vmm};
    /* A restore puts every function back in its slot, hot-plugged or not. */
    uint8_t slot_plan[PCI_MAX_SLOTS];
    size_t n_slot_plan = 0;
    if (opts->restore &&
        snapshot_slot_plan(opts->restore, slot_plan, PCI_MAX_SLOTS, &n_slot_plan, err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }
    if (vmm_devices_create(&vmm->devices, cfg, vmm->loop, &vmm->vm, control, &vmm->pio, &vmm->mmio, &vmm->mem,
                           vmm->events, n_slot_plan ? slot_plan : NULL, n_slot_plan, err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }

    if (event_loop_add(vmm->loop, pci_hotplug_eject_fd(vmm->devices.hotplug), EPOLLIN, on_eject, vmm) < 0 ||
        event_loop_add(vmm->loop, cpu_hotplug_eject_fd(vmm->devices.cpu_hotplug), EPOLLIN, on_cpu_eject, vmm) <
            0) {
        fail("cannot watch the hotplug controllers");
        goto out;
    }

    if (opts->api_socket_path || opts->api_socket_fd >= 0) {
        vmm->api = api_server_new(vmm->loop, opts->api_socket_path, opts->api_socket_fd, vmm->events,
                                  api_dispatch, vmm, err, sizeof(err));
        if (!vmm->api) {
            fail("--api-socket: %s", err);
            goto out;
        }
    }

    /* Setup is over (files, sockets, devices); the vCPU threads boot() starts
     * inherit this domain and filter and add their own filter. Landlock
     * first: the main filter does not allow its syscalls. */
    if (vmm_landlock_restrict_main(err, sizeof(err)) < 0) {
        fail("%s", err);
        goto out;
    }
    vmm_seccomp_enter(VMM_THREAD_MAIN);

    if ((opts->restore ? restore(vmm, opts->restore) : boot(vmm)) < 0) {
        emit(vmm, "vm", "shutdown", NULL);
        goto out;
    }

    if (event_loop_run(vmm->loop) < 0)
        fail("event loop failed: %s", strerror(errno));

    status = vmm->exit_status;
    pthread_mutex_lock(&vmm->lock);
    char reason[sizeof(vmm->fatal_reason)];
    memcpy(reason, vmm->fatal_reason, sizeof(reason));
    pthread_mutex_unlock(&vmm->lock);
    teardown_vm(vmm);
    set_state(vmm, VM_STATE_SHUTDOWN);
    if (status != 0) {
        fail("the VM stopped: %s", reason[0] ? reason : "unknown error");
        const char *props[] = {"reason", reason, NULL};
        emit(vmm, "vm", "crashed", props);
    }
    emit(vmm, "vm", "shutdown", NULL);
    emit(vmm, "vm", "deleted", NULL);

out:
    teardown_vm(vmm);
    /* The last events (vm/shutdown, vm/crashed, vmm/shutdown) must reach API
     * subscribers such as vmmd before their connections close: drain the
     * monitor first, then let the API server flush and close. */
    if (vmm->events) {
        emit(vmm, "vmm", "shutdown", NULL);
        event_monitor_stop(vmm->events);
    }
    if (vmm->api)
        api_server_free(vmm->api);
    vmm_devices_destroy(&vmm->devices);
    if (vmm->loop)
        event_loop_free(vmm->loop);
    if (vmm->request_fd >= 0)
        close(vmm->request_fd);
    if (vmm->signal_fd >= 0)
        close(vmm->signal_fd);
    if (vmm->kvm_fd >= 0)
        close(vmm->kvm_fd);
    free(vmm->cpuid);
    guest_memory_destroy(&vmm->mem);
    bus_destroy(&vmm->pio);
    bus_destroy(&vmm->mmio);
    event_monitor_free(vmm->events);
    /* After the monitor's writer and the virtio workers were joined. */
    vmm_landlock_teardown();
    pthread_mutex_destroy(&vmm->lock);
    pthread_cond_destroy(&vmm->cond);
    config_replace(vmm, NULL);
    free(vmm);
    return status;
}
