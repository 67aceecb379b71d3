/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections are per thread (see unit.h): a thread's connections live in
 * thread-local storage and a pthread key destructor closes them when the
 * thread exits. Each manager connection carries a JobRemoved match installed
 * when it is opened; a thread waits for one job at a time, so one slot per
 * connection is enough to catch the result. systemd replies to StartUnit
 * before it emits JobRemoved for that job, and both travel over the same
 * connection in order, so the job path is always known when its signal is
 * dispatched.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>
#include <time.h>

#include "error-util.h"
#include "thread-util.h"
#include "unit.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define MANAGER_INTERFACE "org.freedesktop.systemd1.Manager"
#define UNIT_INTERFACE "org.freedesktop.systemd1.Unit"
#define SERVICE_INTERFACE "org.freedesktop.systemd1.Service"
#define UNIT_PATH_PREFIX "/org/freedesktop/systemd1/unit"

typedef struct BusConnection {
        sd_bus *bus;
        bool direct;             /* the manager's private socket, not a bus */
        const char *waiting_job; /* the job this thread waits for, if any */
        char *job_result;        /* its result, once JobRemoved arrived */
} BusConnection;

static atomic_int bus_kind = UNIT_BUS_SYSTEM;
static __thread BusConnection manager_connection, system_connection;

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static const char *const kind_names[_UNIT_BUS_KIND_MAX] = {
        [UNIT_BUS_SYSTEM] = "system",
        [UNIT_BUS_USER] = "user",
};

void unit_bus_set_kind(UnitBusKind kind) {
        atomic_store(&bus_kind, kind);
}

UnitBusKind unit_bus_get_kind(void) {
        return atomic_load(&bus_kind);
}

const char *unit_bus_kind_to_string(UnitBusKind kind) {
        if (kind < 0 || kind >= _UNIT_BUS_KIND_MAX)
                return NULL;
        return kind_names[kind];
}

static void connection_close(BusConnection *c) {
        c->bus = sd_bus_flush_close_unref(c->bus);
        c->direct = false;
        c->job_result = mfree(c->job_result);
        c->waiting_job = NULL;
}

void unit_bus_close_thread(void) {
        connection_close(&manager_connection);
        connection_close(&system_connection);
}

static void thread_exit(void *unused) {
        unit_bus_close_thread();
}

static void thread_key_create(void) {
        (void) pthread_key_create(&thread_key, thread_exit);
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BusConnection *c = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (c->waiting_job && streq(path, c->waiting_job) && !c->job_result)
                c->job_result = strdup(result);
        return 0;
}

/* Errors of the connection itself: the next call should reconnect. */
static bool error_is_disconnect(int r) {
        return IN_SET(r, -ECONNRESET, -ENOTCONN, -EPIPE, -ESHUTDOWN, -ECONNREFUSED, -ENOENT);
}

/*
 * The manager's private socket, for when there is no bus to reach it through
 * (a user session without dbus). Not the first choice although it is faster
 * (no broker in between): systemd sends every unit and job signal to every
 * private connection, unasked, and one that is not read makes the manager's
 * memory grow (PID 1's, for the system manager). Through a bus, the broker
 * delivers only what was matched, and systemd signals only to subscribers
 * and to whoever enqueued a job.
 */
