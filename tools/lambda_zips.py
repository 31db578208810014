#!/usr/bin/env python3
"""Checks the release zips `make build` wrote, before anything deploys them:

    python3 tools/lambda_zips.py DIR FUNCTION...

For each FUNCTION, DIR/FUNCTION/bootstrap.zip must exist and hold exactly one file,
`bootstrap`, executable, an ELF binary for arm64 (the templates' architecture). Prints each
zip's size, SHA-256 and the CodeSha256 Lambda reports for that package (base64 of the
SHA-256), and writes DIR/SHA256SUMS (`sha256sum -c` format). Exit 1 with every problem
listed when a zip is unusable (and no SHA256SUMS left in DIR). Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import sys
import zipfile

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183


def zip_problems(path: str) -> list[str]:
    """What is wrong with one function zip (empty = usable)."""
    if not os.path.isfile(path):
        return [f"{path}: missing"]
    try:
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
            names = [e.filename for e in entries]
            if names != ["bootstrap"]:
                return [f"{path}: holds {names}, want exactly ['bootstrap']"]
            entry = entries[0]
            head = zf.open(entry).read(20)
    except (zipfile.BadZipFile, OSError) as e:
        return [f"{path}: not a readable zip ({e})"]
    problems = []
    mode = entry.external_attr >> 16
    if not mode & 0o100:
        problems.append(f"{path}: bootstrap is not executable (mode {oct(mode)})")
    if head[:4] != ELF_MAGIC or len(head) < 20:
        problems.append(f"{path}: bootstrap is not an ELF binary")
    else:
        byteorder = "<" if head[5] == 1 else ">"
        (machine,) = struct.unpack(byteorder + "H", head[18:20])
        if machine != EM_AARCH64:
            problems.append(f"{path}: bootstrap is built for ELF machine {machine}, not arm64 ({EM_AARCH64})")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory, functions = argv[0], argv[1:]
    problems: list[str] = []
    sums: list[str] = []
    for fn in functions:
        path = os.path.join(directory, fn, "bootstrap.zip")
        found = zip_problems(path)
        problems += found
        if found:
            continue
        data = open(path, "rb").read()
        digest = hashlib.sha256(data)
        sums.append(f"{digest.hexdigest()}  {fn}/bootstrap.zip")
        code_sha = base64.b64encode(digest.digest()).decode()
        print(f"{fn:16} {len(data):>10,} bytes  sha256 {digest.hexdigest()}  CodeSha256 {code_sha}")
    sums_path = os.path.join(directory, "SHA256SUMS")
    if problems:
        for p in problems:
            print(f"lambda_zips: {p}", file=sys.stderr)
        # No sums file that could pass for these zips' after a failed check.
        if os.path.exists(sums_path):
            os.remove(sums_path)
        return 1
    with open(sums_path, "w", encoding="utf-8") as f:
        f.write("\n".join(sums) + "\n")
    print(f"{len(functions)} zips checked; {sums_path} written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
