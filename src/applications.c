/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Application manifests and the validation of start requests (spec §2.7).
 *
 * Every check here stands between a remote caller and a process the agent
 * starts, so each one is a small hand-written parser that accepts a narrow,
 * documented language and nothing else: no regex engine and its locale
 * rules, no "looks like a URL" heuristics. Arguments never reach a shell,
 * but they do reach programs (browsers, viewers) that interpret them, so a
 * URL is still held to characters no shell or option parser acts on.
 *
 * Upstream's order of checks is kept, so that the error a caller sees for
 * a given request is the one upstream would give: application lookup first,
 * then the unit name, then each argument in turn.
 */

#include <arpa/inet.h>
#include <strings.h>

#include "applications.h"
#include "error-util.h"
#include "json-util.h"
#include "parse-util.h"
#include "utf8.h"

#define WHITESPACE " \t\n\r"
/* [a-zA-Z0-9_-], the class of upstream's unit-name and flag regexes. */
#define WORD_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
#define HEX_DIGITS "0123456789abcdefABCDEF"

/* Limits on what a single argument may be; longer ones are refused outright. */
#define URL_MAX 2048
#define FILE_PATH_MAX 4096
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* The manifest's spelling of each AppArgKind, indexed by its bit number. */
static const char *const app_arg_kind_names[] = { "flag", "url", "file" };
_Static_assert(APP_ARG_FLAG == 1 << 0 && APP_ARG_URL == 1 << 1 && APP_ARG_FILE == 1 << 2,
               "app_arg_kind_names follows the AppArgKind bits");

AppManifests *app_manifests_free(AppManifests *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++) {
                free(m->items[i].name);
                free(m->items[i].command);
        }
        free(m->items);
        free(m);
        return NULL;
}

const AppManifest *app_manifests_find(const AppManifests *m, const char *name) {
        if (!m || !name)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->items[i].name, name))
                        return &m->items[i];
        return NULL;
}

/* A string member of a manifest entry: absent or null gives NULL; any other
 * type is an error naming the field (upstream's Go would fail to unmarshal). */
static int manifest_get_string(json_object *entry, const char *field, const char **ret, char **ret_error) {
        json_object *v = json_get_ci(entry, field);

        if (!v || json_object_is_type(v, json_type_null)) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return error_set(ret_error, -EINVAL, "application %s is not a string", field);
        *ret = json_object_get_string(v);
        return 0;
}

static int manifest_parse_args(json_object *entry, unsigned *ret, char **ret_error) {
        json_object *v = json_get_ci(entry, "args");
        unsigned allowed = 0;
        size_t n;

        /* Absent or null: the application takes no arguments at all. */
        if (!v || json_object_is_type(v, json_type_null)) {
                *ret = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_array))
                return error_set(ret_error, -EINVAL, "application args is not an array");

        n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
                json_object *a = json_object_array_get_idx(v, i);
                const char *s;
                bool found = false;

                if (!a || !json_object_is_type(a, json_type_string))
                        return error_set(ret_error, -EINVAL, "application argument type is not a string");
                s = json_object_get_string(a);
                for (size_t k = 0; k < ELEMENTSOF(app_arg_kind_names); k++)
                        if (streq(s, app_arg_kind_names[k])) {
                                allowed |= 1u << k;
                                found = true;
                        }
                if (!found)
                        return error_set(ret_error, -EINVAL,
                                         "application argument type '%s' not supported", s);
        }

        *ret = allowed;
        return 0;
}

/* Fills the next item of @m from @entry; @m->n grows only when it is complete. */
static int manifest_parse_one(AppManifests *m, json_object *entry, size_t index, char **ret_error) {
        AppManifest *a = &m->items[m->n];
        const char *name, *command;
        unsigned allowed = 0;
        int r;

        if (!json_object_is_type(entry, json_type_object))
                return error_set(ret_error, -EINVAL,
                                 "application manifest entry %zu is not a JSON object", index);

        r = manifest_get_string(entry, "name", &name, ret_error);
        if (r < 0)
                return r;
        if (isempty(name))
                return error_set(ret_error, -EINVAL, "application name is empty");
        if (app_manifests_find(m, name))
                return error_set(ret_error, -EINVAL, "duplicate application name '%s'", name);

        r = manifest_get_string(entry, "command", &command, ret_error);
        if (r < 0)
                return r;
        /* A command of blanks would split into nothing to execute. */
        if (isempty(command) || command[strspn(command, WHITESPACE)] == '\0')
                return error_set(ret_error, -EINVAL, "application command is empty");

        r = manifest_parse_args(entry, &allowed, ret_error);
        if (r < 0)
                return r;

        a->name = strdup(name);
        a->command = strdup(command);
        if (!a->name || !a->command) {
                a->name = mfree(a->name);
                a->command = mfree(a->command);
                return -ENOMEM;
        }
        a->allowed_args = allowed;
        m->n++;
        return 0;
}

