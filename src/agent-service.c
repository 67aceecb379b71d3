/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers run on the server's worker pool (they wait for systemd), except
 * MonitorUnit's samples, which run on the timer thread: a stream of 50
 * samples 400 ms apart must not hold a worker for 20 seconds. Each thread
 * talks to systemd over its own connection (unit.h), so handlers never wait
 * for each other.
 *
 * Status texts and codes follow upstream where clients rely on them:
 * "Command successful" (and "Command successful." for StartApplication),
 * NOT_FOUND for units the agent may not control. Failures carry systemd's
 * own reason after upstream's text ("cannot start unit: ...").
 */

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "agent-service.h"
#include "error-util.h"
#include "hwid.h"
#include "hwid.pb-c.h"
#include "locale-util.h"
#include "locale.pb-c.h"
#include "parse-util.h"
#include "systemd.pb-c.h"
#include "thread-util.h"
#include "unit.h"

#define DEFAULT_JOB_TIMEOUT_MS 90000
#define DEFAULT_MONITOR_INTERVAL_MS 400
#define DEFAULT_MONITOR_SAMPLES 50U
/* A unit operation gives up a little before the caller's deadline, so the
 * caller hears why. */
#define DEADLINE_MARGIN_MS 100

#define COMMAND_SUCCESSFUL "Command successful"

typedef struct Monitor Monitor;

struct AgentService {
        AgentServiceConfig config;
        char **environment; /* for applications */

        /* MonitorUnit streams in progress, ended at shutdown. */
        pthread_mutex_t lock;
        Monitor *monitors;
};

bool agent_service_unit_listed(const AgentService *a, const char *unit) {
        if (isempty(unit))
                return false;
        return streq(unit, a->config.agent_unit) || strv_contains(a->config.services, unit);
}

bool agent_service_unit_allowed(const AgentService *a, const char *unit) {
        _cleanup_free_ char *app = NULL;

        if (isempty(unit))
                return false;
        if (agent_service_unit_listed(a, unit))
                return true;
        if (!a->config.applications || !app_unit_name_is_valid(unit))
                return false;
        app = app_name_from_unit(unit);
        return app && app_manifests_find(a->config.applications, app);
}

/* The unit systemd knows for @unit: the agent's registered name stands for the unit it runs in. */
static const char *systemd_unit(const AgentService *a, const char *unit) {
        return a->config.self_unit && streq(unit, a->config.agent_unit) ? a->config.self_unit : unit;
}

/* How long a job may take: ours, but never past the caller's deadline. */
static int64_t job_timeout(AgentService *a, RpcCall *call) {
        int64_t left = rpc_call_deadline_remaining_ms(call);

        if (left != INT64_MAX)
                left = MAX(left - DEADLINE_MARGIN_MS, 1);
        return MIN(a->config.job_timeout_ms, left);
}

static void reply_unit_response(RpcCall *call, const char *text) {
        Systemd__UnitResponse resp = SYSTEMD__UNIT_RESPONSE__INIT;

        resp.cmdstatus = (char *) text;
        (void) rpc_call_reply(call, &resp.base);
}

/* Ends a call with the status for @r and upstream's prefix before the reason. */
static void fail_errno(RpcCall *call, int r, const char *prefix, const char *reason) {
        (void) rpc_call_fail(call, rpc_status_from_errno(r), "%s: %s", prefix, reason ?: strerror(-r));
}

static bool check_allowed(AgentService *a, RpcCall *call, const char *unit, const char *prefix) {
        _cleanup_free_ char *error = NULL;
        bool loaded = false, transient = false;
        int r;

        if (agent_service_unit_listed(a, unit))
                return true;
        if (!agent_service_unit_allowed(a, unit)) {
                (void) rpc_call_fail(call, RPC_NOT_FOUND, "%s: unit '%s' is not one this agent controls",
                                     prefix, strempty(unit));
                return false;
        }
        /* Named like an instance of an application, it must also be one: they are transient units
         * (or gone: upstream's admin learns from a "not-found" status that an application ended).
         * Otherwise an application called "user" would open user@1000.service to the caller. */
        r = unit_get_origin(unit, &loaded, &transient, &error);
        if (r < 0) {
                fail_errno(call, r, prefix, error);
                return false;
        }
        if (loaded && !transient) {
                (void) rpc_call_fail(call, RPC_NOT_FOUND, "%s: unit '%s' is not an application instance "
                                     "(it is not a transient unit)", prefix, unit);
                return false;
        }
        return true;
}