static int open_manager_direct(bool system, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *address = NULL;
        const char *runtime_dir;
        int r;

        if (system) {
                if (getenv("DBUS_SYSTEM_BUS_ADDRESS") || geteuid() != 0)
                        return -ENOENT;
                address = strdup("unix:path=/run/systemd/private");
        } else {
                runtime_dir = getenv("XDG_RUNTIME_DIR");
                if (isempty(runtime_dir))
                        return -ENOENT;
                if (asprintf(&address, "unix:path=%s/systemd/private", runtime_dir) < 0)
                        address = NULL;
        }
        if (!address)
                return -ENOMEM;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int connection_open(BusConnection *c, bool manager, char **ret_error) {
        UnitBusKind kind = unit_bus_get_kind();
        bool system = !manager || kind == UNIT_BUS_SYSTEM;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (c->bus && sd_bus_is_open(c->bus) > 0)
                return 0;
        connection_close(c);

        (void) pthread_once(&thread_key_once, thread_key_create);
        (void) pthread_setspecific(thread_key, &manager_connection);

        r = system ? sd_bus_open_system(&bus) : sd_bus_open_user(&bus);
        if (r < 0 && manager) {
                int e = open_manager_direct(system, &bus);

                if (e >= 0) {
                        c->direct = true;
                        r = 0;
                }
        }
        if (r < 0)
                return error_set(ret_error, -ENOTCONN, "cannot connect to the %s bus: %s",
                                 system ? "system" : "user", strerror(-r));
        c->bus = TAKE_PTR(bus);
        return 0;
}

static int manager_bus(sd_bus **ret, char **ret_error) {
        int r = connection_open(&manager_connection, true, ret_error);

        if (r < 0)
                return r;
        /* On the private socket, what systemd sent since the last call: read and dropped (nothing
         * is matched between jobs). */
        while (manager_connection.direct && sd_bus_process(manager_connection.bus, NULL) > 0)
                ;
        *ret = manager_connection.bus;
        return 0;
}

static int system_bus(sd_bus **ret, char **ret_error) {
        int r;

        /* With the system manager, its connection is the system bus already. */
        if (unit_bus_get_kind() == UNIT_BUS_SYSTEM)
                return manager_bus(ret, ret_error);
        r = connection_open(&system_connection, false, ret_error);
        if (r < 0)
                return r;
        *ret = system_connection.bus;
        return 0;
}

/* The errno for a D-Bus error, by name. */
static int errno_from_bus_error(const sd_bus_error *e, int r) {
        static const struct {
                const char *name;
                int error;
        } table[] = {
                { "org.freedesktop.systemd1.NoSuchUnit", ENOENT },
                { "org.freedesktop.systemd1.LoadFailed", ENOENT },
                { "org.freedesktop.systemd1.UnitExists", EEXIST },
                { "org.freedesktop.systemd1.UnitMasked", EPERM },
                { "org.freedesktop.systemd1.NoSuchProcess", ESRCH },
                { "org.freedesktop.systemd1.TransactionIsDestructive", EBUSY },
                { "org.freedesktop.systemd1.TransactionJobsConflicting", EBUSY },
                { "org.freedesktop.systemd1.JobTypeNotApplicable", EBADR },
                { "org.freedesktop.systemd1.OnlyByDependency", EBADR },
                { "org.freedesktop.systemd1.NoIsolation", EBADR },
                { "org.freedesktop.DBus.Error.AccessDenied", EACCES },
                { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", EACCES },
                { "org.freedesktop.DBus.Error.InvalidArgs", EINVAL },
                { "org.freedesktop.DBus.Error.NotSupported", EOPNOTSUPP },
                { "org.freedesktop.DBus.Error.ServiceUnknown", EHOSTDOWN },
                { "org.freedesktop.DBus.Error.NameHasNoOwner", EHOSTDOWN },
                { "org.freedesktop.DBus.Error.UnknownObject", ENOENT },
                { "org.freedesktop.DBus.Error.UnknownMethod", EOPNOTSUPP },
                { "org.freedesktop.DBus.Error.NoReply", ETIME },
                { "org.freedesktop.DBus.Error.Timeout", ETIME },
                { "org.freedesktop.DBus.Error.Disconnected", ENOTCONN },
        };

        if (sd_bus_error_is_set(e)) {
                for (size_t i = 0; i < ELEMENTSOF(table); i++)
                        if (sd_bus_error_has_name(e, table[i].name))
                                return -table[i].error;
                if (sd_bus_error_get_errno(e) > 0)
                        return -sd_bus_error_get_errno(e);
        }
        return r < 0 ? r : -EIO;
}

/* Turns a failed call into our errno and sentence; drops a broken connection. */
static int call_failed(BusConnection *c, int r, const sd_bus_error *e, char **ret_error,
                       const char *format, ...) _printf_(5, 6);
static int call_failed(BusConnection *c, int r, const sd_bus_error *e, char **ret_error,
                       const char *format, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int error;

        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);

        error = errno_from_bus_error(e, r);
        if (!sd_bus_error_is_set(e) && error_is_disconnect(r)) {
                connection_close(c);
                error = -ENOTCONN;
        }
        if (sd_bus_error_is_set(e))
                return error_set(ret_error, error, "%s: %s (%s)", strna(what), strempty(e->message),
                                 e->name);
        return error_set(ret_error, error, "%s: %s", strna(what), strerror(-r));
}

bool unit_name_is_plausible(const char *unit) {
        const char *dot;
        size_t n;

        if (!unit)
                return false;
        n = strlen(unit);
        if (n == 0 || n > 255)
                return false;
        if (strspn(unit, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\@-") != n)
                return false;
        dot = strrchr(unit, '.');
        return dot && dot != unit && dot[1] != '\0';
}

static int check_unit_name(const char *unit, char **ret_error) {
        if (!unit_name_is_plausible(unit))
                return error_set(ret_error, -EINVAL, "'%s' is not a valid unit name", strempty(unit));
        return 0;
}

/* The manager's connection, for a request about @unit (whose name is checked first). */
static int unit_bus(const char *unit, sd_bus **ret, char **ret_error) {
        int r = check_unit_name(unit, ret_error);

        if (r < 0)
                return r;
        return manager_bus(ret, ret_error);
}

/* The same, and @unit's object path. */
static int unit_object(const char *unit, sd_bus **ret_bus, char **ret_path, char **ret_error) {
        int r = unit_bus(unit, ret_bus, ret_error);

        if (r < 0)
                return r;
        return sd_bus_path_encode(UNIT_PATH_PREFIX, unit, ret_path);
}

int unit_bus_check(char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *version = NULL;
        sd_bus *bus;
        int r;

        r = manager_bus(&bus, ret_error);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(bus, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_INTERFACE, "Version",
                                       &error, &version);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error,
                                   "the %s manager does not answer",
                                   unit_bus_kind_to_string(unit_bus_get_kind()));
        return 0;
}

void unit_status_done(UnitStatus *s) {
        free(s->name);
        free(s->description);
        free(s->load_state);
        free(s->active_state);
        free(s->sub_state);
        free(s->object_path);
        free(s->freezer_state);
        *s = (UnitStatus) {};
}

int unit_get_status(const char *unit, UnitStatus *ret, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(unit_status_done) UnitStatus s = {};
        const char *id, *description, *load, *active, *sub, *following, *path, *job_type, *job_path;
        uint32_t job_id;
        sd_bus *bus;
        int r;

        r = unit_bus(unit, &bus, ret_error);
        if (r < 0)
                return r;

        /* ListUnitsByNames, as upstream: it also answers for a unit systemd
         * does not know (LoadState "not-found"), and it costs systemd far
         * less than GetAll of the unit's hundred properties. */
        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_INTERFACE,
                                           "ListUnitsByNames");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, (char *[]) { (char *) unit, NULL });
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error,
                                   "cannot get the status of '%s'", unit);

        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "(ssssssouso)", &id, &description, &load, &active, &sub, &following,
                                &path, &job_id, &job_type, &job_path);
        if (r < 0)
                return r;
        if (r == 0)
                return error_set(ret_error, -ENOENT, "systemd has no status for '%s'", unit);
        s = (UnitStatus) {
                .name = strdup(id),
                .description = strdup(description),
                .load_state = strdup(load),
                .active_state = strdup(active),
                .sub_state = strdup(sub),
                .object_path = strdup(path),
        };
        if (!s.name || !s.description || !s.load_state || !s.active_state || !s.sub_state || !s.object_path)
                return -ENOMEM;

        /* Not in the list above. Upstream reports "error" when it cannot be
         * read (the unit went away in between); so do we, rather than fail. */
        r = sd_bus_get_property_string(bus, SYSTEMD_SERVICE, path, UNIT_INTERFACE, "FreezerState", &error,
                                       &s.freezer_state);
        if (r < 0 && !error_is_disconnect(r)) {
                sd_bus_error_free(&error);
                if (free_and_strdup(&s.freezer_state, "error") < 0)
                        return -ENOMEM;
        } else if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error,
                                   "cannot get the status of '%s'", unit);

        *ret = s;
        s = (UnitStatus) {};
        return 0;
}

