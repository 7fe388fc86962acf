/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmmd: the D-Bus service that runs many VMs, each in its own `vmm` process.
 * See docs/service.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "manager.h"
#include "polkit.h"
#include "util.h"
#include "vm.h"

#ifndef VMM_DEFAULT_PATH
#define VMM_DEFAULT_PATH "/usr/bin/vmm"
#endif

static void help(void)
{
    printf("Usage: vmmd [OPTIONS]\n\n"
           "The VM manager D-Bus service (org.vmm.Manager).\n\n"
           "  --user              use the session bus instead of the system bus\n"
           "  --state-dir DIR     VM definitions (default /var/lib/vmm)\n"
           "  --runtime-dir DIR   control sockets and logs of running VMMs (default /run/vmm)\n"
           "  --vmm PATH          the vmm binary to run (default " VMM_DEFAULT_PATH ")\n"
           "  --max-vms N         most VMs defined at once (default %u)\n"
           "  --max-config-size BYTES\n"
           "                      largest CreateVM JSON / CreateVMFromArgs options (default and most %u)\n"
           "  --max-args N        most CreateVMFromArgs options (default %u)\n"
           "  --call-rate N       state-changing calls per second per non-root caller, 0: no limit (default %u)\n"
           "  --call-burst N      ... of which at once (default %u)\n"
           "  --max-queued-signals N\n"
           "                      signals queued for a bus that does not read before they are dropped\n"
           "                      (default %u)\n"
           "  --vmm-user USER     the user VMMs run as when vmmd is root (default " VMM_DEFAULT_USER
           ", else " VMM_FALLBACK_USER ")\n"
           "  --no-landlock       run VMMs without --landlock (default: with it when the kernel has Landlock)\n"
           "  --debug             log debug messages\n"
           "  -h, --help          show this help\n"
           "  --version           show the version\n\n"
           "The system bus is DBUS_SYSTEM_BUS_ADDRESS when set.\n",
           LIMITS_DEFAULT_MAX_VMS, CONFIG_MAX_INPUT, LIMITS_DEFAULT_MAX_ARGS, LIMITS_DEFAULT_CALL_RATE,
           LIMITS_DEFAULT_CALL_BURST, LIMITS_DEFAULT_MAX_QUEUED_SIGNALS);
}

/* A number for a limit option, in [min, max]; exits with a usage error
 * otherwise (a typo must not silently mean "no limit"). */
static size_t parse_limit(const char *option, const char *arg, size_t min, size_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno != 0 || end == arg || *end || arg[0] == '-' || v < min || v > max) {
        fprintf(stderr, "vmmd: --%s wants a number from %zu to %zu, not '%s'\n", option, min, max, arg);
        exit(2);
    }
    return (size_t)v;
}

static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return log_error_errno(-errno, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    (void)userdata;
    log_info("signal %u: stopping; running VMs keep running", si->ssi_signo);
    (void)sd_notify(false, "STOPPING=1");
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* One SIGCHLD may stand for several exits: every child is checked. */
static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    Manager *m = userdata;
    (void)s, (void)si;
    for (size_t i = 0; i < m->n_vms; i++)
        vm_reap_if_exited(m->vms[i]);
    return 0;
}

