/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads and locks. Cheap handlers (RegisterService, Watch) run inline on
 * the server's completion-queue thread; QueryList (big for a big registry),
 * the ones that call agents and those that wait for the state to be written
 * run on the server's worker pool. The
 * monitor, locale pushes and polls of new agents run on a pool of their
 * own, so a slow agent delays neither clients nor other agents, and every
 * call to an agent has a deadline.
 *
 * The state is written by a thread of its own, coalescing changes. Replies
 * to StartApplication, SetLocale and SetTimezone wait for the write, so what
 * a client was told is done survives a crash of the admin right after.
 *
 * Lock order: registry lock, then watchers lock or boot lock (the registry
 * calls its listener with its lock held); the admin lock (locale, timezone,
 * in-flight polls) is never held while calling the registry. Nothing is
 * held while calling an agent.
 *
 * Watch streams hang off one registry listener, which sends each change to
 * every subscriber in the order of the changes; a subscriber whose send
 * queue is full is ended with RESOURCE_EXHAUSTED right there, so it never
 * holds up the registry or the others.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "admin-service.h"
#include "admin-state.h"
#include "admin.pb-c.h"
#include "agent-client.h"
#include "error-util.h"
#include "locale-util.h"
#include "locale.pb-c.h"
#include "parse-util.h"
#include "systemd.pb-c.h"
#include "thread-util.h"
#include "unit.h"
#include "workpool.h"

#define DEFAULT_MONITOR_INTERVAL_MS 5000
#define MAX_POLL_TIMEOUT_MS 3000
#define DEFAULT_VM_START_TIMEOUT_MS 30000
#define DEFAULT_CALL_TIMEOUT_MS 30000
/* A locale push waits this long for an agent (that may be coming back) in a background worker. */
#define LOCALE_PUSH_TIMEOUT_MS 10000
/* While a VM boots, how often the host is asked whether it still runs. */
#define VM_CHECK_MS 1000
/* How long a reply may wait for the state writer (a stuck disk must not hold it forever). */
#define SAVE_WAIT_MS 10000
#define BACKGROUND_WORKERS 8U
#define BACKGROUND_QUEUE 4096U
/* An application name taken on the agent side (a failed unit upstream's
 * agent keeps) makes the admin try the next instance number. */
#define NAME_ATTEMPTS 16

#define COMMAND_SUCCESSFUL "Command successful."

typedef struct Watcher {
        struct Watcher *next;
        RpcCall *call;
} Watcher;

typedef struct VmBoot {
        struct VmBoot *next;
        unsigned refs;     /* the booting request and the ones waiting for it */
        char *vm_unit;
        bool done;
        RpcStatusCode code;
        char *message;
} VmBoot;

struct AdminService {
        AdminServiceConfig config;
        Registry *registry;
        RegistryListenerSlot *listener;
        int state_lock_fd;       /* one admin per state directory */
        AgentClients *clients;
        WorkPool *background;
        char *state_path;

        pthread_mutex_t lock;    /* locale, timezone, polls in flight, monitor timer */
        char *locale;
        char *timezone;
        char **polling;          /* entries with a poll in flight */
        char **pushing;          /* agents with a locale push in flight */
        char **push_again;       /* ... and a newer value to push after it */
        TimerEvent *monitor;
        bool stopped;

        /* The state writer. Every change has a generation; replies that
         * must survive a crash wait until a write of it was attempted. */
        pthread_t writer;
        bool writer_started;
        pthread_mutex_t writer_lock;
        pthread_cond_t writer_wake;
        pthread_cond_t writer_done;
        bool dirty, writer_stop, writer_exited;
        uint64_t changed_generation, written_generation;

        pthread_mutex_t watchers_lock;
        Watcher *watchers;
        bool watchers_closed;

        pthread_mutex_t boot_lock; /* VM boots and the agents' arrival */
        pthread_cond_t boot_cond;
        bool shutting_down;        /* the server is stopping: nobody waits for a VM any more */
        uint64_t agents_generation;
        VmBoot *boots;
};

static void admin_log(AdminService *a, int level, const char *format, ...) _printf_(3, 4);
static void admin_log(AdminService *a, int level, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;

        if (!a->config.log)
                return;
        va_start(ap, format);
        if (vasprintf(&text, format, ap) < 0)
                text = NULL;
        va_end(ap);
        if (text)
                a->config.log(level, text, a->config.log_userdata);
}

static void mark_dirty(AdminService *a) {
        pthread_mutex_lock(&a->writer_lock);
        a->dirty = true;
        a->changed_generation++;
        pthread_cond_signal(&a->writer_wake);
        pthread_mutex_unlock(&a->writer_lock);
}

/*
 * Waits until every change so far went through a write of the state (saved,
 * or failed and logged by the writer), so that a reply is not sent for a
 * change a crash right after it would forget: an application the admin
 * started is known only to the state, it never registers again.
 */
static void wait_saved(AdminService *a) {
        struct timespec until = timespec_after_ms(SAVE_WAIT_MS);
        uint64_t target;

        pthread_mutex_lock(&a->writer_lock);
        target = a->changed_generation;
        while (a->writer_started && !a->writer_exited && a->written_generation < target)
                if (pthread_cond_timedwait(&a->writer_done, &a->writer_lock, &until) == ETIMEDOUT)
                        break;
        pthread_mutex_unlock(&a->writer_lock);
}

/* ---- the registry as clients see it ---- */

/* Points @item into @e (no copies): valid while @e is. */
static void query_item_init(Admin__QueryListItem *item, const RegistryEntry *e) {
        const char *agent = registry_entry_agent_name(e);

        *item = (Admin__QueryListItem) ADMIN__QUERY_LIST_ITEM__INIT;
        item->name = e->name;
        item->description = (char *) strempty(e->description);
        item->vmstatus = (char *) registry_entry_vm_status(e);
        item->trustlevel = (char *) "Warning";
        item->vmtype = (char *) vm_type_to_string(e->type.vm);
        item->servicetype = (char *) service_type_to_string(e->type.service);
        if (e->vm) {
                item->__vm_name_case = ADMIN__QUERY_LIST_ITEM____VM_NAME_VM_NAME;
                item->vmname = e->vm;
        }
        if (agent) {
                item->__agent_name_case = ADMIN__QUERY_LIST_ITEM____AGENT_NAME_AGENT_NAME;
                item->agentname = (char *) agent;
        }
}

/* Sends the list of @entries as a QueryListResponse, alone or inside a WatchItem's Initial. */
static int send_list(RpcCall *call, RegistryEntry *const *entries, size_t n, bool as_watch_initial,
                     bool reply) {
        Admin__QueryListResponse list = ADMIN__QUERY_LIST_RESPONSE__INIT;
        Admin__WatchItem item = ADMIN__WATCH_ITEM__INIT;
        _cleanup_free_ Admin__QueryListItem *items = NULL;
        _cleanup_free_ Admin__QueryListItem **ptrs = NULL;

        items = calloc(n ?: 1, sizeof(*items));
        ptrs = calloc(n ?: 1, sizeof(*ptrs));
        if (!items || !ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                query_item_init(&items[i], entries[i]);
                ptrs[i] = &items[i];
        }
        list.n_list = n;
        list.list = ptrs;
        if (!as_watch_initial)
                return reply ? rpc_call_reply(call, &list.base) : rpc_call_send(call, &list.base);
        item.status_case = ADMIN__WATCH_ITEM__STATUS_INITIAL;
        item.initial = &list;
        return rpc_call_send(call, &item.base);
}

typedef struct ListReply {
        RpcCall *call;
        int result;
} ListReply;

static void reply_list(RegistryEntry *const *entries, size_t n, void *userdata) {
        ListReply *lr = userdata;

        lr->result = send_list(lr->call, entries, n, false, true);
}

static void handle_query_list(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        AdminService *a = userdata;
        ListReply lr = { .call = call };

        /* Packed straight from the entries under the registry lock: a copy of a big registry cost
         * several times the packing, and held up registrations meanwhile. */
        registry_visit(a->registry, reply_list, &lr);
        if (lr.result < 0 && lr.result != -ECANCELED)
                (void) rpc_call_fail(call, RPC_INTERNAL, "cannot list the registry: %s", strerror(-lr.result));
}

/* ---- Watch ---- */

/* Ends and forgets the watcher of @call, if it is still one. Watchers lock held. */
static void watcher_end_locked(AdminService *a, RpcCall *call, RpcStatusCode code, const char *message) {
        for (Watcher **p = &a->watchers; *p; p = &(*p)->next)
                if ((*p)->call == call) {
                        Watcher *w = *p;

                        *p = w->next;
                        (void) rpc_call_finish(w->call, code, message);
                        free(w);
                        return;
                }
}

static void watcher_cancelled(RpcCall *call, void *userdata) {
        AdminService *a = userdata;

        pthread_mutex_lock(&a->watchers_lock);
        watcher_end_locked(a, call, RPC_CANCELLED, NULL);
        pthread_mutex_unlock(&a->watchers_lock);
}