static void handle_get_unit_status(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Systemd__UnitRequest *req = (const void *) request;
        Systemd__UnitStatusResponse resp = SYSTEMD__UNIT_STATUS_RESPONSE__INIT;
        Systemd__UnitStatus status = SYSTEMD__UNIT_STATUS__INIT;
        _cleanup_(unit_status_done) UnitStatus s = {};
        _cleanup_free_ char *error = NULL;
        AgentService *a = userdata;
        int r;

        if (!check_allowed(a, call, req->unitname, "error fetching unit status"))
                return;
        r = unit_get_status(systemd_unit(a, req->unitname), &s, &error);
        if (r < 0)
                return fail_errno(call, r, "error fetching unit status", error);

        /* Under the name asked for, also when it stands for the agent's real unit. */
        status.name = req->unitname;
        status.description = s.description;
        status.loadstate = s.load_state;
        status.activestate = s.active_state;
        status.substate = s.sub_state;
        status.path = s.object_path;
        status.freezerstate = s.freezer_state;
        resp.cmdstatus = (char *) COMMAND_SUCCESSFUL;
        resp.unitstatus = &status;
        (void) rpc_call_reply(call, &resp.base);
}

/* The handlers that act on one unit differ only in what they do and say. */
typedef enum UnitAction {
        ACTION_START,
        ACTION_STOP,
        ACTION_KILL,
        ACTION_FREEZE,
        ACTION_THAW,
        _ACTION_MAX,
} UnitAction;

static const char *const action_failure[_ACTION_MAX] = {
        [ACTION_START] = "cannot start unit",
        [ACTION_STOP] = "cannot stop unit",
        [ACTION_KILL] = "cannot kill unit",
        [ACTION_FREEZE] = "cannot freeze unit",
        [ACTION_THAW] = "cannot unfreeze unit",
};

static void unit_action(RpcCall *call, const ProtobufCMessage *request, AgentService *a, UnitAction action) {
        const Systemd__UnitRequest *req = (const void *) request;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!check_allowed(a, call, req->unitname, action_failure[action]))
                return;

        switch (action) {
        case ACTION_START:
                /* Start, not restart: a running unit stays as it is (upstream restarted it). */
                r = unit_start(systemd_unit(a, req->unitname), job_timeout(a, call), &error);
                break;
        case ACTION_STOP:
                r = unit_stop(systemd_unit(a, req->unitname), job_timeout(a, call), &error);
                break;
        case ACTION_KILL:
                r = unit_kill(systemd_unit(a, req->unitname), "all", SIGKILL, &error);
                break;
        case ACTION_FREEZE:
                r = unit_freeze(systemd_unit(a, req->unitname), &error);
                break;
        case ACTION_THAW:
                r = unit_thaw(systemd_unit(a, req->unitname), &error);
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0)
                return fail_errno(call, r, action_failure[action], error);
        reply_unit_response(call, COMMAND_SUCCESSFUL);
}

static void handle_start_unit(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        unit_action(call, request, userdata, ACTION_START);
}

static void handle_stop_unit(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        unit_action(call, request, userdata, ACTION_STOP);
}

static void handle_kill_unit(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        unit_action(call, request, userdata, ACTION_KILL);
}

static void handle_freeze_unit(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        unit_action(call, request, userdata, ACTION_FREEZE);
}

static void handle_unfreeze_unit(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        unit_action(call, request, userdata, ACTION_THAW);
}

