"""The Python type fingerprint against the C library's netchan_type_fingerprint()."""

import re
import subprocess

import pytest

import netchan


def c_fingerprints(program) -> dict[str, str]:
    output = subprocess.run([str(program)], check=True, capture_output=True, timeout=30).stdout
    pairs = dict(line.split(" ") for line in output.decode().splitlines())
    assert len(pairs) == 8, output
    return pairs


def test_fingerprints_equal_c_library(types, fingerprints_program):
    expected = c_fingerprints(fingerprints_program)
    for full_name, fingerprint in expected.items():
        assert netchan.type_fingerprint(types.get(full_name)) == fingerprint, full_name


def test_fingerprint_accepts_descriptor(types):
    point = types.Point
    assert netchan.type_fingerprint(point.DESCRIPTOR) == netchan.type_fingerprint(point)


def test_fingerprint_format(types):
    assert re.fullmatch(r"[0-9a-f]{16}", netchan.type_fingerprint(types.Everything))


def test_renamed_field_changes_fingerprint(types):
    renamed = types.get("netchan.pytest.PointRenamed")
    assert netchan.type_fingerprint(renamed) != netchan.type_fingerprint(types.Point)


def test_type_name_is_full_name(types):
    assert netchan.type_name(types.Point) == "netchan.pytest.Point"
    assert netchan.type_name(types.get("Bare")) == "Bare"


def test_fingerprint_rejects_non_message():
    with pytest.raises(TypeError, match="protobuf message class"):
        netchan.type_fingerprint(int)
