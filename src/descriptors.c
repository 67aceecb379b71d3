/* SPDX-License-Identifier: Apache-2.0 */

#include <stdbool.h>

#include "descriptors.h"

int descriptor_find_file(const char *name) {
        for (size_t i = 0; i < descriptor_files_count; i++)
                if (streq(descriptor_files[i].name, name))
                        return (int) i;
        return -ENOENT;
}

static int compare_symbol(const void *key, const void *element) {
        return strcmp(key, ((const DescriptorSymbol *) element)->name);
}

int descriptor_find_symbol(const char *symbol) {
        const DescriptorSymbol *s;

        if (symbol[0] == '.')
                symbol++;
        s = bsearch(symbol, descriptor_symbols, descriptor_symbols_count, sizeof(DescriptorSymbol),
                    compare_symbol);
        return s ? (int) s->file : -ENOENT;
}

size_t descriptor_file_closure(size_t index, size_t *ret) {
        size_t n = 0;

        /* Breadth first; the output array doubles as the queue. */
        ret[n++] = index;
        for (size_t next = 0; next < n; next++) {
                const DescriptorFile *f = &descriptor_files[ret[next]];

                for (size_t d = 0; d < f->n_deps; d++) {
                        bool seen = false;

                        for (size_t j = 0; j < n && !seen; j++)
                                seen = ret[j] == f->deps[d];
                        if (!seen)
                                ret[n++] = f->deps[d];
                }
        }
        return n;
}