/* Waits on this thread's connection for the JobRemoved of @job. */
static int wait_for_job(BusConnection *c, const char *job, const char *unit, int64_t timeout_ms,
                        char **ret_error) {
        uint64_t deadline = now_monotonic_usec() + (uint64_t) MAX(timeout_ms, 0) * USEC_PER_MSEC;
        int r;

        c->job_result = mfree(c->job_result);
        c->waiting_job = job;
        for (;;) {
                uint64_t now;

                r = sd_bus_process(c->bus, NULL);
                if (r < 0)
                        break;
                if (c->job_result)
                        break;
                if (r > 0)
                        continue;

                now = now_monotonic_usec();
                if (now >= deadline) {
                        r = -ETIME;
                        break;
                }
                r = sd_bus_wait(c->bus, deadline - now);
                if (r < 0)
                        break;
        }
        c->waiting_job = NULL;

        if (r == -ETIME)
                return error_set(ret_error, r, "the job for '%s' did not finish within %" PRIi64 " ms", unit,
                                 timeout_ms);
        if (r < 0) {
                int e = error_is_disconnect(r) ? -ENOTCONN : r;

                connection_close(c);
                return error_set(ret_error, e, "lost the manager while waiting for the job of '%s': %s",
                                 unit, strerror(-r));
        }
        if (!streq(c->job_result, "done"))
                r = error_set(ret_error, -EIO, "the job for '%s' finished with result '%s'",
                              unit, c->job_result);
        else
                r = 0;
        c->job_result = mfree(c->job_result);
        return r;
}

