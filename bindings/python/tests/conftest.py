"""Fixtures of the Python binding's tests.

Environment, as meson's 'bindings' suite sets it (tests/run-pytest.sh):
- NETCHAN_LIBRARY: the libnetchan.so under test;
- NETCHAN_CLI: the netchan command-line tool, for the tests against it;
- NETCHAN_FINGERPRINTS: the helper that prints the C library's type fingerprints;
- NETCHAN_TEST_DESCRIPTORS: a FileDescriptorSet of tests/proto, else protoc-c builds one.
A test whose program is missing is skipped with the variable to set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import helpers
import netchan


@pytest.fixture(scope="session")
def types() -> helpers.ProtoTypes:
    try:
        return helpers.load_test_types()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _program(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set; run the tests through meson test --suite bindings")
    path = Path(value)
    if not path.is_file():
        pytest.skip(f"{variable}={value} does not exist; build the project first")
    return path


@pytest.fixture(scope="session")
def cli() -> Path:
    return _program("NETCHAN_CLI")


@pytest.fixture(scope="session")
def fingerprints_program() -> Path:
    return _program("NETCHAN_FINGERPRINTS")


@pytest.fixture
def exporter():
    with netchan.Exporter(bind="tcp://127.0.0.1:*") as exporter:
        yield exporter


@pytest.fixture
def importer(exporter):
    with netchan.Importer(connect=exporter.endpoint) as importer:
        yield importer


@pytest.fixture
def ipc_endpoint(tmp_path) -> str:
    return f"ipc://{tmp_path}/netchan.sock"