/* Sends one change to every watcher. Registry lock held (in order, never blocking). */
static void watchers_dispatch(AdminService *a, RegistryEventKind kind, const RegistryEntry *e) {
        Admin__WatchItem item = ADMIN__WATCH_ITEM__INIT;
        Admin__QueryListItem q;

        query_item_init(&q, e);
        switch (kind) {
        case REGISTRY_ADDED:
                item.status_case = ADMIN__WATCH_ITEM__STATUS_ADDED;
                item.added = &q;
                break;
        case REGISTRY_UPDATED:
        case REGISTRY_STATUS:
                item.status_case = ADMIN__WATCH_ITEM__STATUS_UPDATED;
                item.updated = &q;
                break;
        default:
                item.status_case = ADMIN__WATCH_ITEM__STATUS_REMOVED;
                item.removed = &q;
                break;
        }

        pthread_mutex_lock(&a->watchers_lock);
        for (Watcher *w = a->watchers, *next; w; w = next) {
                int r;

                next = w->next;
                r = rpc_call_send(w->call, &item.base);
                if (r == -ENOBUFS)
                        watcher_end_locked(a, w->call, RPC_RESOURCE_EXHAUSTED,
                                           "the Watch stream fell behind the registry's changes; "
                                           "watch again");
                else if (r < 0)
                        watcher_end_locked(a, w->call, RPC_CANCELLED, NULL);
        }
        pthread_mutex_unlock(&a->watchers_lock);
}

typedef struct WatchStart {
        AdminService *admin;
        RpcCall *call;
        int result;
} WatchStart;

/* Under the registry lock: the Initial list, then the watcher joins, before any change. */
static void watch_snapshot(RegistryEntry *const *entries, size_t n, void *userdata) {
        WatchStart *ws = userdata;
        AdminService *a = ws->admin;
        Watcher *w;

        ws->result = send_list(ws->call, entries, n, true, false);
        if (ws->result < 0)
                return;
        w = calloc(1, sizeof(*w));
        if (!w) {
                ws->result = -ENOMEM;
                return;
        }
        w->call = ws->call;
        pthread_mutex_lock(&a->watchers_lock);
        if (a->watchers_closed) {
                ws->result = -ESHUTDOWN;
                free(w);
        } else {
                w->next = a->watchers;
                a->watchers = w;
        }
        pthread_mutex_unlock(&a->watchers_lock);
}

static void noop_listener(RegistryEventKind kind, const RegistryEntry *e, const RegistryEntry *previous,
                          void *userdata) {
}

static void handle_watch(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        AdminService *a = userdata;
        WatchStart ws = { .admin = a, .call = call };
        RegistryListenerSlot *slot = NULL;
        int r;

        /* The snapshot callback runs under the registry lock: Initial is
         * sent and the watcher listed before the next change. The slot is
         * a formality; the admin's own listener does the dispatching. */
        r = registry_subscribe(a->registry, noop_listener, watch_snapshot, &ws, &slot);
        if (r >= 0)
                registry_unsubscribe(a->registry, slot);
        if (r < 0 || ws.result < 0) {
                r = r < 0 ? r : ws.result;
                if (r == -ESHUTDOWN)
                        (void) rpc_call_finish(call, RPC_UNAVAILABLE, "the admin is shutting down");
                else
                        (void) rpc_call_fail(call, RPC_INTERNAL, "cannot start watching: %s", strerror(-r));
                return;
        }
        rpc_call_on_cancel(call, watcher_cancelled, a);
}

static void server_shutdown(RpcServer *s, void *userdata) {
        AdminService *a = userdata;

        pthread_mutex_lock(&a->watchers_lock);
        a->watchers_closed = true;
        while (a->watchers)
                watcher_end_locked(a, a->watchers->call, RPC_UNAVAILABLE, "the admin is shutting down");
        pthread_mutex_unlock(&a->watchers_lock);

        /* Requests waiting for a VM's agent give up now rather than hold the shutdown. */
        pthread_mutex_lock(&a->boot_lock);
        a->shutting_down = true;
        pthread_cond_broadcast(&a->boot_cond);
        pthread_mutex_unlock(&a->boot_lock);
}

/* The admin's one registry listener. Registry lock held. */
static void on_registry_change(RegistryEventKind kind, const RegistryEntry *e, const RegistryEntry *previous,
                               void *userdata) {
        AdminService *a = userdata;

        /* Watchers hear of what they can see: a new object path or unit sub-state alone would be an
         * Updated identical to the one before. */
        if (!previous || !registry_entry_shown_equal(e, previous))
                watchers_dispatch(a, kind, e);

        /* Someone may wait for this agent to come (a VM booting). */
        if (e->type.service == SERVICE_TYPE_MGR && kind != REGISTRY_REMOVED) {
                pthread_mutex_lock(&a->boot_lock);
                a->agents_generation++;
                pthread_cond_broadcast(&a->boot_cond);
                pthread_mutex_unlock(&a->boot_lock);
        }
        /* Statuses are not kept: after a restart the monitor asks for them at once. Saving each
         * poll's news would rewrite the whole file for every unit that changes. */
        if (kind != REGISTRY_STATUS)
                mark_dirty(a);
}

/* ---- calls to agents ---- */

/* Calls @method on the agent that runs @e (itself, or the agent managing it). */
/* @flags: RPC_CALL_WAIT_FOR_READY in background work (see agent_clients_call()). */
static int call_agent_of(AdminService *a, const RegistryEntry *e, const char *method,
                         const ProtobufCMessage *request, const ProtobufCMessageDescriptor *response_type,
                         int64_t timeout_ms, RpcCallFlags flags, ProtobufCMessage **ret_response,
                         RpcStatus *status) {
        _cleanup_(registry_entry_freep) RegistryEntry *agent = NULL;
        const RegistryEntry *target = e;
        int r;

        if (e->placement == PLACEMENT_MANAGED) {
                r = registry_get(a->registry, e->by, &agent);
                if (r < 0) {
                        rpc_status_set(status, RPC_UNAVAILABLE, "the agent '%s' of '%s' is not registered",
                                       e->by, e->name);
                        return r;
                }
                target = agent;
        }
        if (target->placement != PLACEMENT_ENDPOINT) {
                rpc_status_set(status, RPC_FAILED_PRECONDITION, "'%s' has no agent to ask", e->name);
                return -EINVAL;
        }
        return agent_clients_call(a->clients, target->protocol, target->address, target->port,
                                  target->tls_name, method, request, response_type, timeout_ms, flags,
                                  ret_response, status);
}

static int unit_request(AdminService *a, const RegistryEntry *e, const char *method, const char *unit,
                        int64_t timeout_ms, RpcStatus *status) {
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;

        req.unitname = (char *) unit;
        return call_agent_of(a, e, method, &req.base, &systemd__unit_response__descriptor, timeout_ms, 0,
                             &resp, status);
}

static int get_unit_status(AdminService *a, const RegistryEntry *agent, const char *unit, int64_t timeout_ms,
                           RpcCallFlags flags, Systemd__UnitStatusResponse **ret, RpcStatus *status) {
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        int r;

        req.unitname = (char *) unit;
        r = call_agent_of(a, agent, "/systemd.UnitControlService/GetUnitStatus", &req.base,
                          &systemd__unit_status_response__descriptor, timeout_ms, flags, &resp, status);
        if (r < 0)
                return r;
        if (!((Systemd__UnitStatusResponse *) resp)->unitstatus) {
                pb_free(resp);
                rpc_status_set(status, RPC_INTERNAL, "the agent sent no status for '%s'", unit);
                return -EBADMSG;
        }
        *ret = (Systemd__UnitStatusResponse *) resp;
        return 0;
}

/* Fails @call with the status an agent call left, naming the agent. */
static void fail_agent_call(RpcCall *call, const RpcStatus *status, const char *what) {
        RpcStatusCode code = status->code == RPC_OK ? RPC_INTERNAL : status->code;

        /* Our agents say what failed already ("cannot start application: …"). */
        if (status->message && startswith(status->message, what))
                (void) rpc_call_fail(call, code, "%s", status->message);
        else
                (void) rpc_call_fail(call, code, "%s: %s", what, strna(status->message));
}

static int host_agent(AdminService *a, RegistryEntry **ret, RpcStatus *status) {
        int r = registry_find_by_type(a->registry, (UnitType) { VM_TYPE_HOST, SERVICE_TYPE_MGR }, ret);

        if (r == -ENOENT)
                rpc_status_set(status, RPC_NOT_FOUND, "no host agent (type 0) is registered");
        else if (r == -ENOTUNIQ)
                rpc_status_set(status, RPC_FAILED_PRECONDITION,
                               "more than one host agent (type 0) is registered");
        else if (r < 0)
                rpc_status_set(status, RPC_INTERNAL, "cannot look up the host agent: %s", strerror(-r));
        return r;
}

/* ---- background work: polls and locale pushes ---- */

typedef struct Job {
        AdminService *admin;
        RegistryEntry *entry;
        RegistryEntry **group;   /* JOB_POLL_AGENT: the agent's entries, the agent itself first */
        enum { JOB_POLL, JOB_POLL_AGENT, JOB_PUSH_LOCALE } kind;
} Job;

/* Adds @name to @list unless it is there. Return: 1 added, 0 there, -ENOMEM. Admin lock held. */
static int name_add_locked(char ***list, const char *name) {
        if (strv_contains(*list, name))
                return 0;
        return strv_extend(list, name) < 0 ? -ENOMEM : 1;
}

/* Removes @name from @list. Return: whether it was there. Admin lock held. */
static bool name_remove_locked(char ***list, const char *name) {
        size_t n = strv_length(*list);

        for (size_t i = 0; i < n; i++)
                if (streq((*list)[i], name)) {
                        free((*list)[i]);
                        (*list)[i] = (*list)[n - 1];
                        (*list)[n - 1] = NULL;
                        return true;
                }
        return false;
}

