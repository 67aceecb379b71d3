/* SPDX-License-Identifier: Apache-2.0 */

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>

#include "admin-state.h"
#include "error-util.h"
#include "json-util.h"

#define STATE_VERSION 1
#define STATE_FILE_MAX (64 * 1024 * 1024)

void admin_state_done(AdminState *s) {
        registry_entries_free(s->entries);
        free(s->locale);
        free(s->timezone);
        *s = (AdminState) {};
}

static int add_string(json_object *o, const char *key, const char *value) {
        json_object *v;

        if (!value)
                return 0;
        v = json_object_new_string(value);
        if (!v)
                return -ENOMEM;
        return json_object_object_add(o, key, v) < 0 ? -ENOMEM : 0;
}

static int entry_to_json(const RegistryEntry *e, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object(), *status = json_object_new_object(),
                                   *transport = NULL;
        int r;

        if (!o || !status)
                return -ENOMEM;
        if ((r = add_string(o, "name", e->name)) < 0 ||
            (r = add_string(o, "vm_type", vm_type_to_string(e->type.vm))) < 0 ||
            (r = add_string(o, "service_type", service_type_to_string(e->type.service))) < 0 ||
            (r = add_string(o, "placement", placement_to_string(e->placement))) < 0 ||
            (r = add_string(o, "vm", e->vm)) < 0 || (r = add_string(o, "by", e->by)) < 0 ||
            (r = add_string(status, "description", e->description)) < 0 ||
            (r = add_string(status, "load_state", e->load_state)) < 0 ||
            (r = add_string(status, "active_state", e->active_state)) < 0 ||
            (r = add_string(status, "sub_state", e->sub_state)) < 0 ||
            (r = add_string(status, "path", e->path)) < 0 ||
            (r = add_string(status, "freezer_state", e->freezer_state)) < 0)
                return r;
        if (json_object_object_add(o, "status", TAKE_PTR(status)) < 0 ||
            json_object_object_add(o, "watch", json_object_new_boolean(e->watch)) < 0)
                return -ENOMEM;
        if (e->placement == PLACEMENT_ENDPOINT) {
                transport = json_object_new_object();
                if (!transport)
                        return -ENOMEM;
                if ((r = add_string(transport, "protocol", e->protocol)) < 0 ||
                    (r = add_string(transport, "address", e->address)) < 0 ||
                    (r = add_string(transport, "port", e->port)) < 0 ||
                    (r = add_string(transport, "name", e->tls_name)) < 0)
                        return r;
                if (json_object_object_add(o, "transport", TAKE_PTR(transport)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* Copies an optional string member. */
static int take_string(json_object *o, const char *key, char **ret) {
        json_object *v = json_object_object_get(o, key);

        if (!v || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        return free_and_strdup(ret, json_object_get_string(v));
}

static int entry_from_json(json_object *o, RegistryEntry **ret) {
        _cleanup_(registry_entry_freep) RegistryEntry *e = NULL;
        _cleanup_free_ char *vm_type = NULL, *service_type = NULL, *placement = NULL;
        json_object *status, *transport, *watch;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        status = json_object_object_get(o, "status");
        transport = json_object_object_get(o, "transport");
        watch = json_object_object_get(o, "watch");
        if ((r = take_string(o, "name", &e->name)) < 0 || (r = take_string(o, "vm_type", &vm_type)) < 0 ||
            (r = take_string(o, "service_type", &service_type)) < 0 ||
            (r = take_string(o, "placement", &placement)) < 0 || (r = take_string(o, "vm", &e->vm)) < 0 ||
            (r = take_string(o, "by", &e->by)) < 0)
                return r;
        if (status && ((r = take_string(status, "description", &e->description)) < 0 ||
                       (r = take_string(status, "load_state", &e->load_state)) < 0 ||
                       (r = take_string(status, "active_state", &e->active_state)) < 0 ||
                       (r = take_string(status, "sub_state", &e->sub_state)) < 0 ||
                       (r = take_string(status, "path", &e->path)) < 0 ||
                       (r = take_string(status, "freezer_state", &e->freezer_state)) < 0))
                return r;
        if (transport && ((r = take_string(transport, "protocol", &e->protocol)) < 0 ||
                          (r = take_string(transport, "address", &e->address)) < 0 ||
                          (r = take_string(transport, "port", &e->port)) < 0 ||
                          (r = take_string(transport, "name", &e->tls_name)) < 0))
                return r;

        e->type.vm = vm_type_from_string(vm_type);
        e->type.service = service_type_from_string(service_type);
        e->placement = placement_from_string(placement);
        if (isempty(e->name) || e->type.vm < 0 || e->type.service < 0 || e->placement < 0)
                return -EBADMSG;
        if (e->placement == PLACEMENT_MANAGED && isempty(e->by))
                return -EBADMSG;
        if (e->placement == PLACEMENT_ENDPOINT && isempty(e->address))
                return -EBADMSG;
        e->watch = watch && json_object_get_boolean(watch);
        *ret = TAKE_PTR(e);
        return 0;
}

int admin_state_load(const char *path, AdminState *ret, char **ret_error) {
        _cleanup_(admin_state_done) AdminState s = {};
        _cleanup_json_ json_object *root = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *text = NULL;
        json_object *entries, *version;
        const char *why = NULL;
        size_t size = 0, n;
        struct stat st;
        int r;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (fstat(fileno(f), &st) < 0)
                return -errno;
        if (st.st_size > STATE_FILE_MAX)
                return error_set(ret_error, -EBADMSG, "'%s' is larger than %d bytes", path, STATE_FILE_MAX);
        text = calloc(1, (size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        size = fread(text, 1, (size_t) st.st_size, f);
        if (ferror(f))
                return -EIO;
        text[size] = '\0';

        r = json_parse(text, &root, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_object_is_type(root, json_type_object))
                return error_set(ret_error, -EBADMSG, "'%s' is not a state document: %s", path,
                                 why ?: "not a JSON object");
        version = json_object_object_get(root, "version");
        if (!version || json_object_get_int(version) != STATE_VERSION)
                return error_set(ret_error, -EBADMSG, "'%s' has an unknown version", path);
        if (take_string(root, "locale", &s.locale) < 0 || take_string(root, "timezone", &s.timezone) < 0)
                return error_set(ret_error, -EBADMSG, "'%s': locale and timezone must be strings", path);

        entries = json_object_object_get(root, "entries");
        if (entries && !json_object_is_type(entries, json_type_array))
                return error_set(ret_error, -EBADMSG, "'%s': \"entries\" must be an array", path);
        n = entries ? json_object_array_length(entries) : 0;
        s.entries = calloc(n + 1, sizeof(RegistryEntry *));
        if (!s.entries)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = entry_from_json(json_object_array_get_idx(entries, i), &s.entries[s.n_entries]);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_set(ret_error, -EBADMSG,
                                         "'%s': entry %zu is not a valid registry entry", path, i);
                s.n_entries++;
        }

        *ret = s;
        s = (AdminState) {};
        return 0;
}

static int write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

int admin_state_save(const char *path, RegistryEntry *const *entries, size_t n, const char *locale,
                     const char *timezone) {
        _cleanup_json_ json_object *root = json_object_new_object(), *list = json_object_new_array();
        _cleanup_free_ char *tmp = NULL, *dir_copy = NULL;
        _cleanup_close_ int fd = -EBADF, dir_fd = -EBADF;
        const char *text;
        int r;

        if (!root || !list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o = NULL;

                r = entry_to_json(entries[i], &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(list, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        if (json_object_object_add(root, "version", json_object_new_int(STATE_VERSION)) < 0 ||
            (r = add_string(root, "locale", locale)) < 0 ||
            (r = add_string(root, "timezone", timezone)) < 0 ||
            json_object_object_add(root, "entries", TAKE_PTR(list)) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, text, strlen(text));
        if (r >= 0)
                r = write_all(fd, "\n", 1);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }

        /* The rename itself must survive a crash too. */
        dir_copy = strdup(path);
        if (!dir_copy)
                return -ENOMEM;
        dir_fd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0)
                (void) fsync(dir_fd);
        return 0;
}
