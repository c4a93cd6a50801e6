"""The fused-operator cache (gluon_cnn.backend.fastops) against damaged files: a truncated library
ends a process that maps it with SIGBUS, so every check runs `python -m gluon_cnn.backend.fastops`
(and one train.py) in a child process, with its own cache folder ($GLUON_CNN_CACHE)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_cnn.backend import fastops

if fastops._missing():
    pytest.skip(f'fastops cannot be built here: {fastops._missing()}', allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # a build takes ~12 s on 2 idle cores


@pytest.fixture(scope='module')
def built(tmp_path_factory) -> Path:
    """A cache folder with a good library (and its record), built once for the module."""
    cache = tmp_path_factory.mktemp('built')
    proc = _run(['-m', 'gluon_cnn.backend.fastops'], cache)
    assert proc.returncode == 0, proc.stderr
    return cache


@pytest.fixture
def cache(built, tmp_path) -> Path:
    shutil.copytree(built, tmp_path / 'cache')
    return tmp_path / 'cache'


def _run(args, cache: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, 'GLUON_CNN_CACHE': str(cache), **env})


def _library(cache: Path) -> Path:
    (lib,) = (cache / 'fastops').glob('libfastops-*.so')
    return lib


@pytest.fixture
def compiler(built, tmp_path) -> str:
    """A stand-in for g++ that "compiles" by copying the module's good library to its -o
    path: the rebuild tests check the cache's checks and its rebuild (temporary file, record,
    rename, load), and `built` checks the real compiler once, so the suite compiles once."""
    script = tmp_path / 'cxx'
    script.write_text('#!/bin/sh\n'
                      'while [ $# -gt 0 ]; do\n'
                      f'  if [ "$1" = -o ]; then echo >> "{tmp_path}/calls"; '
                      f'exec cp "{_library(built)}" "$2"; fi; shift\n'
                      'done\nexit 1\n')
    script.chmod(0o755)
    return str(script)


def _loads_and_matches(cache: Path, compiler: str) -> None:
    proc = _run(['-m', 'gluon_cnn.backend.fastops'], cache, CXX=compiler)
    assert proc.returncode == 0, f'exit {proc.returncode}: {proc.stderr[-500:]}'
    assert 'Traceback' not in proc.stdout + proc.stderr
    lib = _library(cache)
    assert proc.stdout.strip() == str(lib)
    assert fastops.verify(lib) == ''
    assert (Path(compiler).parent / 'calls').read_text() == '\n'  # rebuilt once


def test_build_records_hash_and_size(built):
    lib = _library(built)
    digest, size = (lib.parent / (lib.name + '.sha256')).read_text().split()
    assert int(size) == lib.stat().st_size
    assert digest == __import__('hashlib').sha256(lib.read_bytes()).hexdigest()
    assert not list((built / 'fastops').glob('*.tmp'))  # no temporary file left behind


def test_truncated_library_is_rebuilt(cache, compiler):
    lib = _library(cache)
    os.truncate(lib, lib.stat().st_size // 3)  # without the check: SIGBUS in mx.library.load
    _loads_and_matches(cache, compiler)


def test_corrupt_library_of_the_same_size_is_rebuilt(cache, compiler):
    lib = _library(cache)
    size = lib.stat().st_size
    lib.write_bytes(bytes(range(256)) * (size // 256) + b'\0' * (size % 256))
    _loads_and_matches(cache, compiler)


def test_missing_record_is_rebuilt(cache, compiler):
    lib = _library(cache)
    (lib.parent / (lib.name + '.sha256')).unlink()
    _loads_and_matches(cache, compiler)


def test_damaged_record_is_rebuilt(cache, compiler):
    lib = _library(cache)
    (lib.parent / (lib.name + '.sha256')).write_text('not a record')
    _loads_and_matches(cache, compiler)


def test_damaged_library_without_compiler_falls_back_in_one_line(cache):
    lib = _library(cache)
    os.truncate(lib, 1000)
    proc = _run(['-m', 'gluon_cnn.backend.fastops'], cache, CXX='/bin/false')
    assert proc.returncode == 1, proc.stderr[-500:]
    out = proc.stdout + proc.stderr
    assert 'Traceback' not in out
    (line,) = proc.stdout.strip().splitlines()
    assert 'is 1000 bytes' in line and 'rebuilding it failed' in line


def test_train_py_notes_a_damaged_library_in_one_line_and_trains(cache, tmp_path):
    lib = _library(cache)
    os.truncate(lib, 1000)
    proc = _run(['train.py', '--fast-ops', '--epochs', '1', '--limit', '512',
                 '--out', str(tmp_path / 'run')], cache, CXX='/bin/false')
    assert proc.returncode == 0, proc.stderr[-800:]
    assert 'Traceback' not in proc.stdout + proc.stderr
    notes = [ln for ln in (proc.stdout + proc.stderr).splitlines() if 'fastops' in ln]
    assert len(notes) == 1 and 'is 1000 bytes' in notes[0], notes