static bool poll_begin(AdminService *a, const char *name) {
        int r;

        pthread_mutex_lock(&a->lock);
        r = name_add_locked(&a->polling, name);
        pthread_mutex_unlock(&a->lock);
        return r > 0;
}

static void poll_end(AdminService *a, const char *name) {
        pthread_mutex_lock(&a->lock);
        (void) name_remove_locked(&a->polling, name);
        pthread_mutex_unlock(&a->lock);
}

/* One push at a time per agent: two in parallel could reach it in the wrong order and leave the
 * older value. A push asked for meanwhile runs after it (with the values as they are then).
 * Return: whether to queue one now. */
static bool push_begin(AdminService *a, const char *name) {
        int r;

        pthread_mutex_lock(&a->lock);
        r = name_add_locked(&a->pushing, name);
        if (r == 0 && name_add_locked(&a->push_again, name) < 0)
                r = 1; /* out of memory: push now rather than lose it */
        pthread_mutex_unlock(&a->lock);
        return r != 0;
}

/* Return: whether to push again, as another was asked for meanwhile. */
static bool push_end(AdminService *a, const char *name) {
        bool again;

        pthread_mutex_lock(&a->lock);
        again = name_remove_locked(&a->push_again, name);
        if (!again)
                (void) name_remove_locked(&a->pushing, name);
        pthread_mutex_unlock(&a->lock);
        return again;
}

/* A VM whose agent cannot be reached: start it again, if configured to and it is down. */
static void maybe_restart_vm(AdminService *a, const RegistryEntry *agent) {
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *host = NULL;
        _cleanup_pb_ Systemd__UnitStatusResponse *st = NULL;

        if (!a->config.restart_vms || !agent->vm || agent->type.vm == VM_TYPE_HOST)
                return;
        if (host_agent(a, &host, &status) < 0)
                return;
        if (get_unit_status(a, host, agent->vm, a->config.poll_timeout_ms, RPC_CALL_WAIT_FOR_READY, &st,
                            &status) < 0)
                return;
        if (streq(st->unitstatus->loadstate, "loaded") && !streq(st->unitstatus->activestate, "active") &&
            !streq(st->unitstatus->activestate, "activating")) {
                admin_log(a, LOG_NOTICE, "The agent of %s is gone and the VM is %s: starting it again.",
                          agent->vm, st->unitstatus->activestate);
                if (unit_request(a, host, "/systemd.UnitControlService/StartUnit", agent->vm,
                                 a->config.vm_start_timeout_ms, &status) < 0)
                        admin_log(a, LOG_WARNING, "Cannot start %s again: %s", agent->vm,
                                  strna(status.message));
        }
}

/* Asks @e's agent for its status and records it. Return: false when the agent could not be asked. */
static bool poll_entry(AdminService *a, const RegistryEntry *e) {
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        _cleanup_pb_ Systemd__UnitStatusResponse *resp = NULL;
        const Systemd__UnitStatus *s;
        uint64_t ticket;
        int r;

        ticket = registry_status_ticket(a->registry);
        /* Waiting for the connection helps an agent that just came; one known to be gone would hold a
         * worker for the whole deadline, every round. */
        r = get_unit_status(a, e, e->name, a->config.poll_timeout_ms,
                            e->unreachable ? 0 : RPC_CALL_WAIT_FOR_READY, &resp, &status);
        if (r < 0) {
                /* An application its agent no longer knows has ended. */
                if (e->type.service == SERVICE_TYPE_APP && status.code == RPC_NOT_FOUND) {
                        (void) registry_deregister(a->registry, e->name);
                        return true;
                }
                /* The agent answered, but gives no status for this unit (not one it controls):
                 * nothing is running that we know of, and the agent is fine. */
                if (r == -EREMOTEIO && !IN_SET(status.code, RPC_UNAVAILABLE, RPC_DEADLINE_EXCEEDED,
                                               RPC_CANCELLED, RPC_RESOURCE_EXHAUSTED, RPC_UNKNOWN)) {
                        if (registry_update_status(a->registry, e->name, ticket, e->description, "", "", "",
                                                   e->path, "", false) > 0)
                                admin_log(a, LOG_WARNING, "The agent of '%s' gives no status for it: %s", e->name,
                                          strna(status.message));
                        return true;
                }
                if (registry_update_status(a->registry, e->name, ticket, NULL, NULL, NULL, NULL, NULL,
                                           NULL, true) > 0)
                        admin_log(a, LOG_WARNING, "Cannot reach the agent for '%s': %s", e->name,
                                  strna(status.message));
                if (e->type.service == SERVICE_TYPE_MGR)
                        maybe_restart_vm(a, e);
                return false;
        }

        s = resp->unitstatus;
        /* An application that stopped, cleanly or not, leaves the registry. */
        if (e->type.service == SERVICE_TYPE_APP &&
            (streq(s->loadstate, "not-found") || streq(s->activestate, "inactive") ||
             streq(s->activestate, "failed"))) {
                (void) registry_deregister(a->registry, e->name);
                return true;
        }
        r = registry_update_status(a->registry, e->name, ticket, s->description, s->loadstate,
                                   s->activestate, s->substate, s->path, s->freezerstate, false);
        if (r > 0 && e->unreachable)
                admin_log(a, LOG_NOTICE, "The agent for '%s' answers again.", e->name);
        return true;
}

/* Sends one setting to @agent; a failure is only logged (the agent gets it again when it registers). */
static void push_setting(AdminService *a, const RegistryEntry *agent, const char *method,
                         const ProtobufCMessage *request, const char *what) {
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        _cleanup_pb_ ProtobufCMessage *resp = NULL;

        if (call_agent_of(a, agent, method, request, &locale__empty__descriptor, LOCALE_PUSH_TIMEOUT_MS,
                          RPC_CALL_WAIT_FOR_READY, &resp, &status) < 0)
                admin_log(a, LOG_WARNING, "Cannot set the %s on '%s': %s", what, agent->name,
                          strna(status.message));
}

static void push_locale(AdminService *a, const RegistryEntry *agent) {
        _cleanup_free_ char *locale = NULL, *timezone = NULL;

        pthread_mutex_lock(&a->lock);
        if (a->locale)
                locale = strdup(a->locale);
        if (a->timezone)
                timezone = strdup(a->timezone);
        pthread_mutex_unlock(&a->lock);

        /* Only what was set: upstream pushed empty values, which set LANG= to nothing. */
        if (locale) {
                Locale__LocaleMessage req = LOCALE__LOCALE_MESSAGE__INIT;

                req.locale = locale;
                push_setting(a, agent, "/locale.LocaleClient/LocaleSet", &req.base, "locale");
        }
        if (timezone) {
                Locale__TimezoneMessage req = LOCALE__TIMEZONE_MESSAGE__INIT;

                req.timezone = timezone;
                push_setting(a, agent, "/locale.LocaleClient/TimezoneSet", &req.base, "timezone");
        }
}

/* One agent's share of a monitor round: its entries one after the other, and once the agent cannot
 * be asked, the rest marked as unreachable without asking (each would wait for the deadline). */
static void poll_group(AdminService *a, RegistryEntry *const *group) {
        bool reachable = true;

        for (RegistryEntry *const *e = group; *e; e++) {
                if (reachable) {
                        reachable = poll_entry(a, *e);
                        continue;
                }
                (void) registry_update_status(a->registry, (*e)->name, 0, NULL, NULL, NULL, NULL, NULL, NULL,
                                              true);
        }
}

static void run_job(void *userdata) {
        Job *j = userdata;

        switch (j->kind) {
        case JOB_POLL:
                (void) poll_entry(j->admin, j->entry);
                poll_end(j->admin, j->entry->name);
                break;
        case JOB_POLL_AGENT:
                poll_group(j->admin, j->group);
                poll_end(j->admin, j->entry->name);
                break;
        default:
                do
                        push_locale(j->admin, j->entry);
                while (push_end(j->admin, j->entry->name));
        }
        registry_entry_free(j->entry);
        registry_entries_free(j->group);
        free(j);
}

/* Queues @kind for a copy of @e (JOB_POLL_AGENT: taking @group, named by @e); false when it could
 * not be queued. */
static bool queue_job_group(AdminService *a, const RegistryEntry *e, int kind, RegistryEntry **group) {
        bool polls = kind != JOB_PUSH_LOCALE;
        Job *j;

        if (polls && !poll_begin(a, e->name)) {
                registry_entries_free(group);
                return true; /* the last poll is still running: a hung agent costs one slot */
        }
        if (!polls && !push_begin(a, e->name))
                return true; /* the push in flight pushes again when it is done */
        j = calloc(1, sizeof(*j));
        if (!j || registry_entry_copy(e, &j->entry) < 0) {
                free(j);
                goto fail;
        }
        j->admin = a;
        j->kind = kind;
        j->group = group;
        if (workpool_submit(a->background, run_job, j) < 0) {
                registry_entry_free(j->entry);
                free(j);
                goto fail;
        }
        return true;
fail:
        registry_entries_free(group);
        if (polls)
                poll_end(a, e->name);
        else
                (void) push_end(a, e->name);
        return false;
}

static bool queue_job(AdminService *a, const RegistryEntry *e, int kind) {
        return queue_job_group(a, e, kind, NULL);
}

/* Moves the entries of the agent called @agent out of @entries into a new NULL-terminated list, the
 * agent first. */