static void handle_start_application(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Systemd__AppUnitRequest *req = (const void *) request;
        _cleanup_free_ char *error = NULL, *description = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        const AppManifest *manifest;
        AgentService *a = userdata;
        int r;

        r = app_request_validate(a->config.applications, req->unitname, req->args, req->n_args, &manifest,
                                 &error);
        if (r < 0)
                return fail_errno(call, r, "cannot start application", error);
        r = app_command_line(manifest, req->args, req->n_args, &argv);
        if (r < 0)
                return fail_errno(call, r, "cannot start application", "its command is empty");
        if (asprintf(&description, "Application service for %s", manifest->name) < 0)
                return fail_errno(call, -ENOMEM, "cannot start application", NULL);

        r = unit_start_transient_service(req->unitname, description, argv, a->environment,
                                         job_timeout(a, call), &error);
        if (r == -EEXIST)
                return (void) rpc_call_fail(call, RPC_ALREADY_EXISTS,
                                            "cannot start application: unit '%s' exists already",
                                            req->unitname);
        if (r < 0)
                return fail_errno(call, r, "cannot start application", error);

        reply_unit_response(call, COMMAND_SUCCESSFUL ".");
}

/* ---- MonitorUnit ---- */

struct Monitor {
        Monitor *next;
        AgentService *service;
        RpcCall *call;
        TimerEvent *event;
        char *unit;
        uint32_t main_pid;
        unsigned samples_left;
        uint64_t last_cpu_nsec;
        uint64_t last_wall_nsec;
        uint64_t memory_total;
};

static Monitor *monitor_free(Monitor *m) {
        if (!m)
                return NULL;
        free(m->unit);
        free(m);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Monitor *, monitor_free);

/* Where systemd does not account (memory on cgroup v1): the main process's RSS, as upstream measured. */
static uint64_t process_rss_bytes(uint32_t pid) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        char path[64];
        size_t size = 0;

        (void) snprintf(path, sizeof(path), "/proc/%" PRIu32 "/status", pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (getline(&line, &size, f) > 0) {
                unsigned long long kib;

                if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
                        return (uint64_t) kib * 1024;
        }
        return 0;
}

/* One sample; false when the stream is over (it was finished here). */
static bool monitor_sample(Monitor *m) {
        Systemd__UnitResourceResponse resp = SYSTEMD__UNIT_RESOURCE_RESPONSE__INIT;
        _cleanup_(unit_accounting_done) UnitAccounting acct = {};
        _cleanup_free_ char *error = NULL;
        uint64_t now = now_monotonic_nsec(), memory;
        int r;

        if (rpc_call_is_cancelled(m->call)) {
                (void) rpc_call_finish(m->call, RPC_CANCELLED, NULL);
                return false;
        }

        r = unit_get_accounting(m->unit, &acct, &error);
        if (r < 0 || !streq(acct.active_state, "active") || acct.main_pid == 0) {
                /* The unit stopped (or went away): the stream is over. */
                (void) rpc_call_finish(m->call, RPC_OK, NULL);
                return false;
        }

        if (acct.cpu_usage_nsec != UINT64_MAX && m->last_wall_nsec > 0 && now > m->last_wall_nsec &&
            acct.cpu_usage_nsec >= m->last_cpu_nsec)
                resp.cpuusage = 100.0 * (double) (acct.cpu_usage_nsec - m->last_cpu_nsec) /
                                (double) (now - m->last_wall_nsec);
        else if (acct.cpu_usage_nsec != UINT64_MAX && acct.active_enter_monotonic_usec > 0 &&
                 now > acct.active_enter_monotonic_usec * NSEC_PER_USEC)
                /* The first sample: the average since the unit became active. */
                resp.cpuusage = 100.0 * (double) acct.cpu_usage_nsec /
                                (double) (now - acct.active_enter_monotonic_usec * NSEC_PER_USEC);
        m->last_cpu_nsec = acct.cpu_usage_nsec;
        m->last_wall_nsec = now;

        memory = acct.memory_current != UINT64_MAX ? acct.memory_current : process_rss_bytes(acct.main_pid);
        if (m->memory_total > 0)
                resp.memoryusage = (float) (100.0 * (double) memory / (double) m->memory_total);

        r = rpc_call_send(m->call, &resp.base);
        if (r < 0) {
                (void) rpc_call_finish(m->call, r == -ECANCELED ? RPC_CANCELLED : RPC_RESOURCE_EXHAUSTED,
                                       NULL);
                return false;
        }
        if (--m->samples_left == 0) {
                (void) rpc_call_finish(m->call, RPC_OK, NULL);
                return false;
        }
        return true;
}

