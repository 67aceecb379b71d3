/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entries live in an array sorted by name (binary search; a system has tens
 * to a few thousand entries). Everything happens under one mutex, held for
 * copying and comparing only; listeners are called under it so that the
 * order of events is the order of changes.
 */

#include <pthread.h>
#include <stdio.h>

#include "parse-util.h"
#include "registry.h"

static const char *const vm_type_names[_VM_TYPE_MAX] = {
        [VM_TYPE_HOST] = "Host",
        [VM_TYPE_ADMVM] = "AdmVM",
        [VM_TYPE_SYSVM] = "SysVM",
        [VM_TYPE_APPVM] = "AppVM",
};

static const char *const service_type_names[_SERVICE_TYPE_MAX] = {
        [SERVICE_TYPE_MGR] = "Mgr",
        [SERVICE_TYPE_SVC] = "Svc",
        [SERVICE_TYPE_APP] = "App",
        [SERVICE_TYPE_VM] = "VM",
};

static const char *const placement_names[_PLACEMENT_MAX] = {
        [PLACEMENT_ENDPOINT] = "endpoint",
        [PLACEMENT_MANAGED] = "managed",
        [PLACEMENT_HOST] = "host",
};

/* Upstream's numbering (modules/pkgs/types/types.go): Host has no VM entry. */
static const UnitType unit_types[] = {
        { VM_TYPE_HOST, SERVICE_TYPE_MGR },   { VM_TYPE_HOST, SERVICE_TYPE_SVC },
        { VM_TYPE_HOST, SERVICE_TYPE_APP },
        { VM_TYPE_ADMVM, SERVICE_TYPE_VM },   { VM_TYPE_ADMVM, SERVICE_TYPE_MGR },
        { VM_TYPE_ADMVM, SERVICE_TYPE_SVC },  { VM_TYPE_ADMVM, SERVICE_TYPE_APP },
        { VM_TYPE_SYSVM, SERVICE_TYPE_VM },   { VM_TYPE_SYSVM, SERVICE_TYPE_MGR },
        { VM_TYPE_SYSVM, SERVICE_TYPE_SVC },  { VM_TYPE_SYSVM, SERVICE_TYPE_APP },
        { VM_TYPE_APPVM, SERVICE_TYPE_VM },   { VM_TYPE_APPVM, SERVICE_TYPE_MGR },
        { VM_TYPE_APPVM, SERVICE_TYPE_SVC },  { VM_TYPE_APPVM, SERVICE_TYPE_APP },
};

int unit_type_from_u32(uint32_t n, UnitType *ret) {
        if (n >= ELEMENTSOF(unit_types))
                return -EINVAL;
        *ret = unit_types[n];
        return 0;
}

int unit_type_to_u32(UnitType t, uint32_t *ret) {
        for (uint32_t i = 0; i < ELEMENTSOF(unit_types); i++)
                if (unit_types[i].vm == t.vm && unit_types[i].service == t.service) {
                        *ret = i;
                        return 0;
                }
        return -EINVAL;
}

const char *vm_type_to_string(VmType t) {
        return t >= 0 && t < _VM_TYPE_MAX ? vm_type_names[t] : NULL;
}

const char *service_type_to_string(ServiceType t) {
        return t >= 0 && t < _SERVICE_TYPE_MAX ? service_type_names[t] : NULL;
}

VmType vm_type_from_string(const char *s) {
        for (int i = 0; i < _VM_TYPE_MAX; i++)
                if (streq_ptr(vm_type_names[i], s))
                        return i;
        return _VM_TYPE_INVALID;
}

ServiceType service_type_from_string(const char *s) {
        for (int i = 0; i < _SERVICE_TYPE_MAX; i++)
                if (streq_ptr(service_type_names[i], s))
                        return i;
        return _SERVICE_TYPE_INVALID;
}

const char *placement_to_string(Placement p) {
        return p >= 0 && p < _PLACEMENT_MAX ? placement_names[p] : NULL;
}