static RegistryEntry **take_group(RegistryEntry **entries, size_t n, const char *agent) {
        RegistryEntry **group;
        size_t k = 1;

        group = calloc(n + 2, sizeof(*group));
        if (!group)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                RegistryEntry *e = entries[i];

                if (!e || !streq_ptr(registry_entry_agent_name(e), agent))
                        continue;
                if (streq(e->name, agent)) {
                        group[0] = e;
                } else
                        group[k++] = e;
                entries[i] = NULL;
        }
        if (!group[0]) /* the agent itself is not polled: its entries only */
                memmove(group, group + 1, k * sizeof(*group));
        return group;
}

static bool monitor_tick(void *userdata) {
        RegistryEntry **entries = NULL;
        AdminService *a = userdata;
        size_t n = 0;

        if (registry_watch_list(a->registry, &entries) < 0)
                return true;
        while (entries[n])
                n++;
        /* Agents in parallel, each poll with its deadline: a hung agent delays nothing else. An
         * agent's own entries one after the other, after it: an agent that cannot be asked costs one
         * worker for one deadline, not one for each of its entries. */
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *agent = NULL;
                RegistryEntry **group;

                if (!entries[i])
                        continue;
                agent = strdup(strempty(registry_entry_agent_name(entries[i]) ?: entries[i]->name));
                if (!agent)
                        break;
                group = take_group(entries + i, n - i, agent);
                if (!group)
                        break;
                if (!group[0]) { /* no agent name: the entry on its own */
                        group[0] = entries[i];
                        entries[i] = NULL;
                }
                if (!queue_job_group(a, group[0], JOB_POLL_AGENT, group))
                        admin_log(a, LOG_WARNING, "Cannot poll the entries of '%s': too much work queued.",
                                  agent);
        }
        /* What no group took (out of memory), around the holes the groups left. */
        for (size_t i = 0; i < n; i++)
                registry_entry_free(entries[i]);
        free(entries);
        return true;
}

/* ---- RegisterService ---- */

/* "givc-X.service" → "X", or NULL. */
static char *agent_name_of_unit(const char *unit) {
        const char *p = startswith(strempty(unit), "givc-");
        size_t n;

        if (!p || !endswith(p, ".service"))
                return NULL;
        n = strlen(p) - strlen(".service");
        return n > 0 ? strndup(p, n) : NULL;
}

/*
 * With TLS, a peer registers only what its certificate names: the agent
 * givc-X.service, and services whose parent is that agent, from a
 * certificate for X, with Transport.Name X. (Upstream accepted anything from
 * anyone: a compromised VM could pose as the host agent and receive the
 * poweroff requests.)
 */
static int check_identity(AdminService *a, RpcCall *call, const Admin__RegistryRequest *req, UnitType type,
                          char **ret_error) {
        _cleanup_free_ char *x = NULL;
        const PeerIdentity *id = NULL;
        const char *owner;
        int r;

        if (!a->config.tls)
                return 0; /* plaintext: nobody is authenticated (the admin warned at start) */

        r = rpc_call_peer_identity(call, &id);
        if (r < 0)
                return error_set(ret_error, -EPERM, "the client presented no usable certificate");

        owner = type.service == SERVICE_TYPE_MGR ? req->name : req->parent;
        x = agent_name_of_unit(owner);
        if (!x)
                return error_set(ret_error, -EPERM,
                                 type.service == SERVICE_TYPE_MGR
                                         ? "an agent must be registered as 'givc-<name>.service', not '%s'"
                                         : "a service must name its agent 'givc-<name>.service' as Parent, "
                                           "not '%s'",
                                 strempty(owner));
        if (!peer_identity_has_name(id, x))
                return error_set(ret_error, -EPERM,
                                 "a certificate for '%s' may only register 'givc-%s.service' and its "
                                 "services; '%s' belongs to '%s'",
                                 strna(id->dns_names[0] ?: id->common_name),
                                 strna(id->dns_names[0] ?: id->common_name), req->name, x);
        if (!req->transport || !streq(req->transport->name, x))
                return error_set(ret_error, -EPERM,
                                 "the transport name of '%s' must be '%s', the name in its certificate",
                                 req->name, x);
        return 0;
}

/*
 * What no registration may do, certificates or not: a service taking an agent's name (it would
 * replace that agent's entry), an agent placed in anything but a VM unit (the admin starts that
 * unit again with --restart-vms), a second host agent (which would receive the power requests;
 * the first one registered stays the host until the admin's state is removed). With TLS, an
 * agent for X may only be placed in microvm@X.service. Return: 0, or a negative errno with
 * *ret_error: -EINVAL malformed, -EPERM not allowed.
 */
static int check_structure(AdminService *a, const Admin__RegistryRequest *req, UnitType type,
                           char **ret_error) {
        _cleanup_(registry_entry_freep) RegistryEntry *host = NULL;
        _cleanup_free_ char *x = agent_name_of_unit(req->name);
        const char *vm;

        if (type.service != SERVICE_TYPE_MGR) {
                if (x)
                        return error_set(ret_error, -EPERM,
                                         "'%s' is an agent's name; a service cannot be registered under it",
                                         req->name);
                return 0;
        }
        if (type.vm == VM_TYPE_HOST) {
                if (registry_find_by_type(a->registry, type, &host) >= 0 && !streq(host->name, req->name))
                        return error_set(ret_error, -EPERM,
                                         "'%s' is the host agent already; there is only one", host->name);
                return 0;
        }
        if (isempty(req->parent))
                return 0;
        vm = startswith(req->parent, "microvm@");
        if (!vm || !endswith(vm, ".service") || !unit_name_is_plausible(req->parent))
                return error_set(ret_error, -EINVAL,
                                 "the Parent of an agent must be its VM's unit 'microvm@NAME.service', not '%s'",
                                 req->parent);
        if (a->config.tls && x && (strlen(vm) != strlen(x) + strlen(".service") || !startswith(vm, x)))
                return error_set(ret_error, -EPERM,
                                 "the agent of '%s' can only be placed in 'microvm@%s.service', not '%s'", x, x,
                                 req->parent);
        return 0;
}

static int entry_from_request(AdminService *a, const Admin__RegistryRequest *req, UnitType type,
                              RegistryEntry **ret) {
        _cleanup_(registry_entry_freep) RegistryEntry *e = NULL, *parent = NULL;
        _cleanup_free_ char *x = NULL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->type = type;
        /* Everything is polled, services too: upstream polled only agents and applications, so a VM's
         * microvm@ unit showed PoweredOff while the VM ran. */
        e->watch = true;
        e->name = strdup(req->name);
        e->description = strdup(strempty(req->state->description));
        e->load_state = strdup(strempty(req->state->loadstate));
        e->active_state = strdup(strempty(req->state->activestate));
        e->sub_state = strdup("");
        e->path = strdup(strempty(req->state->path));
        e->freezer_state = strdup("");
        if (!e->name || !e->description || !e->load_state || !e->active_state || !e->sub_state || !e->path ||
            !e->freezer_state)
                return -ENOMEM;

        /* A service of a registered agent is reached through that agent. */
        if (type.service != SERVICE_TYPE_MGR && !isempty(req->parent) &&
            registry_get(a->registry, req->parent, &parent) >= 0 &&
            parent->placement == PLACEMENT_ENDPOINT) {
                e->placement = PLACEMENT_MANAGED;
                e->by = strdup(parent->name);
                e->vm = parent->vm ? strdup(parent->vm) : NULL;
                if (!e->by || (parent->vm && !e->vm))
                        return -ENOMEM;
                *ret = TAKE_PTR(e);
                return 0;
        }

        e->placement = PLACEMENT_ENDPOINT;
        /* Agents register with an empty status (upstream's too), which reads as PoweredOff: a Watch
         * would announce a live agent as off. It is talking to us, so it runs; the poll that follows
         * every registration brings systemd's own word. */
        if (type.service == SERVICE_TYPE_MGR && isempty(req->state->activestate) &&
            (free_and_strdup(&e->load_state, "loaded") < 0 || free_and_strdup(&e->active_state, "active") < 0 ||
             free_and_strdup(&e->sub_state, "running") < 0))
                return -ENOMEM;
        e->protocol = strdup(isempty(req->transport->protocol) ? "tcp" : req->transport->protocol);
        e->address = strdup(req->transport->address);
        e->port = strdup(req->transport->port);
        e->tls_name = strdup(req->transport->name);
        if (!e->protocol || !e->address || !e->port || !e->tls_name)
                return -ENOMEM;

        /* The VM: from Parent ("microvm@gui-vm.service"), else from the agent's
         * name; the host has none. (Upstream put the literal "bogus" here.) */
        if (type.service == SERVICE_TYPE_MGR && type.vm != VM_TYPE_HOST) {
                if (!isempty(req->parent))
                        e->vm = strdup(req->parent);
                else if ((x = agent_name_of_unit(req->name)) &&
                         asprintf(&e->vm, "microvm@%s.service", x) < 0)
                        e->vm = NULL;
                if (!e->vm)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(e);
        return 0;
}

static void handle_register_service(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Admin__RegistryRequest *req = (const void *) request;
        Admin__RegistryResponse resp = ADMIN__REGISTRY_RESPONSE__INIT;
        _cleanup_(registry_entry_freep) RegistryEntry *e = NULL;
        _cleanup_free_ char *error = NULL;
        const char *why = NULL;
        AdminService *a = userdata;
        bool existed;
        UnitType type;
        Address *check = NULL;
        int r;

        if (!unit_name_is_plausible(req->name))
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "'%s' is not a unit name",
                                            req->name);
        if (unit_type_from_u32(req->type, &type) < 0)
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                            "Unknown u32 value for UnitType: %" PRIu32, req->type);
        if (!req->state)
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "status missing");
        if (!req->transport)
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "endpoint missing");
        r = address_from_transport(req->transport->protocol, req->transport->address, req->transport->port,
                                   &check, &why);
        address_free(check);
        if (r < 0 && type.service == SERVICE_TYPE_MGR)
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT,
                                            "the endpoint of '%s' is unusable: %s", req->name, strna(why));

        r = check_identity(a, call, req, type, &error);
        if (r < 0)
                return (void) rpc_call_fail(call, RPC_PERMISSION_DENIED, "registration of '%s' refused: %s",
                                            req->name, strna(error));

        error = mfree(error);
        r = check_structure(a, req, type, &error);
        if (r < 0)
                return (void) rpc_call_fail(call, r == -EPERM ? RPC_PERMISSION_DENIED : RPC_INVALID_ARGUMENT,
                                            "registration of '%s' refused: %s", req->name, strna(error));

        r = entry_from_request(a, req, type, &e);
        if (r < 0)
                return (void) rpc_call_fail(call, RPC_INTERNAL, "cannot register '%s': %s", req->name,
                                            strerror(-r));

        existed = registry_contains(a->registry, req->name);
        r = registry_register(a->registry, TAKE_PTR(e), true);
        if (r < 0)
                return (void) rpc_call_fail(call, RPC_INTERNAL, "cannot register '%s': %s", req->name,
                                            strerror(-r));
        admin_log(a, LOG_INFO, "%s '%s' (%s/%s).", existed ? "Re-registered" : "Registered", req->name,
                  vm_type_to_string(type.vm), service_type_to_string(type.service));

        /* Its status now rather than at the next round; a manager agent
         * also gets the locale and timezone, if they were ever set. */
        if (registry_get(a->registry, req->name, &e) >= 0) {
                if (e->watch)
                        (void) queue_job(a, e, JOB_POLL);
                if (type.service == SERVICE_TYPE_MGR)
                        (void) queue_job(a, e, JOB_PUSH_LOCALE);
        }
        (void) rpc_call_reply(call, &resp.base);
}