/* Takes @m off the list of running streams; false when the shutdown hook took it already. */
static bool monitor_unlink(Monitor *m) {
        AgentService *a = m->service;
        bool found = false;

        pthread_mutex_lock(&a->lock);
        for (Monitor **p = &a->monitors; *p; p = &(*p)->next)
                if (*p == m) {
                        *p = m->next;
                        found = true;
                        break;
                }
        pthread_mutex_unlock(&a->lock);
        return found;
}

static bool monitor_tick(void *userdata) {
        Monitor *m = userdata;

        if (monitor_sample(m))
                return true;
        if (monitor_unlink(m)) {
                monitor_free(m);
                return false;
        }
        /* The shutdown hook owns the stream now: it cancels this timer and
         * frees it. Ending the timer here would free the event under it. */
        return true;
}

/* At shutdown: end every MonitorUnit stream now instead of after the grace period. */
static void monitors_shutdown(RpcServer *s, void *userdata) {
        AgentService *a = userdata;
        Monitor *list;

        pthread_mutex_lock(&a->lock);
        list = TAKE_PTR(a->monitors);
        pthread_mutex_unlock(&a->lock);

        while (list) {
                Monitor *m = list;

                list = m->next;
                /* Waits for a sample in progress; no sample runs afterwards. */
                timers_cancel(a->config.timers, m->event);
                (void) rpc_call_finish(m->call, RPC_UNAVAILABLE, "the agent is shutting down");
                monitor_free(m);
        }
}

static void handle_monitor_unit(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Systemd__UnitResourceRequest *req = (const void *) request;
        _cleanup_(unit_accounting_done) UnitAccounting acct = {};
        _cleanup_(monitor_freep) Monitor *m = NULL;
        _cleanup_free_ char *error = NULL;
        AgentService *a = userdata;
        struct sysinfo si;
        int r;

        if (!check_allowed(a, call, req->unitname, "cannot monitor unit"))
                return;
        r = unit_get_accounting(systemd_unit(a, req->unitname), &acct, &error);
        if (r < 0)
                return fail_errno(call, r, "cannot monitor unit", error);
        if (!streq(acct.active_state, "active"))
                return (void) rpc_call_fail(call, RPC_FAILED_PRECONDITION, "cannot monitor unit: '%s' is %s",
                                            req->unitname, acct.active_state);
        if (acct.main_pid == 0)
                return (void) rpc_call_fail(call, RPC_FAILED_PRECONDITION,
                                            "cannot monitor unit: '%s' has no main process", req->unitname);

        m = calloc(1, sizeof(*m));
        if (!m)
                return fail_errno(call, -ENOMEM, "cannot monitor unit", NULL);
        *m = (Monitor) {
                .service = a,
                .call = call,
                .unit = strdup(systemd_unit(a, req->unitname)),
                .samples_left = a->config.monitor_samples,
                .memory_total = sysinfo(&si) == 0 ? (uint64_t) si.totalram * si.mem_unit : 0,
        };
        if (!m->unit)
                return fail_errno(call, -ENOMEM, "cannot monitor unit", NULL);

        /* The first sample now, the others from the timer thread. */
        if (!monitor_sample(m))
                return;

        /* Listed before the timer can fire: the tick may unlink it at once. */
        pthread_mutex_lock(&a->lock);
        if (rpc_server_is_shutting_down(rpc_call_server(call))) {
                pthread_mutex_unlock(&a->lock);
                return (void) rpc_call_finish(call, RPC_UNAVAILABLE, "the agent is shutting down");
        }
        r = timers_add(a->config.timers, (uint64_t) a->config.monitor_interval_ms,
                       (uint64_t) a->config.monitor_interval_ms, monitor_tick, m, &m->event);
        if (r < 0) {
                pthread_mutex_unlock(&a->lock);
                return (void) rpc_call_finish(call, RPC_RESOURCE_EXHAUSTED, "cannot schedule the samples");
        }
        m->next = a->monitors;
        a->monitors = TAKE_PTR(m);
        pthread_mutex_unlock(&a->lock);
}

