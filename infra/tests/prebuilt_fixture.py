#!/usr/bin/env python3
"""Stand-ins for the zips `make build` writes, for the offline checks (no Rust build):

    python3 infra/tests/prebuilt_fixture.py DIR [FUNCTION...]

writes DIR/FUNCTION/bootstrap.zip for each FUNCTION (default: the functions of
infra/sam/template.yaml, their Metadata BuildProperties.Binary): one executable `bootstrap` that starts
with an arm64 ELF header followed by the function's name, so that tools/lambda_zips.py
accepts it and every function's zip has different bytes (a zip deployed as another
function's is then visible). Not a runnable binary. Standard library only, plus cfn-lint's
YAML decoder for the default list.
"""

from __future__ import annotations

import os
import struct
import sys
import zipfile

EM_AARCH64 = 183


def elf_stub(name: str, machine: int = EM_AARCH64) -> bytes:
    # e_ident: magic, 64-bit, little endian, version 1; then e_type EXEC, e_machine.
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack("<HH", 2, machine) + f"\nstand-in for {name}\n".encode()


def write_zip(path: str, name: str, *, machine: int = EM_AARCH64, mode: int = 0o755, extra: bool = False) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        zf.writestr(info, elf_stub(name, machine))
        if extra:
            zf.writestr("README", "not part of a function package")


def template_functions() -> list[str]:
    from cfnlint.decode import decode

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sam", "template.yaml")
    template, matches = decode(path)
    if matches or template is None:
        raise SystemExit(f"cannot decode {path}: {matches}")
    return [
        str(res["Metadata"]["BuildProperties"]["Binary"])
        for res in template["Resources"].values()
        if res.get("Type") == "AWS::Serverless::Function"
    ]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    directory, functions = argv[0], argv[1:] or template_functions()
    for fn in functions:
        write_zip(os.path.join(directory, fn, "bootstrap.zip"), fn)
    print(f"{len(functions)} stand-in zips in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