int app_manifests_parse(const char *json, AppManifests **ret, char **ret_error) {
        _cleanup_(app_manifests_freep) AppManifests *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        const char *why = NULL;
        size_t n;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;

        /* The agent's environment may leave APPLICATIONS unset or blank. */
        if (!json || json[strspn(json, WHITESPACE)] == '\0') {
                *ret = TAKE_PTR(m);
                return 0;
        }

        r = json_parse(json, &o, &why);
        if (r == -EINVAL)
                return error_set(ret_error, r, "application manifest is not valid JSON: %s", why);
        if (r < 0)
                return r;
        if (!o || !json_object_is_type(o, json_type_array))
                return error_set(ret_error, -EINVAL, "application manifest is not a JSON array");

        n = json_object_array_length(o);
        if (n > 0) {
                m->items = calloc(n, sizeof(AppManifest));
                if (!m->items)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = manifest_parse_one(m, json_object_array_get_idx(o, i), i, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(m);
        return 0;
}

bool app_unit_name_is_valid(const char *unit) {
        const char *at, *suffix;

        if (!unit)
                return false;
        /* ^[a-zA-Z0-9_-]+@[a-zA-Z0-9_-]+\.service$: neither word may hold '@' or '.'. */
        at = unit + strspn(unit, WORD_CHARS);
        if (at == unit || *at != '@')
                return false;
        suffix = at + 1 + strspn(at + 1, WORD_CHARS);
        return suffix > at + 1 && streq(suffix, ".service");
}

char *app_name_from_unit(const char *unit) {
        if (!unit)
                return NULL;
        return strndup(unit, strcspn(unit, "@"));
}

bool app_arg_is_flag(const char *arg) {
        /* ^-[-]?[a-zA-Z0-9_-]+$ is the same language as ^-[a-zA-Z0-9_-]+$,
         * since the class holds '-' itself. */
        return arg && arg[0] == '-' && arg[1] && arg[1 + strspn(arg + 1, WORD_CHARS)] == '\0';
}

static bool is_alnum_ascii(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A DNS name: dot-separated labels of letters, digits and inner hyphens,
 * with at most one trailing dot (a fully qualified name). */
static bool url_host_is_dns_name(const char *s, size_t n) {
        size_t label = 0;

        if (n == 0 || n > DNS_NAME_MAX || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!is_alnum_ascii(c) && c != '-')
                        return false;
                if (c == '-' && label == 0)
                        return false;
                if (++label > DNS_LABEL_MAX)
                        return false;
        }
        return s[n - 1] != '-';
}

/* inet_pton() over a slice of the URL; @n is short for any valid literal. */
static bool url_host_is_ip(int family, const char *s, size_t n) {
        char buf[INET6_ADDRSTRLEN];
        unsigned char addr[sizeof(struct in6_addr)];

        if (n == 0 || n >= sizeof(buf))
                return false;
        memcpy(buf, s, n);
        buf[n] = '\0';
        return inet_pton(family, buf, addr) == 1;
}

static bool url_host_is_valid(const char *s, size_t n) {
        /* All digits and dots reads as an IPv4 address, never as a DNS name,
         * so "999.1.1.1" is refused rather than looked up. */
        if (n > 0 && strspn(s, "0123456789.") >= n)
                return url_host_is_ip(AF_INET, s, n);
        return url_host_is_dns_name(s, n);
}

/* 1..65535, digits only. */
static bool url_port_is_valid(const char *s, size_t n) {
        unsigned v = 0;

        if (n == 0 || n > 5)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        return v >= 1 && v <= 65535;
}

/* host [":" port], host a DNS name, IPv4 or [IPv6] literal; no userinfo. */
static bool url_authority_is_valid(const char *s, size_t n) {
        const char *colon;
        size_t host_len;

        if (memchr(s, '@', n))
                return false;
        if (n > 0 && s[0] == '[') {
                const char *end = memchr(s, ']', n);

                if (!end || !url_host_is_ip(AF_INET6, s + 1, end - s - 1))
                        return false;
                host_len = end - s + 1;
                if (host_len == n)
                        return true;
                return s[host_len] == ':' && url_port_is_valid(s + host_len + 1, n - host_len - 1);
        }

        colon = memchr(s, ':', n);
        host_len = colon ? (size_t) (colon - s) : n;
        if (!url_host_is_valid(s, host_len))
                return false;
        return !colon || url_port_is_valid(colon + 1, n - host_len - 1);
}

/* Path, query and fragment: unreserved characters, the sub-delimiters no
 * shell acts on, and %XX escapes. */
static bool url_rest_is_valid(const char *s) {
        for (; *s; s++) {
                if (is_alnum_ascii(*s) || strchr("-._~!*+,=:@/?#&", *s))
                        continue;
                if (*s != '%' || !s[1] || !s[2] || !strchr(HEX_DIGITS, s[1]) || !strchr(HEX_DIGITS, s[2]))
                        return false;
                s += 2;
        }
        return true;
}

bool app_arg_is_url(const char *arg) {
        const char *sep, *authority;
        size_t scheme_len, authority_len;

        if (!arg || strlen(arg) > URL_MAX)
                return false;

        sep = strstr(arg, "://");
        if (!sep)
                return false;
        scheme_len = sep - arg;
        if (!((scheme_len == 4 && strncasecmp(arg, "http", 4) == 0) ||
              (scheme_len == 5 && strncasecmp(arg, "https", 5) == 0)))
                return false;

        authority = sep + 3;
        authority_len = strcspn(authority, "/?#");
        return url_authority_is_valid(authority, authority_len) &&
               url_rest_is_valid(authority + authority_len);
}

bool app_arg_is_file(const char *arg) {
        size_t n;

        if (!arg || arg[0] != '/')
                return false;
        n = strlen(arg);
        if (n > FILE_PATH_MAX || !utf8_is_valid(arg, n))
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) arg[i] < 0x20 || arg[i] == 0x7f)
                        return false;

        /* Each component sits between a '/' and the next '/' or the end. */
        for (const char *p = arg; p; p = strchr(p + 1, '/'))
                if (strncmp(p, "/..", 3) == 0 && (p[3] == '/' || p[3] == '\0'))
                        return false;
        return true;
}