/* Sends a method call that enqueues a job, then waits for that job. */
static int call_job(sd_bus_message *m, const char *unit, const char *verb, int64_t timeout_ms,
                    char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *job_slot = NULL;
        const char *job;
        int r;

        /* Matched before the job is enqueued, so that its JobRemoved cannot be missed, and only
         * while waiting: a standing match would collect every job's signal between calls. */
        r = sd_bus_match_signal(manager_connection.bus, &job_slot, SYSTEMD_SERVICE, SYSTEMD_PATH,
                                MANAGER_INTERFACE, "JobRemoved", on_job_removed, &manager_connection);
        if (r < 0) {
                connection_close(&manager_connection);
                return error_set(ret_error, error_is_disconnect(r) ? -ENOTCONN : r,
                                 "cannot watch for the job to %s '%s': %s", verb, unit, strerror(-r));
        }
        r = sd_bus_call(manager_connection.bus, m, 0, &error, &reply);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error, "cannot %s '%s'", verb, unit);
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return r;
        return wait_for_job(&manager_connection, job, unit, timeout_ms, ret_error);
}

static int unit_job(const char *method, const char *verb, const char *unit, int64_t timeout_ms,
                    char **ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus *bus;
        int r;

        r = unit_bus(unit, &bus, ret_error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_INTERFACE,
                                           method);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", unit, "replace");
        if (r < 0)
                return r;
        return call_job(m, unit, verb, timeout_ms, ret_error);
}

int unit_start(const char *unit, int64_t timeout_ms, char **ret_error) {
        return unit_job("StartUnit", "start", unit, timeout_ms, ret_error);
}

