"""The one class of Hive's LLAP jar that the Thrift server needs: an empty interface.

Spark 4 no longer ships `hive-llap-common` (SPARK-51029), but Hive 2.3's `FunctionRegistry`
still registers a table function whose bytecode names `LlapSigner.Signable`, so the class
fails to initialize with `NoClassDefFoundError`. The Thrift server reaches it when closing a
session on a thread that has no metastore client of its own (Hive's `SessionState.close`
creates one, and with it registers every function): the session's close fails, and dbt
fails the model whose connection it was. Spark's advice is to put the LLAP jar on the class
path; Maven is out of reach here, and the interface has no members, so this writes that one
class file into a jar on the driver's class path. The LLAP function itself stays unusable.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

SIGNABLE = "org/apache/hadoop/hive/llap/security/LlapSigner$Signable"
ACC_PUBLIC, ACC_INTERFACE, ACC_ABSTRACT = 0x0001, 0x0200, 0x0400
JAVA_8 = 52  # the class file version: any JVM since Java 8 loads it
JAR = "hive-llap-signable.jar"


def utf8(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack(">BH", 1, len(encoded)) + encoded


def empty_interface(name: str) -> bytes:
    """A class file declaring `public interface <name>` with no members."""
    constants = [
        struct.pack(">BH", 7, 2),  # 1: the class named by 2
        utf8(name),  # 2
        struct.pack(">BH", 7, 4),  # 3: the class named by 4
        utf8("java/lang/Object"),  # 4
    ]
    return b"".join(
        [
            struct.pack(">IHHH", 0xCAFEBABE, 0, JAVA_8, len(constants) + 1),
            *constants,
            # access flags, this class, super class; no interfaces, fields, methods, attributes
            struct.pack(">HHHHHHH", ACC_PUBLIC | ACC_INTERFACE | ACC_ABSTRACT, 1, 3, 0, 0, 0, 0),
        ]
    )


def write_llap_signable_jar(folder: Path) -> Path:
    """The jar holding `LlapSigner$Signable` in `folder`, written unless it is there already.
    A rename: a running JVM that has an old one open keeps reading it."""
    folder.mkdir(parents=True, exist_ok=True)
    jar = folder / JAR
    content = empty_interface(SIGNABLE)
    if written(jar) == content:
        return jar
    partial = jar.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        archive.writestr(f"{SIGNABLE}.class", content)
    partial.replace(jar)
    return jar


def written(jar: Path) -> bytes | None:
    """The class file `jar` holds, if it is a whole jar holding it."""
    try:
        with zipfile.ZipFile(jar) as archive:
            return archive.read(f"{SIGNABLE}.class")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
