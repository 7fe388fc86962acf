/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmmd: the D-Bus service that runs many VMs, each in its own `vmm` process.
 * See docs/service.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

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
           "  --debug             log debug messages\n"
           "  -h, --help          show this help\n"
           "  --version           show the version\n\n"
           "The system bus is DBUS_SYSTEM_BUS_ADDRESS when set.\n");
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

static void manager_free(Manager *m)
{
    for (size_t i = 0; i < m->n_vms; i++)
        vm_free(m->vms[i]);
    free(m->vms);
    polkit_free_queries(m);
    sd_bus_flush_close_unref(m->bus);
    sd_event_unref(m->event);
    free(m->state_dir);
    free(m->runtime_dir);
    free(m->vmm_path);
}

int main(int argc, char **argv)
{
    enum { OPT_USER = 0x100, OPT_STATE, OPT_RUNTIME, OPT_VMM, OPT_DEBUG, OPT_VERSION };
    static const struct option options[] = {
        {"user", no_argument, NULL, OPT_USER},
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"runtime-dir", required_argument, NULL, OPT_RUNTIME},
        {"vmm", required_argument, NULL, OPT_VMM},
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {},
    };
    const char *state_dir = "/var/lib/vmm", *runtime_dir = "/run/vmm", *vmm = VMM_DEFAULT_PATH;
    bool user = false, debug = false;
    int c;

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

    Manager m = {0};
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

    /* sd-event's signal and pidfd child sources need these blocked. */
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
        (r = sd_event_add_signal(m.event, NULL, SIGINT, on_exit_signal, NULL)) < 0)
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