int unit_stop(const char *unit, int64_t timeout_ms, char **ret_error) {
        return unit_job("StopUnit", "stop", unit, timeout_ms, ret_error);
}

int unit_restart(const char *unit, int64_t timeout_ms, char **ret_error) {
        return unit_job("RestartUnit", "restart", unit, timeout_ms, ret_error);
}

/* A manager method that takes the unit name (and maybe more) and returns nothing we need. */
static int unit_simple_call(const char *method, const char *verb, const char *unit, char **ret_error,
                            const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus;
        va_list ap;
        int r;

        r = unit_bus(unit, &bus, ret_error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_INTERFACE,
                                           method);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error, "cannot %s '%s'", verb, unit);
        return 0;
}

int unit_kill(const char *unit, const char *whom, int signo, char **ret_error) {
        return unit_simple_call("KillUnit", "signal", unit, ret_error, "ssi", unit, whom, (int32_t) signo);
}

int unit_freeze(const char *unit, char **ret_error) {
        return unit_simple_call("FreezeUnit", "freeze", unit, ret_error, "s", unit);
}

int unit_thaw(const char *unit, char **ret_error) {
        return unit_simple_call("ThawUnit", "thaw", unit, ret_error, "s", unit);
}

int unit_of_self(char **ret) {
        _cleanup_free_ char *cgroup = NULL;
        const char *last;
        int r;

        /* The innermost service in our cgroup path. sd_pid_get_user_unit() would need the user manager
         * to run in user@UID.service, which managers in containers and tests do not. */
        r = sd_pid_get_cgroup(0, &cgroup);
        if (r < 0)
                return r;
        for (;;) {
                size_t n = strlen(cgroup);

                if (n > 0 && cgroup[n - 1] == '/')
                        cgroup[n - 1] = 0;
                last = strrchr(cgroup, '/');
                if (!last)
                        return -ENXIO;
                if (endswith(last + 1, ".service"))
                        break;
                cgroup[last - cgroup] = 0;
        }
        *ret = strdup(last + 1);
        return *ret ? 0 : -ENOMEM;
}

int unit_reset_failed(const char *unit, char **ret_error) {
        return unit_simple_call("ResetFailedUnit", "reset", unit, ret_error, "s", unit);
}

/* The transient unit's property Environment=, as (sv) with an "as" inside. */
static int append_environment(sd_bus_message *m, char *const *environment) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "Environment");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) environment);
        for (int i = 0; i < 2 && r >= 0; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* ExecStart=: one command (path, argv, and "do not ignore failure"), as (sv) with an a(sasb) inside. */
static int append_exec_start(sd_bus_message *m, char *const *argv) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "ExecStart");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sasb");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", argv[0]);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", 0);
        for (int i = 0; i < 4 && r >= 0; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

int unit_start_transient_service(const char *unit, const char *description, char *const *argv,
                                 char *const *environment, int64_t timeout_ms, char **ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus *bus;
        int r;

        r = check_unit_name(unit, ret_error);
        if (r < 0)
                return r;
        if (!argv || !argv[0])
                return error_set(ret_error, -EINVAL, "no command for '%s'", unit);
        r = manager_bus(&bus, ret_error);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_INTERFACE,
                                           "StartTransientUnit");
        if (r < 0)
                return r;
        /* "fail": an existing unit of that name is an error, never replaced. */
        r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)(sv)",
                                          "Description", "s", strempty(description),
                                          "Type", "s", "exec",
                                          "CollectMode", "s", "inactive-or-failed");
        if (r >= 0 && environment && environment[0])
                r = append_environment(m, environment);
        if (r >= 0)
                r = append_exec_start(m, argv);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;

        /* No auxiliary units. */
        r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;

        return call_job(m, unit, "start", timeout_ms, ret_error);
}

void unit_accounting_done(UnitAccounting *a) {
        a->active_state = mfree(a->active_state);
}

