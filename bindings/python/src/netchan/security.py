"""CURVE key pairs for encrypted and authenticated channels.

netchan uses libzmq's CurveZMQ with keys in czmq's certificate format. An exporter has a key
pair, and each importer has its own and must know the exporter's public key. See
Exporter(curve=...), Importer(curve=..., server_key=...) and Channel.allow_key().
"""

from __future__ import annotations

import ctypes
import os

from . import _lib
from .errors import error_for

# A z85 public key is 40 characters.
_KEY_BUFFER = 64


def _path(path: str | os.PathLike[str], argument: str) -> bytes:
    return _lib.encode(os.fspath(path), argument)


def cert_public_key(path: str | os.PathLike[str]) -> str:
    """Return the z85 public key (40 characters) of the certificate file at path.

    Either file of a key pair is accepted. Raises InvalidArgument when the file is not a
    certificate.
    """
    buffer = ctypes.create_string_buffer(_KEY_BUFFER)
    err = _lib.lib.netchan_cert_public_key(_path(path, "path"), buffer, _KEY_BUFFER)
    if err != _lib.OK:
        raise error_for(err, f"cannot read a public key from {os.fspath(path)!r}")
    return _lib.decode(buffer.value)


def keygen(path: str | os.PathLike[str]) -> str:
    """Write a new key pair and return its z85 public key.

    The public certificate goes to path and the secret one to path with "_secret" appended,
    readable by its owner only. Raises SystemCallError when a file cannot be written.
    """
    err = _lib.lib.netchan_keygen(_path(path, "path"))
    if err != _lib.OK:
        raise error_for(err, f"cannot write a key pair to {os.fspath(path)!r}")
    return cert_public_key(path)
