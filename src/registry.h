/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The admin's registry (spec §3.2–3.3): every agent, service and
 * application of the system, keyed by unit name, with its type, its last
 * known systemd status and where it lives.
 *
 * Placement says how to reach an entry: an agent is an Endpoint (it is
 * reached at its own TransportConfig, in a VM); a service or application is
 * Managed by an agent (reached through that agent); Host entries have no VM.
 *
 * Thread-safe: one mutex guards everything, and every call holds it only
 * for in-memory work. Readers get copies. Changes are announced to
 * listeners in the order they happen, under the lock, so a listener (a
 * Watch stream, the state writer) sees exactly the sequence of changes; a
 * listener must therefore only queue work, never block.
 */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* Upstream's unit types 0..14 (spec §2.1): a VM kind and a service kind. */
typedef enum VmType {
        VM_TYPE_HOST,
        VM_TYPE_ADMVM,
        VM_TYPE_SYSVM,
        VM_TYPE_APPVM,
        _VM_TYPE_MAX,
        _VM_TYPE_INVALID = -EINVAL,
} VmType;

typedef enum ServiceType {
        SERVICE_TYPE_MGR,
        SERVICE_TYPE_SVC,
        SERVICE_TYPE_APP,
        SERVICE_TYPE_VM,
        _SERVICE_TYPE_MAX,
        _SERVICE_TYPE_INVALID = -EINVAL,
} ServiceType;

typedef struct UnitType {
        VmType vm;
        ServiceType service;
} UnitType;

/* 0..14 as upstream numbers them; -EINVAL otherwise. */
int unit_type_from_u32(uint32_t n, UnitType *ret);
/* The number of a type; Host/VM has none (upstream's 100500 quirk): -EINVAL. */
int unit_type_to_u32(UnitType t, uint32_t *ret);
const char *vm_type_to_string(VmType t);       /* "Host", "AdmVM", "SysVM", "AppVM" */
const char *service_type_to_string(ServiceType t); /* "Mgr", "Svc", "App", "VM" */
VmType vm_type_from_string(const char *s);
ServiceType service_type_from_string(const char *s);

typedef enum Placement {
        PLACEMENT_ENDPOINT, /* reached at its own endpoint */
        PLACEMENT_MANAGED,  /* reached through the agent in 'by' */
        PLACEMENT_HOST,     /* neither: nothing to reach */
        _PLACEMENT_MAX,
        _PLACEMENT_INVALID = -EINVAL,
} Placement;

const char *placement_to_string(Placement p);
Placement placement_from_string(const char *s);

typedef struct RegistryEntry {
        char *name;
        UnitType type;

        /* The last status from systemd (spec §3.2's UnitStatus). */
        char *description;
        char *load_state;
        char *active_state;
        char *sub_state;
        char *path;
        char *freezer_state;

        Placement placement;
        char *vm;           /* the VM's unit, e.g. "microvm@gui-vm.service"; NULL for none */
        char *by;           /* MANAGED: the agent entry's name */
        char *protocol;     /* ENDPOINT: the TransportConfig as registered */
        char *address;
        char *port;
        char *tls_name;

        bool watch;         /* the monitor polls it (every entry registered or started) */
        bool unreachable;   /* the last poll could not reach its agent */
        uint64_t status_ticket; /* when the status was asked for (registry_status_ticket()) */
} RegistryEntry;

