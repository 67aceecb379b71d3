/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The sd-bus adapter: everything givc asks of systemd (the system manager or
 * a user manager) and of systemd-localed and systemd-timedated. This is the
 * only code that includes sd-bus headers; the admin and the CLI never talk
 * to D-Bus.
 *
 * Threading rule. sd-bus objects are not thread-safe, so connections are
 * never shared: every thread that calls a function here gets its own
 * connections, opened on its first call and closed when the thread exits
 * (or by unit_bus_close_thread()). Any thread may call any function; a call
 * blocks only its own thread. Which manager to talk to is process-wide and
 * set once, before the first call, with unit_bus_set_kind().
 *
 * The manager is reached through the system or user bus (the broker
 * delivers only matched signals); its private socket only when there is no
 * bus, as systemd sends every signal to every private connection.
 *
 * Jobs (start, stop, restart, transient units) are awaited through the
 * manager's JobRemoved signal, matched on the calling thread's connection
 * before the job is enqueued and only until it is done, with a timeout; a
 * result other than "done" is an error that names the result. D-Bus errors
 * are told apart by their names, never by their text.
 *
 * Errors: -ENOENT no such unit; -EEXIST the unit exists already; -ENOTCONN
 * the bus cannot be reached; -EHOSTDOWN the service (localed, timedated) is
 * not there; -EACCES denied; -EINVAL invalid argument or unit name;
 * -EOPNOTSUPP not supported (freezing without cgroup v2); -ESRCH no process
 * to signal; -ETIME a job did not finish in time; -EIO a job finished with
 * another result than "done"; other negative errno values as sd-bus gives
 * them. With each error, *ret_error (when not NULL) gets a sentence that
 * names the unit, the D-Bus error name and systemd's message.
 */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef enum UnitBusKind {
        UNIT_BUS_SYSTEM, /* the system manager (DBUS_SYSTEM_BUS_ADDRESS is honoured) */
        UNIT_BUS_USER,   /* the user manager (DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR) */
        _UNIT_BUS_KIND_MAX,
        _UNIT_BUS_KIND_INVALID = -EINVAL,
} UnitBusKind;

/* Which manager the unit_* functions talk to. Call before the first of them. */
void unit_bus_set_kind(UnitBusKind kind);
UnitBusKind unit_bus_get_kind(void);
const char *unit_bus_kind_to_string(UnitBusKind kind);

/* Closes the calling thread's connections now (they are reopened on demand). */
void unit_bus_close_thread(void);

/**
 * unit_bus_check() - connect to the manager from this thread and make sure
 * it answers (used at start-up, so a misconfigured bus fails early)
 */
int unit_bus_check(char **ret_error);

typedef struct UnitStatus {
        char *name; /* the unit's primary name (Id) */
        char *description;
        char *load_state;
        char *active_state;
        char *sub_state;
        char *object_path;
        char *freezer_state;
} UnitStatus;

void unit_status_done(UnitStatus *s);

/**
 * unit_get_status() - the state of @unit
 *
 * Loads the unit if needed: a name systemd does not know gives a status with
 * LoadState "not-found" (as ListUnitsByNames does), not an error.
 */
int unit_get_status(const char *unit, UnitStatus *ret, char **ret_error);

/* StartUnit/StopUnit/RestartUnit with mode "replace", waiting for the job up to @timeout_ms. */
int unit_start(const char *unit, int64_t timeout_ms, char **ret_error);
int unit_stop(const char *unit, int64_t timeout_ms, char **ret_error);
int unit_restart(const char *unit, int64_t timeout_ms, char **ret_error);

/* KillUnit: @whom is "main", "control" or "all". */
int unit_kill(const char *unit, const char *whom, int signo, char **ret_error);

/**
 * unit_of_self() - the service this process runs in (the innermost one in its cgroup)
 *
 * With a template (givc-agent@gui-vm.service) it differs from the name the
 * agent registers under (givc-gui-vm.service).
 * Return: 0, -ENXIO when not in a unit of that manager, -ENOMEM.
 */
int unit_of_self(char **ret);

int unit_freeze(const char *unit, char **ret_error);
int unit_thaw(const char *unit, char **ret_error);
int unit_reset_failed(const char *unit, char **ret_error);

/**
 * unit_start_transient_service() - create and start a transient service
 * @unit: its name; an existing unit of that name is an error (-EEXIST),
 *        never replaced
 * @argv: ExecStart, argv[0] being the executable; no shell is involved
 * @environment: "NAME=value" entries, or NULL
 *
 * The service has Type=exec (the start job is done once the program was
 * executed) and CollectMode=inactive-or-failed (it disappears when it ends,
 * whether it failed or not). Waits for the start job up to @timeout_ms.
 */
int unit_start_transient_service(const char *unit, const char *description, char *const *argv,
                                 char *const *environment, int64_t timeout_ms, char **ret_error);

typedef struct UnitAccounting {
        char *active_state;
        uint32_t main_pid;                      /* 0: none */
        uint64_t cpu_usage_nsec;                /* UINT64_MAX: not accounted */
        uint64_t memory_current;                /* UINT64_MAX: not accounted (e.g. memory controller
                                                 * on v1) */
        uint64_t active_enter_monotonic_usec;   /* when the unit became active; 0: never */
} UnitAccounting;

void unit_accounting_done(UnitAccounting *a);

/* Resource accounting of a service unit, from systemd's own counters. */
int unit_get_accounting(const char *unit, UnitAccounting *ret, char **ret_error);

/* Whether @unit is loaded (a unit file or a transient unit is there), and whether it is transient. */
int unit_get_origin(const char *unit, bool *ret_loaded, bool *ret_transient, char **ret_error);

/* Manager.SetEnvironment: variables for units started from now on, e.g. "LANG=de_DE.UTF-8". */
int manager_set_environment(char *const *assignments, char **ret_error);

/* systemd-localed's SetLocale (on the system bus), non-interactive. */
int system_set_locale(char *const *assignments, char **ret_error);

/* systemd-timedated's SetTimezone (on the system bus), non-interactive. */
int system_set_timezone(const char *timezone, char **ret_error);

/* A unit name systemd could accept: 1..255 characters of [A-Za-z0-9:_.\\@-], with a type suffix. */
bool unit_name_is_plausible(const char *unit);