/* ---- StartApplication ---- */

/* Names of apps and VMs end up in unit names: keep them to what upstream's rules accept. */
static bool name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 64 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Is @agent registered and reachable? */
static bool agent_present(AdminService *a, const char *agent) {
        _cleanup_(registry_entry_freep) RegistryEntry *e = NULL;

        return registry_get(a->registry, agent, &e) >= 0 && !e->unreachable;
}

/* Waits until @agent registers, or the deadline (absolute, monotonic µs). */
typedef enum AgentWait {
        AGENT_CAME,
        AGENT_TIMED_OUT,
        AGENT_VM_STOPPED,
        AGENT_SHUTDOWN,
} AgentWait;

/* Has @vm_unit stopped on the host (failed, or inactive)? Its state in *ret_state. Not knowing is no. */
static bool vm_stopped(AdminService *a, const RegistryEntry *host, const char *vm_unit, char **ret_state) {
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        _cleanup_pb_ Systemd__UnitStatusResponse *st = NULL;

        if (get_unit_status(a, host, vm_unit, VM_CHECK_MS, 0, &st, &status) < 0 ||
            !(streq(st->unitstatus->activestate, "failed") || streq(st->unitstatus->activestate, "inactive")))
                return false;
        free(*ret_state);
        *ret_state = strdup(st->unitstatus->activestate);
        return true;
}

/* Waits until @agent registers, or the deadline (absolute, monotonic µs). Woken by the registration;
 * between, every VM_CHECK_MS, it asks @host whether @vm_unit still runs, so that a VM that died while
 * booting ends the wait at once (its state in *ret_state). */
static AgentWait wait_for_agent(AdminService *a, const char *agent, const RegistryEntry *host,
                                const char *vm_unit, uint64_t deadline_usec, char **ret_state) {
        for (;;) {
                uint64_t generation, now;
                struct timespec until;
                bool woken;

                pthread_mutex_lock(&a->boot_lock);
                generation = a->agents_generation;
                pthread_mutex_unlock(&a->boot_lock);

                /* Checked after reading the generation: an arrival in between bumps it. */
                if (agent_present(a, agent))
                        return AGENT_CAME;
                now = now_monotonic_usec();
                if (now >= deadline_usec)
                        return AGENT_TIMED_OUT;

                until = timespec_from_usec(MIN(deadline_usec, now + VM_CHECK_MS * USEC_PER_MSEC));
                pthread_mutex_lock(&a->boot_lock);
                while (a->agents_generation == generation && !a->shutting_down)
                        if (pthread_cond_timedwait(&a->boot_cond, &a->boot_lock, &until) == ETIMEDOUT)
                                break;
                woken = a->agents_generation != generation;
                if (a->shutting_down) {
                        pthread_mutex_unlock(&a->boot_lock);
                        return AGENT_SHUTDOWN;
                }
                pthread_mutex_unlock(&a->boot_lock);

                if (!woken && vm_stopped(a, host, vm_unit, ret_state))
                        return AGENT_VM_STOPPED;
        }
}

/* Boots @vm_unit through the host agent and waits for @agent. Fills @status on failure. */
static int boot_vm(AdminService *a, const char *vm, const char *vm_unit, const char *agent,
                   uint64_t deadline_usec, RpcStatus *status) {
        _cleanup_(registry_entry_freep) RegistryEntry *host = NULL, *vm_entry = NULL;
        _cleanup_pb_ Systemd__UnitStatusResponse *st = NULL;
        _cleanup_free_ char *vm_state = NULL;
        AgentWait waited;
        int64_t left_ms;
        int r;

        r = host_agent(a, &host, status);
        if (r < 0) {
                if (status->code == RPC_NOT_FOUND)
                        rpc_status_set(status, RPC_FAILED_PRECONDITION,
                                       "the VM '%s' is not running, and no host agent is registered to "
                                       "start it", vm);
                return r;
        }
        r = get_unit_status(a, host, vm_unit, a->config.call_timeout_ms, 0, &st, status);
        if (r < 0) {
                if (status->code == RPC_NOT_FOUND)
                        rpc_status_set(status, RPC_NOT_FOUND,
                                       "no VM '%s': the host agent does not control '%s'", vm, vm_unit);
                return r;
        }
        if (!streq(st->unitstatus->loadstate, "loaded")) {
                rpc_status_set(status, RPC_NOT_FOUND, "no VM '%s': '%s' is %s on the host", vm, vm_unit,
                               st->unitstatus->loadstate);
                return -ENOENT;
        }
        if (!streq(st->unitstatus->activestate, "active")) {
                left_ms = (int64_t) ((deadline_usec - MIN(now_monotonic_usec(), deadline_usec)) /
                                     USEC_PER_MSEC);
                r = unit_request(a, host, "/systemd.UnitControlService/StartUnit", vm_unit, MAX(left_ms, 1),
                                 status);
                if (r < 0) {
                        /* The host agent not answering is not the VM's fault. */
                        RpcStatusCode code = IN_SET(status->code, RPC_DEADLINE_EXCEEDED, RPC_UNAVAILABLE)
                                                     ? status->code
                                                     : RPC_FAILED_PRECONDITION;
                        _cleanup_free_ char *why = TAKE_PTR(status->message);

                        rpc_status_set(status, code, "the VM '%s' cannot start: %s", vm, strna(why));
                        return r;
                }
        }

        /* Event-driven: woken by the agent's registration (upstream slept 10 s). */
        waited = wait_for_agent(a, agent, host, vm_unit, deadline_usec, &vm_state);
        if (waited == AGENT_SHUTDOWN) {
                rpc_status_set(status, RPC_UNAVAILABLE,
                               "the admin is shutting down while the VM '%s' boots; ask again", vm);
                return -ESHUTDOWN;
        }
        if (waited == AGENT_VM_STOPPED) {
                rpc_status_set(status, RPC_FAILED_PRECONDITION,
                               "the VM '%s' stopped before its agent '%s' registered: '%s' is %s on the host",
                               vm, agent, vm_unit, strna(vm_state));
                return -ECHILD;
        }
        if (waited == AGENT_TIMED_OUT) {
                if (registry_contains(a->registry, agent))
                        rpc_status_set(status, RPC_UNAVAILABLE,
                                       "the VM '%s' is running, but its agent '%s' did not answer within "
                                       "%" PRIi64 " s", vm, agent, a->config.vm_start_timeout_ms / 1000);
                else
                        rpc_status_set(status, RPC_DEADLINE_EXCEEDED,
                                       "the VM '%s' is running, but its agent '%s' did not register within "
                                       "%" PRIi64 " s", vm, agent, a->config.vm_start_timeout_ms / 1000);
                return -ETIME;
        }

        /* Show the VM running now rather than at the monitor's next round. */
        if (registry_get(a->registry, vm_unit, &vm_entry) >= 0)
                poll_entry(a, vm_entry);
        return 0;
}

/* Drops a reference to @boot; the last one unlists and frees it. Boot lock held. */
static void boot_unref_locked(AdminService *a, VmBoot *boot) {
        if (--boot->refs > 0)
                return;
        for (VmBoot **p = &a->boots; *p; p = &(*p)->next)
                if (*p == boot) {
                        *p = boot->next;
                        break;
                }
        free(boot->message);
        free(boot->vm_unit);
        free(boot);
}

