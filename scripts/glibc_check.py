#!/usr/bin/env python3
"""Which symbol versions do the ELF files of a Lambda layer need, and would AWS's runtime have them?

AWS Lambda's python3.11 runtime runs on Amazon Linux 2: glibc 2.26, libstdc++ of GCC 7.3
(GLIBCXX_3.4.24, CXXABI_1.3.11), libgcc_s GCC_7.0.0. The local image used by `sam local` is Debian 12
(glibc 2.36), so a wheel needing e.g. GLIBC_2.28 works locally and fails on AWS with
"version `GLIBC_2.28' not found". This reads every ELF file's version-needs table
(.gnu.version_r / SHT_GNU_verneed) in pure Python and reports every need above those limits.
Needs satisfied by a library shipped inside the scanned tree itself (auditwheel's bundled
`*.libs/libstdc++-<hash>.so.6`, for example) are not limited.

    python3 scripts/glibc_check.py .aws-sam/build/RuntimeLayer      # exit 1 when something is too new
"""
from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

# Version prefix -> highest version Amazon Linux 2 provides (python3.11 Lambda runtime).
AL2_LIMITS = {"GLIBC": (2, 26), "GLIBCXX": (3, 4, 24), "CXXABI": (1, 3, 11), "GCC": (7, 0, 0)}

SHT_GNU_VERNEED = 0x6FFFFFFE
ET_EXEC, ET_DYN = 2, 3


@dataclass(frozen=True)
class Need:
    path: str      # the ELF file that needs it (relative to the scanned root)
    library: str   # the DT_NEEDED name it is needed from (vn_file), e.g. libc.so.6
    version: str   # e.g. GLIBC_2.17


def split_version(name: str) -> tuple[str, tuple[int, ...]] | None:
    """'GLIBC_2.17' -> ('GLIBC', (2, 17)); None for names without a numeric version (GLIBC_PRIVATE)."""
    prefix, sep, rest = name.rpartition("_")
    if not sep or not rest:
        return None
    try:
        return prefix, tuple(int(p) for p in rest.split("."))
    except ValueError:
        return None


def elf_needs(data: bytes) -> list[tuple[str, str]] | None:
    """(library, version) pairs of one ELF image's verneed table; None if `data` is not a dynamic ELF.

    Handles ELF32/ELF64 and both byte orders. A file without a verneed section needs nothing
    (empty list)."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return None
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        return None
    e = "<" if enc == 1 else ">"
    is64 = cls == 2
    if is64:
        if len(data) < 64:
            return None
        e_type, = struct.unpack_from(e + "H", data, 16)
        e_shoff, = struct.unpack_from(e + "Q", data, 40)
        e_shentsize, e_shnum = struct.unpack_from(e + "HH", data, 58)
    else:
        e_type, = struct.unpack_from(e + "H", data, 16)
        e_shoff, = struct.unpack_from(e + "I", data, 32)
        e_shentsize, e_shnum = struct.unpack_from(e + "HH", data, 46)
    if e_type not in (ET_EXEC, ET_DYN):
        return None
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        if off + e_shentsize > len(data):
            raise ValueError("truncated section header table")
        if is64:
            _, sh_type, _, _, sh_offset, sh_size, sh_link, sh_info = struct.unpack_from(e + "IIQQQQII", data, off)
        else:
            _, sh_type, _, _, sh_offset, sh_size, sh_link, sh_info = struct.unpack_from(e + "IIIIIIII", data, off)
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info))

    needs: list[tuple[str, str]] = []
    for sh_type, sh_offset, _size, sh_link, sh_info in sections:
        if sh_type != SHT_GNU_VERNEED:
            continue
        str_off = sections[sh_link][1]

        def string(rel: int) -> str:
            start = str_off + rel
            end = data.index(b"\0", start)
            return data[start:end].decode("ascii", "replace")

        pos = sh_offset
        for _ in range(sh_info):  # sh_info = number of Verneed entries
            _vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(e + "HHIII", data, pos)
            library = string(vn_file)
            aux = pos + vn_aux
            for _ in range(vn_cnt):
                _hash, _flags, _other, vna_name, vna_next = struct.unpack_from(e + "IHHII", data, aux)
                needs.append((library, string(vna_name)))
                if not vna_next:
                    break
                aux += vna_next
            if not vn_next:
                break
            pos += vn_next
    return needs


def scan(root: Path) -> tuple[list[str], list[Need]]:
    """(ELF files found, every version need) under `root`, paths relative to it."""
    files, needs = [], []
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            with open(path, "rb") as fh:
                if fh.read(4) != b"\x7fELF":
                    continue
                data = fh.read()
            found = elf_needs(b"\x7fELF" + data)
            if found is None:
                continue
            rel = str(path.relative_to(root))
            files.append(rel)
            needs += [Need(rel, lib, ver) for lib, ver in found]
    return files, needs


def too_new(needs: list[Need], shipped: set[str], limits: dict = AL2_LIMITS) -> list[Need]:
    """The needs above `limits`, ignoring those from libraries whose file name is in `shipped`."""
    bad = []
    for need in needs:
        if need.library in shipped:
            continue
        parsed = split_version(need.version)
        if parsed is None:
            continue
        prefix, version = parsed
        limit = limits.get(prefix)
        if limit is not None and version > limit:
            bad.append(need)
    return bad


def check(root: Path, limits: dict = AL2_LIMITS) -> tuple[list[str], list[Need], list[Need]]:
    """(ELF files, all needs, needs too new for AWS) of the tree at `root`."""
    files, needs = scan(root)
    shipped = {Path(f).name for f in files}
    return files, needs, too_new(needs, shipped, limits)


def highest(needs: list[Need], prefix: str) -> str | None:
    versions = [(v, n.version) for n in needs if (p := split_version(n.version)) and p[0] == prefix
                for v in [p[1]]]
    return max(versions)[1] if versions else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(args[0])
    if not root.is_dir():
        print(f"glibc_check: {root} is not a directory (run sam build first)", file=sys.stderr)
        return 2
    files, needs, bad = check(root)
    print(f"glibc_check: {len(files)} ELF files under {root}; highest needs: "
          + ", ".join(f"{p} {highest(needs, p) or '-'}" for p in AL2_LIMITS))
    for need in bad:
        print(f"  TOO NEW for AWS (Amazon Linux 2): {need.path} needs {need.version} from {need.library}")
    if not files:
        print("glibc_check: no ELF files found: is this the built runtime layer?", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