/* Each running VM holds about three descriptors here (control channel,
 * event socket, pidfd), so the usual soft limit of 1024 would cap a host
 * at ~330 VMs. vmmd only uses epoll, never select(), so the soft limit can
 * safely go up to the hard one (VMMs get their own limit in the sandbox). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warning("cannot raise the open-file limit: %s", strerror(errno));
    }
}

static void manager_free(Manager *m)
{
    for (size_t i = 0; i < m->n_vms; i++)
        vm_free(m->vms[i]);
    free(m->vms);
    polkit_free_queries(m);
    limits_free(m);
    sd_bus_flush_close_unref(m->bus);
    sd_event_unref(m->event);
    free(m->state_dir);
    free(m->runtime_dir);
    free(m->vmm_path);
    vmm_sandbox_free(&m->sandbox);
}

int main(int argc, char **argv)
{
    enum {
        OPT_USER = 0x100,
        OPT_STATE,
        OPT_RUNTIME,
        OPT_VMM,
        OPT_DEBUG,
        OPT_VERSION,
        OPT_VMM_USER,
        OPT_MAX_VMS,
        OPT_MAX_CONFIG_SIZE,
        OPT_MAX_ARGS,
        OPT_CALL_RATE,
        OPT_CALL_BURST,
        OPT_MAX_QUEUED_SIGNALS,
        OPT_NO_LANDLOCK,
    };
    static const struct option options[] = {
        {"user", no_argument, NULL, OPT_USER},
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"runtime-dir", required_argument, NULL, OPT_RUNTIME},
        {"vmm", required_argument, NULL, OPT_VMM},
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"vmm-user", required_argument, NULL, OPT_VMM_USER},
        {"max-vms", required_argument, NULL, OPT_MAX_VMS},
        {"max-config-size", required_argument, NULL, OPT_MAX_CONFIG_SIZE},
        {"max-args", required_argument, NULL, OPT_MAX_ARGS},
        {"call-rate", required_argument, NULL, OPT_CALL_RATE},
        {"call-burst", required_argument, NULL, OPT_CALL_BURST},
        {"max-queued-signals", required_argument, NULL, OPT_MAX_QUEUED_SIGNALS},
        {"no-landlock", no_argument, NULL, OPT_NO_LANDLOCK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {},
    };
    const char *state_dir = "/var/lib/vmm", *runtime_dir = "/run/vmm", *vmm = VMM_DEFAULT_PATH;
    const char *vmm_user = NULL;
    bool user = false, debug = false, landlock = true;
    Limits limits;
    int c;

    limits_init(&limits);
    raise_fd_limit();
    while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
        switch (c) {
        case OPT_USER:
            user = true;
            break;
        case OPT_STATE:
            state_dir = optarg;
            break;
        case OPT_RUNTIME:
            runtime_dir = optarg;
            break;
        case OPT_VMM:
            vmm = optarg;
            break;
        case OPT_DEBUG:
            debug = true;
            break;
        case OPT_VMM_USER:
            vmm_user = optarg;
            break;
        case OPT_MAX_VMS:
            limits.max_vms = parse_limit("max-vms", optarg, 1, 1000000);
            break;
        case OPT_MAX_CONFIG_SIZE:
            /* The config library reads no more than CONFIG_MAX_INPUT. */
            limits.max_config_size = parse_limit("max-config-size", optarg, 1, CONFIG_MAX_INPUT);
            break;
        case OPT_MAX_ARGS:
            limits.max_args = parse_limit("max-args", optarg, 1, 65536);
            break;
        case OPT_CALL_RATE:
            limits.call_rate = (unsigned)parse_limit("call-rate", optarg, 0, 1000000);
            break;
        case OPT_CALL_BURST:
            limits.call_burst = (unsigned)parse_limit("call-burst", optarg, 1, 1000000);
            break;
        case OPT_MAX_QUEUED_SIGNALS:
            limits.max_queued_signals = parse_limit("max-queued-signals", optarg, 1, 1000000);
            break;
        case OPT_NO_LANDLOCK:
            landlock = false;
            break;
        case 'h':
            help();
            return 0;
        case OPT_VERSION:
            printf("vmmd %s\n", VMM_VERSION);
            return 0;
        default:
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vmmd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    log_setup("vmmd", debug);

    Manager m = {.limits = limits};
    int r;
    m.state_dir = realpath(state_dir, NULL);
    if (!m.state_dir && errno == ENOENT && make_dir(state_dir, 0700) == 0)
        m.state_dir = realpath(state_dir, NULL);
    m.runtime_dir = realpath(runtime_dir, NULL);
    if (!m.runtime_dir && errno == ENOENT && make_dir(runtime_dir, 0700) == 0)
        m.runtime_dir = realpath(runtime_dir, NULL);
    m.vmm_path = realpath(vmm, NULL);
    if (!m.state_dir || !m.runtime_dir) {
        log_error("cannot use %s: %s", !m.state_dir ? state_dir : runtime_dir, strerror(errno));
        r = -errno;
        goto out;
    }
    if (!m.vmm_path) {
        /* Not fatal: definitions can be managed; Start says what is wrong. */
        log_warning("the VMM %s is not there (%s); VMs cannot start until it is", vmm, strerror(errno));
        m.vmm_path = strdup(vmm);
    }
    /* A --vmm-user that does not exist is a configuration error: VMMs must
     * not silently run as someone else. */
    r = vmm_sandbox_init(&m.sandbox, vmm_user, landlock);
    if (r < 0)
        goto out;

    /* sd-event's signal sources need these blocked. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    /* A VMM's socket closing under a write must not kill the service. */
    signal(SIGPIPE, SIG_IGN);

    r = sd_event_default(&m.event);
    if (r < 0)
        goto fail;
    if ((r = sd_event_add_signal(m.event, NULL, SIGTERM, on_exit_signal, NULL)) < 0 ||
        (r = sd_event_add_signal(m.event, NULL, SIGINT, on_exit_signal, NULL)) < 0 ||
        (r = sd_event_add_signal(m.event, NULL, SIGCHLD, on_sigchld, &m)) < 0)
        goto fail;

    r = user ? sd_bus_open_user(&m.bus) : sd_bus_open_system(&m.bus);
    if (r < 0) {
        log_error("cannot connect to the %s bus: %s", user ? "session" : "system", strerror(-r));
        goto out;
    }
    (void)sd_bus_set_description(m.bus, "vmmd");
    r = manager_load(&m);
    if (r < 0)
        goto out;
    r = manager_bus_register(&m);
    if (r < 0)
        goto out;
    r = polkit_setup(&m);
    if (r < 0)
        goto fail;
    r = sd_bus_attach_event(m.bus, m.event, SD_EVENT_PRIORITY_NORMAL);
    if (r < 0)
        goto fail;
    if (!hypervisor_available())
        log_warning("/dev/kvm is not usable: VMs can be defined but not started");
    /* Owns the name (and says READY=1) once VMMs left running are adopted. */
    r = manager_start(&m);
    if (r < 0)
        goto out;

    r = sd_event_loop(m.event);
    if (r < 0)
        goto fail;
    goto out;
fail:
    log_error("vmmd: %s", strerror(-r));
out:
    manager_free(&m);
    return r < 0 ? 1 : 0;
}