/* Makes sure the VM runs and its agent is registered; concurrent callers boot it once. */
/* Return: 0 when the agent was there, 1 when it came after a boot (ours or another request's). */
static int ensure_vm(AdminService *a, const char *vm, const char *vm_unit, const char *agent,
                     RpcStatus *status) {
        uint64_t deadline = now_monotonic_usec() + (uint64_t) a->config.vm_start_timeout_ms * USEC_PER_MSEC;
        struct timespec until = timespec_from_usec(deadline);
        VmBoot *boot;
        bool mine = false;
        int r = 0;

        if (agent_present(a, agent))
                return 0;

        pthread_mutex_lock(&a->boot_lock);
        for (boot = a->boots; boot; boot = boot->next)
                if (streq(boot->vm_unit, vm_unit))
                        break;
        if (!boot) {
                boot = calloc(1, sizeof(*boot));
                if (boot && !(boot->vm_unit = strdup(vm_unit)))
                        boot = mfree(boot);
                if (!boot) {
                        pthread_mutex_unlock(&a->boot_lock);
                        rpc_status_set(status, RPC_RESOURCE_EXHAUSTED, "out of memory");
                        return -ENOMEM;
                }
                boot->next = a->boots;
                a->boots = boot;
                mine = true;
        }
        boot->refs++;
        pthread_mutex_unlock(&a->boot_lock);

        if (mine) {
                r = boot_vm(a, vm, vm_unit, agent, deadline, status);

                pthread_mutex_lock(&a->boot_lock);
                boot->done = true;
                boot->code = r < 0 ? status->code : RPC_OK;
                boot->message = status->message ? strdup(status->message) : NULL;
                pthread_cond_broadcast(&a->boot_cond);
                boot_unref_locked(a, boot);
                pthread_mutex_unlock(&a->boot_lock);
                return r < 0 ? r : 1;
        }

        /* Someone else boots it: wait for their outcome (the booting request itself gives up when the
         * admin shuts down, and tells). */
        pthread_mutex_lock(&a->boot_lock);
        while (!boot->done)
                if (pthread_cond_timedwait(&a->boot_cond, &a->boot_lock, &until) == ETIMEDOUT)
                        break;
        if (!boot->done) {
                rpc_status_set(status, RPC_DEADLINE_EXCEEDED,
                               "the VM '%s' did not come up within %" PRIi64 " s", vm,
                               a->config.vm_start_timeout_ms / 1000);
                r = -ETIME;
        } else if (boot->code != RPC_OK) {
                rpc_status_set(status, boot->code, "%s", strna(boot->message));
                r = -EIO;
        }
        boot_unref_locked(a, boot);
        pthread_mutex_unlock(&a->boot_lock);
        return r < 0 ? r : 1;
}

/* Starts a new instance of the application on @agent under a reserved name; it stays reserved. */
/* Did the agent refuse the instance name as taken? Ours says ALREADY_EXISTS; upstream's passes on
 * systemd's UnitExists error as UNKNOWN, with systemd's "Unit … already exists." in its text. */
static bool name_taken(const RpcStatus *status) {
        return status->code == RPC_ALREADY_EXISTS ||
               (status->code == RPC_UNKNOWN && status->message && strstr(status->message, "already exists"));
}

static int start_instance(AdminService *a, const RegistryEntry *agent, const Admin__ApplicationRequest *req,
                          RpcCallFlags flags, char **ret_unit, RpcStatus *status) {
        _cleanup_free_ char *unit = NULL;
        int r;

        for (int attempt = 0;; attempt++) {
                Systemd__AppUnitRequest start = SYSTEMD__APP_UNIT_REQUEST__INIT;
                _cleanup_pb_ ProtobufCMessage *reply = NULL;

                rpc_status_done(status);
                unit = mfree(unit);
                r = registry_reserve_name(a->registry, req->appname, &unit);
                if (r < 0)
                        break;
                start.unitname = unit;
                start.n_args = req->n_args;
                start.args = req->args;
                r = call_agent_of(a, agent, "/systemd.UnitControlService/StartApplication", &start.base,
                                  &systemd__unit_response__descriptor, a->config.call_timeout_ms, flags,
                                  &reply, status);
                if (r >= 0 || !name_taken(status) || attempt + 1 >= NAME_ATTEMPTS)
                        break;
                /* The agent still has a unit of that name (upstream's keeps failed ones; ours a
                 * running one the registry lost): it stays reserved, so that the next start does
                 * not try it again. */
        }
        if (r < 0) {
                if (unit)
                        registry_unreserve(a->registry, unit);
                if (status->code == RPC_OK)
                        rpc_status_set(status, RPC_INTERNAL, "%s", strerror(-r));
                return r;
        }
        *ret_unit = TAKE_PTR(unit);
        return 0;
}

static void handle_start_application(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Admin__ApplicationRequest *req = (const void *) request;
        Admin__ApplicationResponse resp = ADMIN__APPLICATION_RESPONSE__INIT;
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *agent = NULL, *entry = NULL;
        _cleanup_pb_ Systemd__UnitStatusResponse *st = NULL;
        _cleanup_free_ char *vm = NULL, *vm_unit = NULL, *agent_unit = NULL, *unit = NULL;
        AdminService *a = userdata;
        RpcCallFlags flags;
        int r;

        if (!name_is_valid(req->appname))
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "'%s' is not an application name",
                                            req->appname);
        if (req->__vm_name_case == ADMIN__APPLICATION_REQUEST____VM_NAME_VM_NAME && !isempty(req->vmname)) {
                if (!name_is_valid(req->vmname))
                        return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "'%s' is not a VM name",
                                                    req->vmname);
                vm = strdup(req->vmname);
        } else if (asprintf(&vm, "%s-vm", req->appname) < 0)
                vm = NULL;
        if (!vm || asprintf(&vm_unit, "microvm@%s.service", vm) < 0 ||
            asprintf(&agent_unit, "givc-%s.service", vm) < 0)
                return (void) rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");

        for (int round = 0;; round++) {
                r = ensure_vm(a, vm, vm_unit, agent_unit, &status);
                if (r < 0)
                        return fail_agent_call(call, &status, "cannot start application");
                /* An agent that just came may find our channel to it still waiting to try again. */
                flags = r > 0 ? RPC_CALL_WAIT_FOR_READY : 0;
                agent = registry_entry_free(agent);
                r = registry_get(a->registry, agent_unit, &agent);
                if (r < 0)
                        return (void) rpc_call_fail(call, RPC_UNAVAILABLE,
                                                    "cannot start application: the agent '%s' went away",
                                                    agent_unit);
                r = start_instance(a, agent, req, flags, &unit, &status);
                if (r >= 0 || status.code != RPC_UNAVAILABLE || round > 0)
                        break;
                /* Its agent does not answer: the VM may have just gone down, before the monitor
                 * noticed. Take it as gone (a poll corrects that if it is not) and boot the VM. */
                if (registry_update_status(a->registry, agent_unit, 0, NULL, NULL, NULL, NULL, NULL, NULL,
                                           true) > 0)
                        admin_log(a, LOG_WARNING, "Cannot reach '%s': %s", agent_unit,
                                  strna(status.message));
                (void) queue_job(a, agent, JOB_POLL);
        }
        if (r < 0)
                return fail_agent_call(call, &status, "cannot start application");

        /* Registered as it is now. An application that already finished (it ran, and was quick) is
         * not registered at all; one that failed at once is an error. When its agent cannot be asked
         * right now, it is registered all the same (it started), and the monitor learns the rest. */
        r = get_unit_status(a, agent, unit, a->config.call_timeout_ms, flags, &st, &status);
        if (r >= 0 && streq(st->unitstatus->activestate, "failed")) {
                /* Still there, so its agent keeps failed units (upstream's does): the name stays
                 * reserved. */
                return (void) rpc_call_fail(call, RPC_UNKNOWN,
                                            "cannot start application: '%s' started, but failed at once (%s)",
                                            unit, strempty(st->unitstatus->substate));
        }
        if (r < 0 && status.code == RPC_NOT_FOUND)
                r = 1; /* gone already: it finished (our agent's units are collected once they end) */
        if (r == 0 && !streq(st->unitstatus->activestate, "active"))
                r = 1; /* inactive: it finished */
        if (r <= 0) {
                Systemd__UnitStatus unknown = SYSTEMD__UNIT_STATUS__INIT;
                const Systemd__UnitStatus *u = r == 0 ? st->unitstatus : &unknown;
                bool known = r == 0;

                r = -ENOMEM;
                entry = calloc(1, sizeof(*entry));
                if (entry) {
                        *entry = (RegistryEntry) {
                                .name = strdup(unit),
                                .type = { agent->type.vm, SERVICE_TYPE_APP },
                                .description = strdup(strempty(u->description)),
                                .load_state = strdup(strempty(u->loadstate)),
                                .active_state = strdup(strempty(u->activestate)),
                                .sub_state = strdup(strempty(u->substate)),
                                .path = strdup(strempty(u->path)),
                                .freezer_state = strdup(strempty(u->freezerstate)),
                                .placement = PLACEMENT_MANAGED,
                                .vm = strdup(vm_unit),
                                .by = strdup(agent_unit),
                                .watch = true,
                        };
                        r = registry_register(a->registry, TAKE_PTR(entry), false);
                }
                if (r < 0) {
                        registry_unreserve(a->registry, unit);
                        return (void) rpc_call_fail(call, RPC_INTERNAL,
                                                    "'%s' started but cannot be registered: %s", unit,
                                                    strerror(-r));
                }
                admin_log(a, LOG_INFO, "Started '%s' in %s.", unit, vm_unit);
                if (!known && registry_get(a->registry, unit, &entry) >= 0)
                        (void) queue_job(a, entry, JOB_POLL);
                wait_saved(a);
        } else
                registry_unreserve(a->registry, unit);

        resp.cmdstatus = (char *) COMMAND_SUCCESSFUL;
        resp.appstatus = (char *) COMMAND_SUCCESSFUL;
        (void) rpc_call_reply(call, &resp.base);
}