RegistryEntry *registry_entry_free(RegistryEntry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(RegistryEntry *, registry_entry_free);
int registry_entry_copy(const RegistryEntry *e, RegistryEntry **ret);
/* Equal in everything a client can see or the admin relies on. */
bool registry_entry_equal(const RegistryEntry *a, const RegistryEntry *b);
/* Equal in what QueryList and Watch show (name, description, status, types, VM, agent). */
bool registry_entry_shown_equal(const RegistryEntry *a, const RegistryEntry *b);

/* Upstream's status rules (spec §3.2). */
bool registry_entry_is_paused(const RegistryEntry *e);
bool registry_entry_is_running(const RegistryEntry *e);
/* An application that finished: not-found, inactive, dead. */
bool registry_entry_has_exited(const RegistryEntry *e);
/* "Running", "Paused" or "PoweredOff". */
const char *registry_entry_vm_status(const RegistryEntry *e);
/* The agent that runs it: its own name for an endpoint, 'by' when managed, NULL on the host. */
const char *registry_entry_agent_name(const RegistryEntry *e);

/* A NULL-terminated array of entries, freed with registry_entries_free(). */
void registry_entries_free(RegistryEntry **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(RegistryEntry **, registry_entries_free);

typedef struct Registry Registry;

typedef enum RegistryEventKind {
        REGISTRY_ADDED,
        REGISTRY_UPDATED,
        REGISTRY_REMOVED,
        REGISTRY_STATUS, /* updated, but only the status from systemd (or reachability) changed */
        _REGISTRY_EVENT_KIND_MAX,
        _REGISTRY_EVENT_KIND_INVALID = -EINVAL,
} RegistryEventKind;

/* Called under the registry lock: queue, never block, never call back into the registry.
 * @previous: what UPDATED and STATUS replaced; NULL for ADDED and REMOVED. */
typedef void (*RegistryListener)(RegistryEventKind kind, const RegistryEntry *entry,
                                 const RegistryEntry *previous, void *userdata);
/* Called under the lock once, with every entry (sorted by name), before the first event. */
typedef void (*RegistrySnapshotCallback)(RegistryEntry *const *entries, size_t n, void *userdata);

typedef struct RegistryListenerSlot RegistryListenerSlot;

int registry_new(Registry **ret);
Registry *registry_free(Registry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Registry *, registry_free);

/**
 * registry_register() - insert @e, or replace the entry of the same name
 * @e: taken over by the registry (also on failure)
 * @keep_status: when replacing, keep the old entry's status (a
 *               re-registration says nothing new about the unit's state)
 *
 * Emits ADDED for a new entry, UPDATED when a replacement differs, nothing
 * when it is the same. Return: 0, -ENOMEM.
 */
int registry_register(Registry *r, RegistryEntry *e, bool keep_status);

/**
 * registry_deregister() - remove @name and everything it manages
 *
 * Entries managed by @name, or placed in the VM called @name, go first
 * (REMOVED for each), then @name itself. Return: 0, -ENOENT.
 */
int registry_deregister(Registry *r, const char *name);

/*
 * A ticket for a status about to be asked for, increasing. Polls of the same
 * unit overlap (the monitor's, and the one after a Pause), and the answer to
 * the older question may come last: the ticket tells which one is current.
 */
uint64_t registry_status_ticket(Registry *r);

/**
 * registry_update_status() - store a new status for @name
 * @ticket: registry_status_ticket() taken before the status was asked for;
 *          0 for "now" (a status known without asking)
 * @unreachable: the agent could not be asked (the status then says "not
 *               running"), or false for a real answer
 *
 * A status older than the stored one (a smaller ticket) is dropped. Emits
 * UPDATED only when something changed. Return: 1 changed, 0 same or older,
 * -ENOENT.
 */
int registry_update_status(Registry *r, const char *name, uint64_t ticket, const char *description,
                           const char *load_state, const char *active_state, const char *sub_state,
                           const char *path, const char *freezer_state, bool unreachable);

/* A copy of the entry called @name. Return: 0, -ENOENT, -ENOMEM. */
int registry_get(Registry *r, const char *name, RegistryEntry **ret);

/* Copies of all entries (sorted by name), NULL-terminated. */
int registry_list(Registry *r, RegistryEntry ***ret, size_t *ret_n);

/**
 * registry_visit() - call @fn with every entry (sorted by name), under the lock
 *
 * Without copies, for a reader that only packs what it sees (QueryList of a
 * big registry). @fn must be quick and must not call back into the registry.
 */
void registry_visit(Registry *r, void (*fn)(RegistryEntry *const *entries, size_t n, void *userdata),
                    void *userdata);

/* Copies of the entries the monitor polls. */
int registry_watch_list(Registry *r, RegistryEntry ***ret);

/* Copies of the entries whose name starts with @prefix. */
int registry_find_prefix(Registry *r, const char *prefix, RegistryEntry ***ret);

/* The one entry of type @t. Return: 0, -ENOENT (none), -ENOTUNIQ (several). */
int registry_find_by_type(Registry *r, UnitType t, RegistryEntry **ret);

/**
 * registry_reserve_name() - the smallest "<app>@<N>.service" (N ≥ 0) that is
 * neither registered nor reserved, reserved until registry_register() of
 * that name or registry_unreserve(). Concurrent starts get different names.
 */
int registry_reserve_name(Registry *r, const char *app, char **ret);
void registry_unreserve(Registry *r, const char *name);

/**
 * registry_subscribe() - hear about every change from now on
 * @snapshot: if not NULL, called first with every entry, under the same lock,
 *            so nothing happens between the snapshot and the first event
 */
int registry_subscribe(Registry *r, RegistryListener listener, RegistrySnapshotCallback snapshot,
                       void *userdata, RegistryListenerSlot **ret);
void registry_unsubscribe(Registry *r, RegistryListenerSlot *slot);

size_t registry_size(Registry *r);

bool registry_contains(Registry *r, const char *name);