static bool manifest_allows(const AppManifest *manifest, const char *arg) {
        if ((manifest->allowed_args & APP_ARG_FLAG) && app_arg_is_flag(arg))
                return true;
        if ((manifest->allowed_args & APP_ARG_URL) && app_arg_is_url(arg))
                return true;
        return (manifest->allowed_args & APP_ARG_FILE) && app_arg_is_file(arg);
}

int app_request_validate(const AppManifests *m, const char *unit, char *const *args, size_t n_args,
                         const AppManifest **ret_manifest, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        const AppManifest *manifest;

        name = app_name_from_unit(strempty(unit));
        if (!name)
                return -ENOMEM;
        manifest = app_manifests_find(m, name);
        if (!manifest)
                return error_set(ret_error, -ENOENT, "application '%s' not found in manifest", name);

        if (!app_unit_name_is_valid(unit))
                return error_set(ret_error, -EINVAL,
                                 "failure parsing application name '%s'", strempty(unit));

        for (size_t i = 0; i < n_args; i++)
                if (!args[i] || !manifest_allows(manifest, args[i]))
                        return error_set(ret_error, -EINVAL, "invalid application argument '%s'",
                                         strempty(args[i]));

        if (ret_manifest)
                *ret_manifest = manifest;
        return 0;
}

int app_command_line(const AppManifest *manifest, char *const *args, size_t n_args, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if (!manifest || !manifest->command)
                return -EINVAL;

        /* Upstream splits at single spaces, so "a  b" gave an empty argument;
         * runs of blanks are one separator here. */
        r = strv_split(manifest->command, WHITESPACE, &l);
        if (r < 0)
                return r;
        if (strv_length(l) == 0)
                return -EINVAL;

        for (size_t i = 0; i < n_args; i++) {
                if (!args[i])
                        return -EINVAL;
                r = strv_extend(&l, args[i]);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(l);
        return 0;
}
