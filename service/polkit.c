/* SPDX-License-Identifier: Apache-2.0 */
#include "polkit.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "manager.h"
#include "util.h"

#define POLKIT_BUS_NAME  "org.freedesktop.PolicyKit1"
#define POLKIT_PATH      "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization's flags: AllowUserInteraction. */
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* A person may be typing a password at an authentication agent. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5ULL * 60 * 1000000ULL)

struct PolkitQuery {
    PolkitQuery *next;
    Manager *manager;
    sd_bus_message *request; /* the held-back call */
    sd_bus_slot *slot;       /* CheckAuthorization in flight */
    bool answered;
    sd_bus_error error; /* set when refused */
};

/* Every method that changes state, and the Autostart setter. Reads (Get,
 * GetAll, ListVMs, GetInfo, ...) are open. OpenConsole hands out the
 * guest's console, which is as good as controlling it. */
static bool polkit_call_needs_auth(sd_bus_message *m)
{
    static const char *const manager_methods[] = {"CreateVM", "CreateVMFromArgs", "DeleteVM", "RestoreVM"};
    static const char *const vm_methods[] = {
        "Start",    "Shutdown",      "PowerOff",    "Reboot",  "Pause",  "Resume",      "OpenConsole",
        "Snapshot", "ResizeBalloon", "ResizeVCPUs", "ResizeMemory", "AddDisk", "AddNet", "RemoveDevice"};
    const char *iface = sd_bus_message_get_interface(m), *member = sd_bus_message_get_member(m);
    if (!iface || !member)
        return false;
    if (strcmp(iface, VMM_MANAGER_INTERFACE) == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(manager_methods); i++)
            if (strcmp(member, manager_methods[i]) == 0)
                return true;
        return false;
    }
    if (strcmp(iface, VMM_VM_INTERFACE) == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(vm_methods); i++)
            if (strcmp(member, vm_methods[i]) == 0)
                return true;
        return false;
    }
    /* Properties.Set of any of our interfaces (today only Autostart is
     * writable; whatever becomes writable later is covered too). */
    return strcmp(iface, "org.freedesktop.DBus.Properties") == 0 && strcmp(member, "Set") == 0;
}

static void query_free(PolkitQuery *q)
{
    sd_bus_slot_unref(q->slot);
    sd_bus_message_unref(q->request);
    sd_bus_error_free(&q->error);
    free(q);
}

static void query_unlink(Manager *m, PolkitQuery *q)
{
    for (PolkitQuery **pp = &m->polkit_queries; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            return;
        }
}

void polkit_free_queries(Manager *m)
{
    PolkitQuery *q;
    while ((q = m->polkit_queries)) {
        m->polkit_queries = q->next;
        query_free(q);
    }
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
    PolkitQuery *q = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(reply);
    int authorized = 0, challenge = 0, r;
    (void)ret_error;

    q->slot = sd_bus_slot_unref(q->slot);
    q->answered = true;
    if (e) {
        /* No polkit, no state changes for non-root callers: failing open
         * would hand every local user the VMs. */
        log_warning("polkit CheckAuthorization failed: %s: %s", e->name, e->message);
        sd_bus_error_setf(
            &q->error, SD_BUS_ERROR_ACCESS_DENIED,
            "cannot ask polkit whether you may manage VMs (%s); ask an administrator, or use root",
            e->message ? e->message : e->name);
    } else if ((r = sd_bus_message_enter_container(reply, 'r', "bba{ss}")) < 0 ||
               (r = sd_bus_message_read(reply, "bb", &authorized, &challenge)) < 0) {
        sd_bus_error_setf(&q->error, SD_BUS_ERROR_ACCESS_DENIED, "polkit's answer was unreadable: %s",
                          strerror(-r));
    } else if (!authorized) {
        if (challenge && !sd_bus_message_get_allow_interactive_authorization(q->request))
            sd_bus_error_setf(&q->error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                              "managing VMs (%s) needs authentication: call again allowing interactive "
                              "authorization (busctl --allow-interactive-authorization=yes), or as root",
                              VMM_POLKIT_ACTION);
        else
            sd_bus_error_setf(&q->error, SD_BUS_ERROR_ACCESS_DENIED,
                              "not authorized to manage VMs (polkit action %s); ask an administrator",
                              VMM_POLKIT_ACTION);
    }
    /* Dispatch the call again; the filter finds this answer. */
    r = sd_bus_message_rewind(q->request, true);
    if (r >= 0)
        r = sd_bus_enqueue_for_read(q->manager->bus, q->request);
    if (r < 0) {
        log_error("cannot resume a call after polkit answered: %s", strerror(-r));
        (void)sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_FAILED, "vmmd could not resume the call");
        query_unlink(q->manager, q);
        query_free(q);
    }
    return 0;
}

static int ask_polkit(Manager *m, sd_bus_message *call)
{
    _cleanup_bus_msg_ sd_bus_message *req = NULL;
    bool interactive = sd_bus_message_get_allow_interactive_authorization(call) > 0;
    int r = sd_bus_message_new_method_call(m->bus, &req, POLKIT_BUS_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                           "CheckAuthorization");
    if (r < 0)
        return r;
    /* The caller is its bus name: polkit resolves the process and user from
     * the bus itself, so nothing the caller claims is trusted. */
    r = sd_bus_message_append(req, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                              sd_bus_message_get_sender(call), VMM_POLKIT_ACTION, 0,
                              interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, "");
    if (r < 0)
        return r;
    PolkitQuery *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->manager = m;
    q->request = sd_bus_message_ref(call);
    r = sd_bus_call_async(m->bus, &q->slot, req, on_check_reply, q,
                          interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
    if (r < 0) {
        query_free(q);
        return r;
    }
    q->next = m->polkit_queries;
    m->polkit_queries = q;
    return 0;
}

static int polkit_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    Manager *mgr = userdata;
    (void)ret_error;
    if (!sd_bus_message_is_method_call(m, NULL, NULL) || !polkit_call_needs_auth(m))
        return 0;

    for (PolkitQuery *q = mgr->polkit_queries; q; q = q->next) {
        if (q->request != m)
            continue;
        if (!q->answered)
            return 1; /* still waiting (a duplicate dispatch) */
        query_unlink(mgr, q);
        int refused = sd_bus_error_is_set(&q->error);
        if (refused)
            (void)sd_bus_reply_method_error(m, &q->error);
        query_free(q);
        return refused ? 1 : 0;
    }

    _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
    uid_t euid;
    int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
    if (r >= 0)
        r = sd_bus_creds_get_euid(creds, &euid);
    if (r < 0) {
        (void)sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED, "cannot tell who is calling: %s",
                                         strerror(-r));
        return 1;
    }
    if (euid == 0)
        return 0; /* root may always */
    /* Before polkit: a flood of calls costs polkit and vmmd no more than
     * the rate allows. */
    if (limits_charge_call(mgr, m) != 0)
        return 1;
    r = ask_polkit(mgr, m);
    if (r < 0) {
        (void)sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED, "cannot ask polkit: %s",
                                         strerror(-r));
        return 1;
    }
    log_debug("%s.%s from uid %u: asking polkit", sd_bus_message_get_interface(m),
              sd_bus_message_get_member(m), (unsigned)euid);
    return 1;
}

int polkit_setup(Manager *m)
{
    return sd_bus_add_filter(m->bus, NULL, polkit_filter, m);
}
