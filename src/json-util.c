/* SPDX-License-Identifier: Apache-2.0 */

#include <strings.h>

#include "json-util.h"
#include "parse-util.h"

int json_parse(const char *text, json_object **ret, const char **ret_error) {
        json_tokener *tok;
        json_object *o;
        enum json_tokener_error e;
        const char *why = NULL;
        size_t len = strlen(text), end;

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        /* The terminating NUL is passed too: it ends a bare value (1, null,
         * true) that json-c would otherwise wait to see continued. */
        o = json_tokener_parse_ex(tok, text, (int) len + 1);
        e = json_tokener_get_error(tok);
        end = MIN(json_tokener_get_parse_end(tok), len);
        json_tokener_free(tok);

        if (e == json_tokener_continue || e == json_tokener_error_parse_eof)
                why = "the JSON text ends too early";
        else if (e != json_tokener_success)
                why = json_tokener_error_desc(e);
        else if (strspn(text + end, " \t\r\n") != len - end)
                why = "unexpected text after the JSON value";
        if (why) {
                json_object_put(o);
                if (ret_error)
                        *ret_error = why;
                return -EINVAL;
        }

        *ret = o; /* NULL for the JSON value null */
        return 0;
}

json_object *json_get_ci(json_object *o, const char *key) {
        if (!o || !json_object_is_type(o, json_type_object))
                return NULL;
        json_object_object_foreach(o, k, v)
                if (strcasecmp(k, key) == 0)
                        return v;
        return NULL;
}

int json_get_string_ci(json_object *o, const char *key, const char **ret) {
        json_object *v = json_get_ci(o, key);

        if (!v || json_object_is_type(v, json_type_null)) {
                *ret = NULL;
                return 0;
        }
        if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int)) {
                *ret = json_object_get_string(v);
                return 0;
        }
        return -EINVAL;
}

int json_get_bool_ci(json_object *o, const char *key, bool *ret) {
        json_object *v = json_get_ci(o, key);
        int r;

        if (!v)
                return -ENOENT;
        if (json_object_is_type(v, json_type_boolean)) {
                *ret = json_object_get_boolean(v);
                return 0;
        }
        if (json_object_is_type(v, json_type_string)) {
                r = parse_boolean(json_object_get_string(v));
                if (r < 0)
                        return -EINVAL;
                *ret = r;
                return 0;
        }
        return -EINVAL;
}