Placement placement_from_string(const char *s) {
        for (int i = 0; i < _PLACEMENT_MAX; i++)
                if (streq_ptr(placement_names[i], s))
                        return i;
        return _PLACEMENT_INVALID;
}

/* The string fields, for copying, comparing and freeing in one place. */
#define ENTRY_STRINGS(e)                                                                            \
        &(e)->name, &(e)->description, &(e)->load_state, &(e)->active_state, &(e)->sub_state,      \
                &(e)->path, &(e)->freezer_state, &(e)->vm, &(e)->by, &(e)->protocol, &(e)->address, \
                &(e)->port, &(e)->tls_name

RegistryEntry *registry_entry_free(RegistryEntry *e) {
        if (!e)
                return NULL;
        char **fields[] = { ENTRY_STRINGS(e) };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                free(*fields[i]);
        free(e);
        return NULL;
}

int registry_entry_copy(const RegistryEntry *e, RegistryEntry **ret) {
        _cleanup_(registry_entry_freep) RegistryEntry *c = NULL;

        c = malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = *e;
        char **fields[] = { ENTRY_STRINGS(c) };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                *fields[i] = NULL;

        char *const *sources[] = { ENTRY_STRINGS(e) };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (*sources[i] && !(*fields[i] = strdup(*sources[i])))
                        return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

bool registry_entry_equal(const RegistryEntry *a, const RegistryEntry *b) {
        char *const *fa[] = { ENTRY_STRINGS(a) };
        char *const *fb[] = { ENTRY_STRINGS(b) };

        for (size_t i = 0; i < ELEMENTSOF(fa); i++)
                if (!streq_ptr(*fa[i], *fb[i]))
                        return false;
        return a->type.vm == b->type.vm && a->type.service == b->type.service &&
               a->placement == b->placement && a->watch == b->watch && a->unreachable == b->unreachable;
}

bool registry_entry_shown_equal(const RegistryEntry *a, const RegistryEntry *b) {
        return streq(a->name, b->name) && streq(strempty(a->description), strempty(b->description)) &&
               streq(registry_entry_vm_status(a), registry_entry_vm_status(b)) &&
               a->type.vm == b->type.vm && a->type.service == b->type.service && streq_ptr(a->vm, b->vm) &&
               streq_ptr(registry_entry_agent_name(a), registry_entry_agent_name(b));
}

bool registry_entry_is_paused(const RegistryEntry *e) {
        return streq_ptr(e->freezer_state, "frozen");
}

bool registry_entry_is_running(const RegistryEntry *e) {
        return !registry_entry_is_paused(e) && streq_ptr(e->active_state, "active") &&
               streq_ptr(e->load_state, "loaded") && streq_ptr(e->sub_state, "running");
}

bool registry_entry_has_exited(const RegistryEntry *e) {
        return streq_ptr(e->active_state, "inactive") && streq_ptr(e->load_state, "not-found") &&
               streq_ptr(e->sub_state, "dead");
}

const char *registry_entry_vm_status(const RegistryEntry *e) {
        if (!e->unreachable && registry_entry_is_running(e))
                return "Running";
        if (!e->unreachable && registry_entry_is_paused(e))
                return "Paused";
        return "PoweredOff";
}

const char *registry_entry_agent_name(const RegistryEntry *e) {
        switch (e->placement) {
        case PLACEMENT_ENDPOINT:
                return e->name;
        case PLACEMENT_MANAGED:
                return e->by;
        default:
                return NULL;
        }
}

void registry_entries_free(RegistryEntry **l) {
        for (RegistryEntry **i = l; i && *i; i++)
                registry_entry_free(*i);
        free(l);
}

struct RegistryListenerSlot {
        RegistryListenerSlot *next;
        RegistryListener listener;
        void *userdata;
};

struct Registry {
        pthread_mutex_t lock;
        RegistryEntry **entries; /* sorted by name */
        size_t n, allocated;
        char **reserved;         /* names handed out by registry_reserve_name() */
        RegistryListenerSlot *listeners;
        uint64_t status_clock;   /* the last ticket handed out */
};

int registry_new(Registry **ret) {
        Registry *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        pthread_mutex_init(&r->lock, NULL);
        *ret = r;
        return 0;
}

Registry *registry_free(Registry *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n; i++)
                registry_entry_free(r->entries[i]);
        free(r->entries);
        strv_free(r->reserved);
        for (RegistryListenerSlot *s = r->listeners, *next; s; s = next) {
                next = s->next;
                free(s);
        }
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

/* Index of @name, or of where it would go (*ret_found false). Lock held. */
static size_t find_locked(Registry *r, const char *name, bool *ret_found) {
        size_t lo = 0, hi = r->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(r->entries[mid]->name, name);

                if (c == 0) {
                        *ret_found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret_found = false;
        return lo;
}

static void emit_locked(Registry *r, RegistryEventKind kind, const RegistryEntry *e,
                        const RegistryEntry *previous) {
        for (RegistryListenerSlot *s = r->listeners; s; s = s->next)
                s->listener(kind, e, previous, s->userdata);
}

static void unreserve_locked(Registry *r, const char *name) {
        size_t n = strv_length(r->reserved);

        for (size_t i = 0; i < n; i++)
                if (streq(r->reserved[i], name)) {
                        free(r->reserved[i]);
                        r->reserved[i] = r->reserved[n - 1];
                        r->reserved[n - 1] = NULL;
                        return;
                }
}

int registry_register(Registry *r, RegistryEntry *e, bool keep_status) {
        _cleanup_(registry_entry_freep) RegistryEntry *entry = e;
        bool found;
        size_t i;
        int ret = 0;

        pthread_mutex_lock(&r->lock);
        /* What it brings is the newest status: a poll already on its way is older. */
        entry->status_ticket = ++r->status_clock;
        i = find_locked(r, entry->name, &found);
        if (found) {
                RegistryEntry *old = r->entries[i];

                if (keep_status) {
                        /* The status says more than a registration does. */
                        char **mine[] = { &entry->description, &entry->load_state, &entry->active_state,
                                          &entry->sub_state, &entry->path, &entry->freezer_state };
                        char **theirs[] = { &old->description, &old->load_state, &old->active_state,
                                            &old->sub_state, &old->path, &old->freezer_state };

                        for (size_t k = 0; k < ELEMENTSOF(mine); k++)
                                if (free_and_strdup(mine[k], *theirs[k]) < 0) {
                                        ret = -ENOMEM;
                                        goto finish;
                                }
                        /* But not "unreachable": it just reached us. Whoever registers it polls it
                         * again, to know for sure. */
                }
                r->entries[i] = TAKE_PTR(entry);
                if (!registry_entry_equal(old, r->entries[i]))
                        emit_locked(r, REGISTRY_UPDATED, r->entries[i], old);
                registry_entry_free(old);
        } else {
                if (r->n == r->allocated) {
                        size_t a = MAX(r->allocated * 2, (size_t) 16);
                        RegistryEntry **l = reallocarray(r->entries, a, sizeof(RegistryEntry *));

                        if (!l) {
                                ret = -ENOMEM;
                                goto finish;
                        }
                        r->entries = l;
                        r->allocated = a;
                }
                memmove(r->entries + i + 1, r->entries + i, (r->n - i) * sizeof(RegistryEntry *));
                r->entries[i] = TAKE_PTR(entry);
                r->n++;
                emit_locked(r, REGISTRY_ADDED, r->entries[i], NULL);
        }
        unreserve_locked(r, r->entries[i]->name);

finish:
        pthread_mutex_unlock(&r->lock);
        return ret;
}

/* Removes the entry at @i and announces it. Lock held. */
static void remove_at_locked(Registry *r, size_t i) {
        RegistryEntry *e = r->entries[i];

        memmove(r->entries + i, r->entries + i + 1, (r->n - i - 1) * sizeof(RegistryEntry *));
        r->n--;
        emit_locked(r, REGISTRY_REMOVED, e, NULL);
        registry_entry_free(e);
}

int registry_deregister(Registry *r, const char *name) {
        bool found;
        size_t i;

        pthread_mutex_lock(&r->lock);
        (void) find_locked(r, name, &found);
        if (!found) {
                pthread_mutex_unlock(&r->lock);
                return -ENOENT;
        }

        /* What it manages goes first (upstream's cascade). */
        for (size_t k = 0; k < r->n;) {
                RegistryEntry *e = r->entries[k];

                if (!streq(e->name, name) &&
                    (streq_ptr(registry_entry_agent_name(e), name) || streq_ptr(e->vm, name)))
                        remove_at_locked(r, k);
                else
                        k++;
        }
        i = find_locked(r, name, &found);
        if (found)
                remove_at_locked(r, i);
        pthread_mutex_unlock(&r->lock);
        return 0;
}

uint64_t registry_status_ticket(Registry *r) {
        uint64_t t;

        pthread_mutex_lock(&r->lock);
        t = ++r->status_clock;
        pthread_mutex_unlock(&r->lock);
        return t;
}

int registry_update_status(Registry *r, const char *name, uint64_t ticket, const char *description,
                           const char *load_state, const char *active_state, const char *sub_state,
                           const char *path, const char *freezer_state, bool unreachable) {
        _cleanup_(registry_entry_freep) RegistryEntry *updated = NULL;
        bool found;
        size_t i;
        int ret;

        pthread_mutex_lock(&r->lock);
        if (ticket == 0)
                ticket = ++r->status_clock;
        i = find_locked(r, name, &found);
        if (!found) {
                ret = -ENOENT;
                goto finish;
        }
        if (ticket < r->entries[i]->status_ticket) {
                ret = 0; /* a newer answer is in already */
                goto finish;
        }
        r->entries[i]->status_ticket = ticket;
        ret = registry_entry_copy(r->entries[i], &updated);
        if (ret < 0)
                goto finish;

        if (!unreachable) {
                const char *values[] =
                        { description, load_state, active_state, sub_state, path, freezer_state };
                char **fields[] = { &updated->description, &updated->load_state,   &updated->active_state,
                                    &updated->sub_state,   &updated->path,         &updated->freezer_state };

                for (size_t k = 0; k < ELEMENTSOF(fields); k++) {
                        ret = free_and_strdup(fields[k], values[k]);
                        if (ret < 0)
                                goto finish;
                }
        }
        /* Unreachable: the last known status stays, marked as not current. */
        updated->unreachable = unreachable;

        if (registry_entry_equal(updated, r->entries[i])) {
                ret = 0;
                goto finish;
        }
        /* The old one lives until the listeners have seen both. */
        RegistryEntry *previous = r->entries[i];
        r->entries[i] = TAKE_PTR(updated);
        updated = previous;
        emit_locked(r, REGISTRY_STATUS, r->entries[i], previous);
        ret = 1;

finish:
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int registry_get(Registry *r, const char *name, RegistryEntry **ret) {
        bool found;
        size_t i;
        int e;

        pthread_mutex_lock(&r->lock);
        i = find_locked(r, name, &found);
        e = found ? registry_entry_copy(r->entries[i], ret) : -ENOENT;
        pthread_mutex_unlock(&r->lock);
        return e;
}

/* Copies of the entries @filter accepts, in name order. */
static int collect(Registry *r, bool (*filter)(const RegistryEntry *e, const void *arg), const void *arg,
                   RegistryEntry ***ret, size_t *ret_n) {
        RegistryEntry **l;
        size_t n = 0;
        int e = 0;

        pthread_mutex_lock(&r->lock);
        l = calloc(r->n + 1, sizeof(RegistryEntry *));
        if (!l)
                e = -ENOMEM;
        for (size_t i = 0; l && i < r->n; i++) {
                if (filter && !filter(r->entries[i], arg))
                        continue;
                e = registry_entry_copy(r->entries[i], &l[n]);
                if (e < 0)
                        break;
                n++;
        }
        pthread_mutex_unlock(&r->lock);

        if (e < 0) {
                registry_entries_free(l);
                return e;
        }
        *ret = l;
        if (ret_n)
                *ret_n = n;
        return 0;
}

int registry_list(Registry *r, RegistryEntry ***ret, size_t *ret_n) {
        return collect(r, NULL, NULL, ret, ret_n);
}

static bool is_watched(const RegistryEntry *e, const void *arg) {
        return e->watch;
}

int registry_watch_list(Registry *r, RegistryEntry ***ret) {
        return collect(r, is_watched, NULL, ret, NULL);
}

static bool has_prefix(const RegistryEntry *e, const void *arg) {
        return startswith(e->name, arg) != NULL;
}

int registry_find_prefix(Registry *r, const char *prefix, RegistryEntry ***ret) {
        return collect(r, has_prefix, prefix, ret, NULL);
}

static bool has_type(const RegistryEntry *e, const void *arg) {
        const UnitType *t = arg;

        return e->type.vm == t->vm && e->type.service == t->service;
}

int registry_find_by_type(Registry *r, UnitType t, RegistryEntry **ret) {
        _cleanup_(registry_entries_freep) RegistryEntry **l = NULL;
        size_t n;
        int e;

        e = collect(r, has_type, &t, &l, &n);
        if (e < 0)
                return e;
        if (n == 0)
                return -ENOENT;
        if (n > 1)
                return -ENOTUNIQ;
        *ret = TAKE_PTR(l[0]);
        return 0;
}

int registry_reserve_name(Registry *r, const char *app, char **ret) {
        int e = 0;

        pthread_mutex_lock(&r->lock);
        for (unsigned n = 0;; n++) {
                _cleanup_free_ char *name = NULL;
                bool found, reserved = false;

                if (asprintf(&name, "%s@%u.service", app, n) < 0) {
                        e = -ENOMEM;
                        break;
                }
                (void) find_locked(r, name, &found);
                for (char **s = r->reserved; s && *s && !reserved; s++)
                        reserved = streq(*s, name);
                if (found || reserved)
                        continue;
                e = strv_extend(&r->reserved, name);
                if (e >= 0)
                        *ret = TAKE_PTR(name);
                break;
        }
        pthread_mutex_unlock(&r->lock);
        return e;
}

void registry_unreserve(Registry *r, const char *name) {
        pthread_mutex_lock(&r->lock);
        unreserve_locked(r, name);
        pthread_mutex_unlock(&r->lock);
}

void registry_visit(Registry *r, void (*fn)(RegistryEntry *const *entries, size_t n, void *userdata),
                    void *userdata) {
        pthread_mutex_lock(&r->lock);
        fn(r->entries, r->n, userdata);
        pthread_mutex_unlock(&r->lock);
}

int registry_subscribe(Registry *r, RegistryListener listener, RegistrySnapshotCallback snapshot,
                       void *userdata, RegistryListenerSlot **ret) {
        RegistryListenerSlot *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->listener = listener;
        s->userdata = userdata;

        pthread_mutex_lock(&r->lock);
        if (snapshot)
                snapshot(r->entries, r->n, userdata);
        s->next = r->listeners;
        r->listeners = s;
        pthread_mutex_unlock(&r->lock);

        *ret = s;
        return 0;
}

void registry_unsubscribe(Registry *r, RegistryListenerSlot *slot) {
        pthread_mutex_lock(&r->lock);
        for (RegistryListenerSlot **p = &r->listeners; *p; p = &(*p)->next)
                if (*p == slot) {
                        *p = slot->next;
                        free(slot);
                        break;
                }
        pthread_mutex_unlock(&r->lock);
}

size_t registry_size(Registry *r) {
        size_t n;

        pthread_mutex_lock(&r->lock);
        n = r->n;
        pthread_mutex_unlock(&r->lock);
        return n;
}

bool registry_contains(Registry *r, const char *name) {
        bool found;

        pthread_mutex_lock(&r->lock);
        (void) find_locked(r, name, &found);
        pthread_mutex_unlock(&r->lock);
        return found;
}