/* ---- Pause, Resume, Stop ---- */

typedef enum AppAction {
        APP_PAUSE,
        APP_RESUME,
        APP_STOP,
} AppAction;

static void application_action(RpcCall *call, const Admin__ApplicationRequest *req, AdminService *a,
                               AppAction action) {
        static const struct {
                const char *method, *verb;
        } actions[] = {
                [APP_PAUSE] = { "/systemd.UnitControlService/FreezeUnit", "pause" },
                [APP_RESUME] = { "/systemd.UnitControlService/UnfreezeUnit", "resume" },
                [APP_STOP] = { "/systemd.UnitControlService/StopUnit", "stop" },
        };
        Admin__ApplicationResponse resp = ADMIN__APPLICATION_RESPONSE__INIT;
        _cleanup_(registry_entries_freep) RegistryEntry **entries = NULL;
        _cleanup_free_ char *prefix = NULL;
        int r;

        /* A full unit name names one instance; a bare application name, all of
         * its instances. (Upstream prefix-matched full names, so foot@1.service
         * also hit foot@10.service, and refused bare names.) */
        if (strchr(req->appname, '@')) {
                entries = calloc(2, sizeof(RegistryEntry *));
                if (!entries)
                        return (void) rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                r = registry_get(a->registry, req->appname, &entries[0]);
        } else if (!name_is_valid(req->appname))
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "'%s' is not an application name",
                                            req->appname);
        else if (asprintf(&prefix, "%s@", req->appname) < 0)
                r = -ENOMEM;
        else
                r = registry_find_prefix(a->registry, prefix, &entries);
        if (r >= 0 && (!entries || !entries[0]))
                r = -ENOENT;
        if (r == -ENOENT)
                return (void) rpc_call_fail(call, RPC_NOT_FOUND,
                                            "cannot %s '%s': no such application is registered",
                                            actions[action].verb, req->appname);
        if (r < 0)
                return (void) rpc_call_fail(call, RPC_INTERNAL, "cannot %s '%s': %s", actions[action].verb,
                                            req->appname, strerror(-r));

        for (RegistryEntry **e = entries; *e; e++) {
                _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
                _cleanup_free_ char *what = NULL;

                if ((*e)->type.service != SERVICE_TYPE_APP)
                        return (void) rpc_call_fail(call, RPC_FAILED_PRECONDITION,
                                                    "cannot %s '%s': it is not an application",
                                                    actions[action].verb, (*e)->name);
                r = unit_request(a, *e, actions[action].method, (*e)->name, a->config.call_timeout_ms,
                                 &status);
                if (r < 0) {
                        if (asprintf(&what, "cannot %s '%s'", actions[action].verb, (*e)->name) < 0)
                                what = NULL;
                        return fail_agent_call(call, &status, strna(what));
                }
                if (action == APP_STOP)
                        /* Gone: no need to wait for the monitor to notice. */
                        (void) registry_deregister(a->registry, (*e)->name);
                else
                        /* Show Paused/Running now rather than at the next round. */
                        poll_entry(a, *e);
        }

        resp.cmdstatus = (char *) COMMAND_SUCCESSFUL;
        resp.appstatus = (char *) COMMAND_SUCCESSFUL;
        (void) rpc_call_reply(call, &resp.base);
}

static void handle_pause_application(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        application_action(call, (const void *) request, userdata, APP_PAUSE);
}

static void handle_resume_application(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        application_action(call, (const void *) request, userdata, APP_RESUME);
}

static void handle_stop_application(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        application_action(call, (const void *) request, userdata, APP_STOP);
}

/* ---- Power ---- */

static void power_action(RpcCall *call, AdminService *a, const char *target) {
        Admin__Empty resp = ADMIN__EMPTY__INIT;
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *host = NULL;
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "cannot start '%s' on the host", target) < 0)
                what = NULL;
        if (host_agent(a, &host, &status) < 0 ||
            unit_request(a, host, "/systemd.UnitControlService/StartUnit", target, a->config.call_timeout_ms,
                         &status) < 0)
                return fail_agent_call(call, &status, strna(what));
        admin_log(a, LOG_NOTICE, "Started '%s' on the host.", target);
        (void) rpc_call_reply(call, &resp.base);
}

static void handle_poweroff(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        power_action(call, userdata, "poweroff.target");
}

static void handle_reboot(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        power_action(call, userdata, "reboot.target");
}

static void handle_suspend(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        power_action(call, userdata, "suspend.target");
}

static void handle_wakeup(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        /* A suspended host runs nothing that could receive this, upstream's
         * admin has no mechanism either ("Not supported"). */
        (void) rpc_call_fail(call, RPC_UNIMPLEMENTED,
                             "Not supported: a suspended host cannot be woken through givc; "
                             "use its power button, keyboard or RTC wake alarm");
}

/* ---- SetLocale, SetTimezone ---- */

/* Pushes the locale and timezone to every manager agent, in parallel. */
static void push_locale_to_all(AdminService *a) {
        _cleanup_(registry_entries_freep) RegistryEntry **entries = NULL;

        if (registry_list(a->registry, &entries, NULL) < 0)
                return;
        for (RegistryEntry **e = entries; *e; e++)
                if ((*e)->type.service == SERVICE_TYPE_MGR && !queue_job(a, *e, JOB_PUSH_LOCALE))
                        admin_log(a, LOG_WARNING, "Cannot push the locale to '%s': too much work queued.",
                                  (*e)->name);
}

/* Stores a new locale or timezone, then pushes both to every manager agent. */
static void set_setting(RpcCall *call, AdminService *a, char **field, const char *value,
                        bool (*is_valid)(const char *), const char *what) {
        Admin__Empty resp = ADMIN__EMPTY__INIT;
        int r;

        if (!is_valid(value))
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "Invalid %s: '%s'", what, value);
        pthread_mutex_lock(&a->lock);
        r = free_and_strdup(field, value);
        pthread_mutex_unlock(&a->lock);
        if (r < 0)
                return (void) rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
        mark_dirty(a);
        push_locale_to_all(a);
        wait_saved(a);
        (void) rpc_call_reply(call, &resp.base);
}

static void handle_set_locale(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Admin__LocaleRequest *req = (const void *) request;
        AdminService *a = userdata;

        set_setting(call, a, &a->locale, req->locale, locale_is_valid, "locale");
}

static void handle_set_timezone(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Admin__TimezoneRequest *req = (const void *) request;
        AdminService *a = userdata;

        set_setting(call, a, &a->timezone, req->timezone, timezone_is_valid, "timezone");
}

/* ---- the state ---- */

static int save_state(AdminService *a) {
        _cleanup_(registry_entries_freep) RegistryEntry **entries = NULL;
        _cleanup_free_ char *locale = NULL, *timezone = NULL;
        size_t n;
        int r;

        r = registry_list(a->registry, &entries, &n);
        if (r < 0)
                return r;
        pthread_mutex_lock(&a->lock);
        locale = a->locale ? strdup(a->locale) : NULL;
        timezone = a->timezone ? strdup(a->timezone) : NULL;
        pthread_mutex_unlock(&a->lock);
        return admin_state_save(a->state_path, entries, n, locale, timezone);
}

/* Writes the state whenever it changed; changes arriving meanwhile are coalesced. */
static void *writer_thread(void *userdata) {
        AdminService *a = userdata;
        bool failing = false;

        pthread_mutex_lock(&a->writer_lock);
        for (;;) {
                uint64_t generation;
                int r;

                while (!a->dirty && !a->writer_stop)
                        pthread_cond_wait(&a->writer_wake, &a->writer_lock);
                if (!a->dirty)
                        break;
                a->dirty = false;
                generation = a->changed_generation;
                pthread_mutex_unlock(&a->writer_lock);

                r = save_state(a);
                if (r < 0 && !failing)
                        admin_log(a, LOG_ERR, "Cannot save the state to '%s': %s", a->state_path,
                                  strerror(-r));
                else if (r >= 0 && failing)
                        admin_log(a, LOG_NOTICE, "The state is saved to '%s' again.", a->state_path);
                failing = r < 0;

                pthread_mutex_lock(&a->writer_lock);
                a->written_generation = generation;
                pthread_cond_broadcast(&a->writer_done);
        }
        a->writer_exited = true;
        pthread_cond_broadcast(&a->writer_done);
        pthread_mutex_unlock(&a->writer_lock);
        return NULL;
}

