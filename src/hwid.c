/* SPDX-License-Identifier: Apache-2.0 */

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "error-util.h"
#include "hwid.h"

int hwid_find_interface(const char *sysfs_net, const char *configured, char **ret_iface, char **ret_error) {
        _cleanup_free_ char *found = NULL;
        DIR *d;
        struct dirent *de;
        unsigned n = 0;

        if (configured) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (asprintf(&path, "%s/%s", sysfs_net, configured) < 0)
                        return -ENOMEM;
                if (stat(path, &st) < 0)
                        return error_set(ret_error, -ENODEV,
                                         "HWID_IFACE: there is no network interface '%s'", configured);
                found = strdup(configured);
                if (!found)
                        return -ENOMEM;
                *ret_iface = TAKE_PTR(found);
                return 0;
        }

        d = opendir(sysfs_net);
        if (!d)
                return error_set(ret_error, -ENODEV, "cannot list network interfaces in '%s': %m",
                                 sysfs_net);
        while ((de = readdir(d)))
                if (startswith(de->d_name, "wl")) {
                        n++;
                        if (free_and_strdup(&found, de->d_name) < 0) {
                                closedir(d);
                                return -ENOMEM;
                        }
                }
        closedir(d);

        if (n != 1)
                return error_set(ret_error, -ENODEV,
                                 "could not find device: %u wireless interfaces (wl*) instead of "
                                 "exactly one; set HWID_IFACE",
                                 n);
        *ret_iface = TAKE_PTR(found);
        return 0;
}

int hwid_read(const char *sysfs_net, const char *iface, char **ret_identifier) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, start;
        char *id;
        ssize_t n;

        if (asprintf(&path, "%s/%s/address", sysfs_net, iface) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = getline(&line, &size, f);
        if (n < 0)
                return feof(f) ? -ENODATA : -errno;
        /* Trimmed on both sides, as upstream's strings.TrimSpace. */
        while (n > 0 && strchr(" \t\r\n", line[n - 1]))
                line[--n] = '\0';
        start = strspn(line, " \t");
        if (start == (size_t) n)
                return -ENODATA;
        id = strdup(line + start);
        if (!id)
                return -ENOMEM;
        *ret_identifier = id;
        return 0;
}
