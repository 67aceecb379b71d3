#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Run protoc-c on one .proto file, putting <name>.pb-c.{c,h} in OUTDIR.

Debian's protoc-c 1.4.1 refuses proto3 `optional` fields. On the wire such a
field is exactly a one-member oneof ("synthetic oneof"), so the file is first
rewritten that way (`optional string Error = 1;` becomes
`oneof _Error { string Error = 1; }`): the generated C code then keeps field
presence (a `<field>_case` member) and the bytes on the wire are unchanged.
Reflection descriptors are built from the original files, not from this copy.
"""
import os
import re
import subprocess
import sys
import tempfile

OPTIONAL = re.compile(r'^(\s*)optional\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;', re.M)


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: protoc-c-gen.py PROTOC_C INPUT.proto OUTDIR')
    protoc_c, source, outdir = sys.argv[1:]
    with open(source, encoding='utf-8') as f:
        text = f.read()
    text = OPTIONAL.sub(r'\1oneof _\3 { \2 \3 = \4; }', text)
    name = os.path.basename(source)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, name), 'w', encoding='utf-8') as f:
            f.write(text)
        r = subprocess.run([protoc_c, '--proto_path=' + tmp, '--c_out=' + outdir, name])
    sys.exit(r.returncode)


if __name__ == '__main__':
    main()
