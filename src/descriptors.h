/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The protobuf file descriptors of everything givc serves, for server
 * reflection. The data (descriptor-data.c) is generated at build time by
 * proto/gen-descriptors.py from protoc's descriptor set; this module looks
 * things up in it.
 */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct DescriptorFile {
        const char *name;          /* "admin/admin.proto" */
        const unsigned char *data; /* serialized google.protobuf.FileDescriptorProto */
        size_t size;
        const size_t *deps;        /* indices of the files it imports */
        size_t n_deps;
} DescriptorFile;

typedef struct DescriptorSymbol {
        const char *name; /* fully qualified: "admin.AdminService", "admin.AdminService.Watch" */
        size_t file;
} DescriptorSymbol;

/* Generated. Symbols are sorted by strcmp(). */
extern const DescriptorFile descriptor_files[];
extern const size_t descriptor_files_count;
extern const DescriptorSymbol descriptor_symbols[];
extern const size_t descriptor_symbols_count;

/* Index of the file called @name, or -ENOENT. */
int descriptor_find_file(const char *name);

/* Index of the file defining the message, enum, service or method @symbol
 * (a leading '.' is ignored), or -ENOENT. */
int descriptor_find_symbol(const char *symbol);

/**
 * descriptor_file_closure() - @index followed by everything it imports,
 * transitively, each once
 * @ret: room for descriptor_files_count indices
 *
 * Return: the number of indices stored.
 */
size_t descriptor_file_closure(size_t index, size_t *ret);