int unit_get_accounting(const char *unit, UnitAccounting *ret, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(unit_accounting_done) UnitAccounting a = {};
        _cleanup_free_ char *path = NULL;
        sd_bus *bus;
        int r;

        if (!endswith(strempty(unit), ".service"))
                return error_set(ret_error, -EINVAL, "'%s' is not a service: it has no main process",
                                 strempty(unit));
        r = unit_object(unit, &bus, &path, ret_error);
        if (r < 0)
                return r;

        r = sd_bus_get_property_string(bus, SYSTEMD_SERVICE, path, UNIT_INTERFACE, "ActiveState", &error,
                                       &a.active_state);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SYSTEMD_SERVICE, path, UNIT_INTERFACE,
                                                "ActiveEnterTimestampMonotonic", &error, 't',
                                                &a.active_enter_monotonic_usec);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SYSTEMD_SERVICE, path, SERVICE_INTERFACE, "MainPID",
                                                &error, 'u', &a.main_pid);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SYSTEMD_SERVICE, path, SERVICE_INTERFACE,
                                                "CPUUsageNSec", &error, 't', &a.cpu_usage_nsec);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SYSTEMD_SERVICE, path, SERVICE_INTERFACE,
                                                "MemoryCurrent", &error, 't', &a.memory_current);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error,
                                   "cannot read the accounting of '%s'", unit);

        *ret = a;
        a = (UnitAccounting) {};
        return 0;
}

int unit_get_origin(const char *unit, bool *ret_loaded, bool *ret_transient, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL, *load_state = NULL;
        int transient = 0;
        sd_bus *bus;
        int r;

        r = unit_object(unit, &bus, &path, ret_error);
        if (r < 0)
                return r;
        /* A unit that is not loaded answers too ("not-found", not transient). A transient one is
         * loaded: the common case costs one call. */
        r = sd_bus_get_property_trivial(bus, SYSTEMD_SERVICE, path, UNIT_INTERFACE, "Transient", &error, 'b',
                                        &transient);
        if (r >= 0 && !transient)
                r = sd_bus_get_property_string(bus, SYSTEMD_SERVICE, path, UNIT_INTERFACE, "LoadState", &error,
                                               &load_state);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error, "cannot ask about '%s'", unit);
        *ret_loaded = transient || streq(load_state, "loaded");
        *ret_transient = transient;
        return 0;
}

int manager_set_environment(char *const *assignments, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus;
        int r;

        r = manager_bus(&bus, ret_error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, SYSTEMD_PATH, MANAGER_INTERFACE,
                                           "SetEnvironment");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, (char **) assignments);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return call_failed(&manager_connection, r, &error, ret_error,
                                   "cannot set the environment of the %s manager",
                                   unit_bus_kind_to_string(unit_bus_get_kind()));
        return 0;
}

static BusConnection *system_connection_in_use(void) {
        return unit_bus_get_kind() == UNIT_BUS_SYSTEM ? &manager_connection : &system_connection;
}

int system_set_locale(char *const *assignments, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus;
        int r;

        r = system_bus(&bus, ret_error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.locale1", "/org/freedesktop/locale1",
                                           "org.freedesktop.locale1", "SetLocale");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, (char **) assignments);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "b", 0); /* not interactive: nobody is there to ask */
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return call_failed(system_connection_in_use(), r, &error, ret_error,
                                   "systemd-localed cannot set the locale");
        return 0;
}

int system_set_timezone(const char *timezone, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus *bus;
        int r;

        r = system_bus(&bus, ret_error);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.timedate1", "/org/freedesktop/timedate1",
                               "org.freedesktop.timedate1", "SetTimezone", &error, &reply,
                               "sb", timezone, 0);
        if (r < 0)
                return call_failed(system_connection_in_use(), r, &error, ret_error,
                                   "systemd-timedated cannot set the timezone '%s'", timezone);
        return 0;
}