/* ---- locale.LocaleClient ---- */

static void handle_locale_set(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Locale__LocaleMessage *req = (const void *) request;
        Locale__Empty resp = LOCALE__EMPTY__INIT;
        _cleanup_free_ char *assignment = NULL, *error = NULL;
        int r;

        /* The admin validated it too; the agent trusts no caller. */
        if (!locale_is_valid(req->locale))
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "invalid locale '%s'", req->locale);
        if (asprintf(&assignment, "LANG=%s", req->locale) < 0)
                return fail_errno(call, -ENOMEM, "cannot set the locale", NULL);

        /* As upstream: units started from now on get the new LANG, whatever localed says. */
        r = manager_set_environment((char *[]) { assignment, NULL }, &error);
        if (r < 0)
                return fail_errno(call, r, "cannot set LANG for the service manager", error);
        error = mfree(error);
        r = system_set_locale((char *[]) { assignment, NULL }, &error);
        /* An agent of a user manager (an app VM's) may not change the system's locale; its
         * user's sessions have the new LANG, which is what it is there for. */
        if (r == -EACCES && unit_bus_get_kind() == UNIT_BUS_USER)
                r = 0;
        if (r < 0)
                return fail_errno(call, r, "cannot set the locale", error);
        (void) rpc_call_reply(call, &resp.base);
}

static void handle_timezone_set(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Locale__TimezoneMessage *req = (const void *) request;
        Locale__Empty resp = LOCALE__EMPTY__INIT;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!timezone_is_valid(req->timezone))
                return (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "invalid timezone '%s'",
                                            req->timezone);
        r = system_set_timezone(req->timezone, &error);
        if (r < 0)
                return fail_errno(call, r, "cannot set the timezone", error);
        (void) rpc_call_reply(call, &resp.base);
}

/* ---- hwid.HwidService ---- */

static void handle_get_hwid(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        Hwid__HwIdResponse resp = HWID__HW_ID_RESPONSE__INIT;
        _cleanup_free_ char *id = NULL;
        AgentService *a = userdata;
        int r;

        r = hwid_read(a->config.sysfs_net, a->config.hwid_iface, &id);
        if (r < 0)
                return (void) rpc_call_fail(call, RPC_UNAVAILABLE, "cannot get hardware id: %s: %s",
                                            a->config.hwid_iface, strerror(-r));
        resp.identifier = id;
        (void) rpc_call_reply(call, &resp.base);
}

#define UNIT_METHOD(name, handler_fn, fl)                                                           \
        {                                                                                          \
                .path = "/systemd.UnitControlService/" name,                                       \
                .request = &systemd__unit_request__descriptor,                                     \
                .response = &systemd__unit_response__descriptor,                                   \
                .kind = RPC_UNARY,                                                                 \
                .flags = (fl),                                                                     \
                .handler = handler_fn,                                                             \
        }