static int load_state(AdminService *a, char **ret_error) {
        _cleanup_(admin_state_done) AdminState st = {};
        _cleanup_free_ char *error = NULL;
        int r;

        if (mkdir(a->config.state_dir, 0700) < 0 && errno != EEXIST)
                return error_set(ret_error, -errno, "cannot create the state directory '%s': %s",
                                 a->config.state_dir, strerror(errno));
        if (asprintf(&a->state_path, "%s/%s", a->config.state_dir, ADMIN_STATE_FILE) < 0)
                return -ENOMEM;

        /* Two admins writing one state would lose each other's changes. */
        {
                _cleanup_free_ char *lock_path = NULL;

                if (asprintf(&lock_path, "%s/.lock", a->config.state_dir) < 0)
                        return -ENOMEM;
                a->state_lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
                if (a->state_lock_fd < 0)
                        return error_set(ret_error, -errno, "cannot open '%s': %s", lock_path,
                                         strerror(errno));
                if (flock(a->state_lock_fd, LOCK_EX | LOCK_NB) < 0)
                        return error_set(ret_error, errno == EWOULDBLOCK ? -EBUSY : -errno,
                                         "another admin uses the state directory '%s'", a->config.state_dir);
        }

        r = admin_state_load(a->state_path, &st, &error);
        if (r == -ENOENT)
                return 0;
        if (r == -EBADMSG) {
                _cleanup_free_ char *aside = NULL;

                /* Kept for people to look at; agents will register again. */
                if (asprintf(&aside, "%s.broken-%ld", a->state_path, (long) time(NULL)) >= 0 &&
                    rename(a->state_path, aside) >= 0)
                        admin_log(a, LOG_ERR, "%s; moved it to '%s' and starting with an empty registry.",
                                  strna(error), aside);
                else
                        admin_log(a, LOG_ERR, "%s; starting with an empty registry.", strna(error));
                return 0;
        }
        if (r < 0)
                return error_set(ret_error, r, "cannot read '%s': %s", a->state_path, strerror(-r));

        a->locale = TAKE_PTR(st.locale);
        a->timezone = TAKE_PTR(st.timezone);
        for (size_t i = 0; i < st.n_entries; i++) {
                r = registry_register(a->registry, TAKE_PTR(st.entries[i]), false);
                if (r < 0)
                        return r;
        }
        admin_log(a, LOG_INFO, "Restored %zu registry entries from '%s'.", st.n_entries, a->state_path);
        return 0;
}

/* ---- set-up ---- */

static const RpcMethod admin_methods[] = {
#define ADMIN_METHOD(name, req, resp, fn, fl)                                                   \
        {                                                                                       \
                .path = "/admin.AdminService/" name, .request = &(req), .response = &(resp),    \
                .kind = RPC_UNARY, .flags = (fl), .handler = (fn),                              \
        }
        ADMIN_METHOD("RegisterService", admin__registry_request__descriptor,
                     admin__registry_response__descriptor, handle_register_service, RPC_METHOD_INLINE),
        /* Slow: they wait for agents, jobs and VM boots. */
        ADMIN_METHOD("StartApplication", admin__application_request__descriptor,
                     admin__application_response__descriptor, handle_start_application, RPC_METHOD_SLOW),
        ADMIN_METHOD("PauseApplication", admin__application_request__descriptor,
                     admin__application_response__descriptor, handle_pause_application, RPC_METHOD_SLOW),
        ADMIN_METHOD("ResumeApplication", admin__application_request__descriptor,
                     admin__application_response__descriptor, handle_resume_application, RPC_METHOD_SLOW),
        ADMIN_METHOD("StopApplication", admin__application_request__descriptor,
                     admin__application_response__descriptor, handle_stop_application, RPC_METHOD_SLOW),
        /* Not inline: they wait for the state to be written. */
        ADMIN_METHOD("SetLocale", admin__locale_request__descriptor, admin__empty__descriptor,
                     handle_set_locale, 0),
        ADMIN_METHOD("SetTimezone", admin__timezone_request__descriptor, admin__empty__descriptor,
                     handle_set_timezone, 0),
        ADMIN_METHOD("Poweroff", admin__empty__descriptor, admin__empty__descriptor, handle_poweroff,
                     RPC_METHOD_SLOW),
        ADMIN_METHOD("Reboot", admin__empty__descriptor, admin__empty__descriptor, handle_reboot,
                     RPC_METHOD_SLOW),
        ADMIN_METHOD("Suspend", admin__empty__descriptor, admin__empty__descriptor, handle_suspend,
                     RPC_METHOD_SLOW),
        ADMIN_METHOD("Wakeup", admin__empty__descriptor, admin__empty__descriptor, handle_wakeup,
                     RPC_METHOD_INLINE),
        /* Not inline: packing a big registry would hold up the registrations behind it. */
        ADMIN_METHOD("QueryList", admin__empty__descriptor, admin__query_list_response__descriptor,
                     handle_query_list, 0),
#undef ADMIN_METHOD
        {
                .path = "/admin.AdminService/Watch",
                .request = &admin__empty__descriptor,
                .response = &admin__watch_item__descriptor,
                .kind = RPC_SERVER_STREAM,
                .flags = RPC_METHOD_INLINE,
                .handler = handle_watch,
        },
};

int admin_service_new(AdminService **ret, const AdminServiceConfig *c, char **ret_error) {
        _cleanup_(admin_service_freep) AdminService *a = NULL;
        int r;

        if (!c->timers)
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->config = *c;
        a->state_lock_fd = -EBADF;
        if (a->config.monitor_interval_ms <= 0)
                a->config.monitor_interval_ms = DEFAULT_MONITOR_INTERVAL_MS;
        if (a->config.poll_timeout_ms <= 0)
                a->config.poll_timeout_ms = MIN(a->config.monitor_interval_ms, MAX_POLL_TIMEOUT_MS);
        if (a->config.vm_start_timeout_ms <= 0)
                a->config.vm_start_timeout_ms = DEFAULT_VM_START_TIMEOUT_MS;
        if (a->config.call_timeout_ms <= 0)
                a->config.call_timeout_ms = DEFAULT_CALL_TIMEOUT_MS;

        pthread_mutex_init(&a->lock, NULL);
        pthread_mutex_init(&a->writer_lock, NULL);
        pthread_cond_init(&a->writer_wake, NULL);
        thread_cond_init_monotonic(&a->writer_done);
        pthread_mutex_init(&a->watchers_lock, NULL);
        pthread_mutex_init(&a->boot_lock, NULL);
        thread_cond_init_monotonic(&a->boot_cond);

        r = registry_new(&a->registry);
        if (r < 0)
                return r;
        r = agent_clients_new(&a->clients, c->tls);
        if (r < 0)
                return r;
        r = workpool_new(&a->background, BACKGROUND_WORKERS, BACKGROUND_QUEUE);
        if (r < 0)
                return r;

        if (a->config.state_dir) {
                r = load_state(a, ret_error);
                if (r < 0)
                        return r;
        }

        /* After restoring: the restored entries are not news. */
        r = registry_subscribe(a->registry, on_registry_change, NULL, a, &a->listener);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}

int admin_service_attach(AdminService *a, RpcServer *s) {
        int r;

        r = rpc_server_add_methods(s, admin_methods, ELEMENTSOF(admin_methods), a);
        if (r < 0)
                return r;
        return rpc_server_add_shutdown_hook(s, server_shutdown, a);
}

int admin_service_start(AdminService *a) {
        int r;

        if (a->state_path) {
                r = thread_start(&a->writer, writer_thread, a);
                if (r < 0)
                        return r;
                pthread_mutex_lock(&a->writer_lock);
                a->writer_started = true;
                pthread_mutex_unlock(&a->writer_lock);
        }
        /* The first round right away: after a restart, the restored registry is checked at once. */
        pthread_mutex_lock(&a->lock);
        r = timers_add(a->config.timers, 0, (uint64_t) a->config.monitor_interval_ms, monitor_tick, a,
                       &a->monitor);
        pthread_mutex_unlock(&a->lock);
        return r;
}

void admin_service_stop(AdminService *a) {
        TimerEvent *monitor;

        pthread_mutex_lock(&a->lock);
        monitor = TAKE_PTR(a->monitor);
        a->stopped = true;
        pthread_mutex_unlock(&a->lock);
        if (monitor)
                timers_cancel(a->config.timers, monitor);

        /* Polls and pushes in progress end within their deadlines. */
        a->background = workpool_free(a->background);

        if (a->writer_started) {
                pthread_mutex_lock(&a->writer_lock);
                a->writer_stop = true;
                pthread_cond_signal(&a->writer_wake);
                pthread_mutex_unlock(&a->writer_lock);
                pthread_join(a->writer, NULL);
                pthread_mutex_lock(&a->writer_lock);
                a->writer_started = false;
                pthread_mutex_unlock(&a->writer_lock);
        }
}

AdminService *admin_service_free(AdminService *a) {
        if (!a)
                return NULL;
        admin_service_stop(a);
        if (a->listener)
                registry_unsubscribe(a->registry, a->listener);
        registry_free(a->registry);
        agent_clients_free(a->clients);
        workpool_free(a->background);
        free(a->state_path);
        if (a->state_lock_fd >= 0)
                (void) close(a->state_lock_fd);
        free(a->locale);
        free(a->timezone);
        strv_free(a->polling);
        strv_free(a->pushing);
        strv_free(a->push_again);
        pthread_mutex_destroy(&a->lock);
        pthread_mutex_destroy(&a->writer_lock);
        pthread_cond_destroy(&a->writer_wake);
        pthread_cond_destroy(&a->writer_done);
        pthread_mutex_destroy(&a->watchers_lock);
        pthread_mutex_destroy(&a->boot_lock);
        pthread_cond_destroy(&a->boot_cond);
        free(a);
        return NULL;
}

Registry *admin_service_registry(AdminService *a) {
        return a->registry;
}