static const RpcMethod unit_methods[] = {
        {
                .path = "/systemd.UnitControlService/GetUnitStatus",
                .request = &systemd__unit_request__descriptor,
                .response = &systemd__unit_status_response__descriptor,
                .kind = RPC_UNARY,
                .handler = handle_get_unit_status,
        },
        /* Slow: they wait for systemd's jobs (seconds, for a VM). */
        UNIT_METHOD("StartUnit", handle_start_unit, RPC_METHOD_SLOW),
        UNIT_METHOD("StopUnit", handle_stop_unit, RPC_METHOD_SLOW),
        UNIT_METHOD("KillUnit", handle_kill_unit, 0),
        UNIT_METHOD("FreezeUnit", handle_freeze_unit, 0),
        UNIT_METHOD("UnfreezeUnit", handle_unfreeze_unit, 0),
        {
                .path = "/systemd.UnitControlService/MonitorUnit",
                .request = &systemd__unit_resource_request__descriptor,
                .response = &systemd__unit_resource_response__descriptor,
                .kind = RPC_SERVER_STREAM,
                .handler = handle_monitor_unit,
        },
        {
                .path = "/systemd.UnitControlService/StartApplication",
                .request = &systemd__app_unit_request__descriptor,
                .response = &systemd__unit_response__descriptor,
                .kind = RPC_UNARY,
                .flags = RPC_METHOD_SLOW,
                .handler = handle_start_application,
        },
        {
                .path = "/locale.LocaleClient/LocaleSet",
                .request = &locale__locale_message__descriptor,
                .response = &locale__empty__descriptor,
                .kind = RPC_UNARY,
                .handler = handle_locale_set,
        },
        {
                .path = "/locale.LocaleClient/TimezoneSet",
                .request = &locale__timezone_message__descriptor,
                .response = &locale__empty__descriptor,
                .kind = RPC_UNARY,
                .handler = handle_timezone_set,
        },
};

static const RpcMethod hwid_methods[] = {
        {
                .path = "/hwid.HwidService/GetHwId",
                .request = &hwid__hw_id_request__descriptor,
                .response = &hwid__hw_id_response__descriptor,
                .kind = RPC_UNARY,
                .handler = handle_get_hwid,
        },
};

/*
 * Applications see /etc/xdg after the configuration directories the agent
 * has. Upstream passed the literal "$XDG_CONFIG_DIRS:/etc/xdg", which
 * systemd does not expand.
 */
static int application_environment(char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *dirs = NULL;
        const char *current = getenv("XDG_CONFIG_DIRS");
        int r;

        if (isempty(current))
                dirs = strdup("XDG_CONFIG_DIRS=/etc/xdg");
        else if (asprintf(&dirs, "XDG_CONFIG_DIRS=%s:/etc/xdg", current) < 0)
                dirs = NULL;
        if (!dirs)
                return -ENOMEM;
        r = strv_extend(&env, dirs);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(env);
        return 0;
}

int agent_service_new(AgentService **ret, const AgentServiceConfig *c) {
        _cleanup_(agent_service_freep) AgentService *a = NULL;
        int r;

        if (!c->agent_unit || !c->timers)
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->config = *c;
        pthread_mutex_init(&a->lock, NULL);
        if (a->config.job_timeout_ms <= 0)
                a->config.job_timeout_ms = DEFAULT_JOB_TIMEOUT_MS;
        if (a->config.monitor_interval_ms <= 0)
                a->config.monitor_interval_ms = DEFAULT_MONITOR_INTERVAL_MS;
        if (a->config.monitor_samples == 0)
                a->config.monitor_samples = DEFAULT_MONITOR_SAMPLES;
        if (!a->config.sysfs_net)
                a->config.sysfs_net = HWID_SYSFS_NET;
        r = application_environment(&a->environment);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

AgentService *agent_service_free(AgentService *a) {
        if (!a)
                return NULL;
        strv_free(a->environment);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
}

int agent_service_attach(AgentService *a, RpcServer *s) {
        int r;

        r = rpc_server_add_methods(s, unit_methods, ELEMENTSOF(unit_methods), a);
        if (r < 0)
                return r;
        r = rpc_server_add_shutdown_hook(s, monitors_shutdown, a);
        if (r < 0)
                return r;
        if (a->config.hwid_iface)
                r = rpc_server_add_methods(s, hwid_methods, ELEMENTSOF(hwid_methods), a);
        return r;
}
