"""A native LoadGen SUT whose ``IssueQuery`` runs no Python: the GIL-free issue path.

LoadGen's issue thread calls ``IssueQuery`` of a small C++ class (``sut.cpp``) that only
appends ``(id, index)`` to a buffer under a mutex and signals a condition variable. A Python
thread drains the buffer in bulk with :meth:`NativeIssueQueue.take`, a ctypes call that
releases the GIL while it waits, and feeds the dispatcher. Completions are unchanged
(``QuerySamplesComplete`` from Python).

``sut.cpp`` is compiled on first use (``g++ -O2 -shared -fPIC -std=c++17 -pthread``) into a
cache directory keyed by the source, the compiler and the platform, and loaded with ctypes.
Without a compiler, or when the build or the load fails, :class:`UnsupportedError` says so
(callers fall back to the Python issue path).

LoadGen is not linked: its Python binding takes the SUT as an integer (``uintptr_t``) and
casts it to ``mlperf::SystemUnderTest*``; ``sut.cpp`` declares that class with LoadGen's
virtual layout. The C++ ``std::string`` ABI (GCC's dual ABI) follows the installed
``mlperf_loadgen`` extension module, found by its symbol names.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from inferlab.core.errors import UnsupportedError

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("sut.cpp")
LIB_NAME = "libinferlab_sut.so"
ABI_VERSION = 2  # kAbiVersion in sut.cpp
BASE_FLAGS = ("-O2", "-shared", "-fPIC", "-std=c++17", "-pthread", "-fvisibility=hidden")

_FLAG_FLUSHED = 1
_FLAG_CLOSED = 2
_FLAG_QUERY = 4

_FIX = (
    "install a C++17 compiler (g++; or set CXX), or use native_issue=off (auto falls back "
    "to the Python issue path by itself)"
)
_TAKE_CAPACITY = 4096

_u64p = ctypes.POINTER(ctypes.c_uint64)
StrPath = str | os.PathLike[str]


def default_cache_dir() -> Path:
    """Where compiled libraries go: ``~/.cache/inferlab/native``."""
    return Path.home() / ".cache" / "inferlab" / "native"


# ---------------------------------------------------------------------------- build


def _compiler() -> list[str] | None:
    """The C++ compiler command: ``$CXX`` when set, else g++, else c++."""
    env = os.environ.get("CXX", "").strip()
    if env:
        cmd = shlex.split(env)
        return cmd if shutil.which(cmd[0]) else None
    for name in ("g++", "c++"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _compiler_version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(
            [*cmd, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UnsupportedError(
            f"native issue path: {cmd[0]} --version failed: {exc}", _FIX
        ) from None
    if proc.returncode != 0:
        raise UnsupportedError(
            f"native issue path: {cmd[0]} --version exited with {proc.returncode}", _FIX
        )
    return proc.stdout.strip()


def _string_abi_flags() -> tuple[str, ...]:
    """``-D_GLIBCXX_USE_CXX11_ABI=1|0`` to match the installed LoadGen extension, or nothing
    when that cannot be told (non-GNU toolchains, no extension found)."""
    spec = importlib.util.find_spec("mlperf_loadgen")
    origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith((".so", ".dylib")):
        return ()
    try:
        data = Path(origin).read_bytes()
    except OSError:
        return ()
    if b"__cxx11" in data:
        return ("-D_GLIBCXX_USE_CXX11_ABI=1",)
    if b"_ZNSs" in data or b"_ZNKSs" in data:  # the pre-C++11 std::string
        return ("-D_GLIBCXX_USE_CXX11_ABI=0",)
    return ()


def _build_key(source: bytes, cmd: list[str], version: str, flags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for part in (
        source,
        " ".join(cmd).encode(),
        version.encode(),
        " ".join(flags).encode(),
        sys.implementation.cache_tag.encode(),
        sys.platform.encode(),
        platform.machine().encode(),
        "-".join(platform.libc_ver()).encode(),
    ):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


def build(cache_dir: StrPath | None = None) -> Path:
    """The compiled library, built on first use. Raises UnsupportedError when it cannot be.

    The library is compiled to a temporary file in its final directory and renamed into
    place, so a concurrent or later process either sees no library or a complete one."""
    if sys.platform == "win32":
        raise UnsupportedError("native issue path: not available on Windows", _FIX)
    cmd = _compiler()
    if cmd is None:
        raise UnsupportedError("native issue path: no C++ compiler found (g++, c++, $CXX)", _FIX)
    try:
        source = SOURCE.read_bytes()
    except OSError as exc:
        raise UnsupportedError(
            f"native issue path: cannot read {SOURCE}: {exc}",
            "reinstall inferlab (the package data is incomplete)",
        ) from None
    flags = BASE_FLAGS + _string_abi_flags()
    key = _build_key(source, cmd, _compiler_version(cmd), flags)
    target = Path(cache_dir or default_cache_dir()).expanduser() / key / LIB_NAME
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target.parent)
    except OSError as exc:
        raise UnsupportedError(
            f"native issue path: cannot write to {target.parent}: {exc}",
            "make the cache directory writable, or use native_issue=off",
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        argv = [*cmd, *flags, "-o", str(tmp), str(SOURCE)]
        log.info("compiling the native issue queue: %s", " ".join(argv))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise UnsupportedError(
                f"native issue path: compiler failed to run: {exc}", _FIX
            ) from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-2000:]
            raise UnsupportedError(
                f"native issue path: compiling {SOURCE.name} failed "
                f"(exit {proc.returncode}): {tail}",
                _FIX,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------------------- load


_VP, _SIZE, _DBL = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_double
#: the C API of sut.cpp: name -> (restype, argtypes). ``take`` gets its buffers as plain
#: addresses: a take allocates no ctypes objects (the pump calls it at up to ~100k/s; ctypes
#: pointer objects would feed the cyclic GC)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "inferlab_sut_abi_version": (ctypes.c_int, []),
    "inferlab_sut_create": (_VP, [ctypes.c_char_p]),
    "inferlab_sut_destroy": (None, [_VP]),
    "inferlab_sut_take": (_SIZE, [_VP, _VP, _VP, _SIZE, _DBL, _SIZE, _DBL, _VP, _VP]),
    "inferlab_sut_close": (None, [_VP]),
    "inferlab_sut_stats": (None, [_VP, _u64p]),
    "inferlab_sut_issue_for_test": (None, [_VP, _u64p, _u64p, _SIZE]),
    "inferlab_sut_flush_for_test": (None, [_VP]),
    "inferlab_sut_name_for_test": (_SIZE, [_VP, ctypes.c_char_p, _SIZE]),
}


class _Lib:
    """The loaded library with its function signatures."""

    def __init__(self, path: Path) -> None:
        try:
            dll = ctypes.CDLL(str(path))  # CDLL: every call releases the GIL
        except OSError as exc:
            raise UnsupportedError(f"native issue path: cannot load {path}: {exc}", _FIX) from None
        self.path = path
        try:
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(dll, name)
                fn.restype = restype
                fn.argtypes = argtypes
        except AttributeError as exc:
            raise UnsupportedError(
                f"native issue path: {path} lacks a function: {exc}",
                f"delete {path.parent} (a stale or foreign build) and rerun",
            ) from None
        abi = int(dll.inferlab_sut_abi_version())
        if abi != ABI_VERSION:
            raise UnsupportedError(
                f"native issue path: {path} has C API version {abi}, expected {ABI_VERSION}",
                f"delete {path.parent} and rerun",
            )
        self.dll = dll


_LOADED: dict[Path, _Lib] = {}
_LOAD_LOCK = threading.Lock()


def load_library(cache_dir: StrPath | None = None) -> _Lib:
    """Build (if needed) and load the library, once per process and cache directory."""
    key = Path(cache_dir or default_cache_dir()).expanduser().resolve()
    with _LOAD_LOCK:
        lib = _LOADED.get(key)
        if lib is None:
            lib = _Lib(build(key))
            _LOADED[key] = lib
        return lib


@functools.cache
def _availability(cache_dir: Path | None) -> tuple[bool, str]:
    try:
        lib = load_library(cache_dir)
    except UnsupportedError as exc:
        return False, str(exc)
    return True, f"native issue queue: {lib.path}"


def native_sut_available(cache_dir: StrPath | None = None) -> tuple[bool, str]:
    """(True, the library's path) when the native issue queue can be used here, else (False,
    why and the fix). Builds the library when needed; the answer is kept per process."""
    return _availability(None if cache_dir is None else Path(cache_dir))


# ---------------------------------------------------------------------------- queue


def _as_u64p(a: npt.NDArray[np.uint64]) -> Any:
    return a.ctypes.data_as(_u64p)


class NativeIssueQueue:
    """A LoadGen SUT (``handle``) whose issued samples are taken in bulk by Python.

    Use as a context manager, or call :meth:`release` yourself, and only after LoadGen's
    StartTest has returned (LoadGen holds the pointer until then). Any number of threads may
    call :meth:`take`; they take turns. :meth:`close` wakes a blocked take; after it, takes
    return what is left without blocking.
    """

    def __init__(self, name: str = "inferlab-native", *, cache_dir: StrPath | None = None) -> None:
        self._lib = load_library(cache_dir)
        self._dll = self._lib.dll
        handle = self._dll.inferlab_sut_create(name.encode())
        if not handle:
            raise MemoryError("inferlab_sut_create failed")
        self._handle: int | None = int(handle)
        self.name = name
        self._take_lock = threading.Lock()  # held during a take (its buffers); GIL released
        self._state_lock = threading.Lock()
        self._cap = 0
        self._grow(_TAKE_CAPACITY)
        self._flags = ctypes.c_int(0)
        self._need = ctypes.c_size_t(0)
        self._flags_addr = ctypes.addressof(self._flags)
        self._need_addr = ctypes.addressof(self._need)
        self._closed = False
        self._exhausted = False
        self._last_was_query = False

    # -- LoadGen side
    @property
    def handle(self) -> int:
        """The ``mlperf::SystemUnderTest*`` for ``StartTest`` / ``StartTestWithLogSettings``."""
        if self._handle is None:
            raise RuntimeError("NativeIssueQueue used after release()")
        return self._handle

    @property
    def library(self) -> Path:
        return self._lib.path

    # -- consumer side
    def take(
        self,
        max_n: int = _TAKE_CAPACITY,
        timeout_s: float | None = None,
        *,
        min_n: int = 1,
        linger_s: float = 0.0,
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], bool]:
        """``(ids, indices, flushed)``: the oldest issued samples not yet taken, in issue order.

        One take returns either consecutive one-sample queries (at most ``max_n``) or one
        query of several samples, whole (``max_n`` is raised to fit it; see
        :attr:`last_was_query`). Blocks (without the GIL) until a sample is there, a flush is
        due, the queue is closed, or ``timeout_s`` passes (None: no limit); empty arrays on
        timeout. ``flushed`` is True once per ``FlushQueries``: with the last sample issued
        before it, or alone when none was left.

        ``linger_s``: once a sample is there, wait up to this much longer while fewer than
        ``min_n`` are (a flush, close or multi-sample query ends the wait), so that a fast
        stream of one-sample queries comes in fewer, bigger takes. Adds up to ``linger_s``
        to a sample's latency."""
        if max_n < 1:
            raise ValueError(f"max_n must be >= 1, got {max_n}")
        if min_n < 1 or linger_s < 0:
            raise ValueError(f"need min_n >= 1 and linger_s >= 0, got {min_n}, {linger_s}")
        timeout = -1.0 if timeout_s is None else max(0.0, float(timeout_s))
        linger = float(linger_s)
        with self._take_lock:
            h = self.handle
            take = self._dll.inferlab_sut_take
            while True:
                if max_n > self._cap:
                    self._grow(max_n)
                n = take(
                    h,
                    self._ids_addr,
                    self._idx_addr,
                    max_n,
                    timeout,
                    min_n,
                    linger,
                    self._flags_addr,
                    self._need_addr,
                )
                need = self._need.value
                if n == 0 and need > max_n:
                    max_n = need  # a multi-sample query bigger than max_n: taken whole
                    continue
                break
            f = self._flags.value
            ids = self._ids[:n].copy()
            idx = self._idx[:n].astype(np.int64)
            self._last_was_query = bool(f & _FLAG_QUERY)
            if f & _FLAG_CLOSED:
                self._exhausted = True
            return ids, idx, bool(f & _FLAG_FLUSHED)

    def _grow(self, n: int) -> None:
        cap = max(self._cap, 1)
        while cap < n:
            cap *= 2
        self._cap = cap
        self._ids = np.empty(cap, dtype=np.uint64)
        self._idx = np.empty(cap, dtype=np.uint64)
        self._ids_addr = int(self._ids.ctypes.data)  # the arrays above keep them valid
        self._idx_addr = int(self._idx.ctypes.data)

    @property
    def last_was_query(self) -> bool:
        """Whether the last take returned one LoadGen query of several samples (as opposed
        to one-sample queries)."""
        return self._last_was_query

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def exhausted(self) -> bool:
        """Closed, and nothing was left (no samples, no flush due) after the last take."""
        return self._exhausted

    def close(self) -> None:
        """No more waiting: wake blocked takes; later takes return what is left at once.
        Idempotent. The native object stays valid until :meth:`release`."""
        with self._state_lock:
            if self._closed or self._handle is None:
                self._closed = True
                return
            self._closed = True
            self._dll.inferlab_sut_close(self._handle)

    def release(self) -> None:
        """Close, wait for a running take to return, and free the native object. Only after
        LoadGen's StartTest has returned. Idempotent."""
        self.close()
        with self._take_lock, self._state_lock:
            if self._handle is not None:
                self._dll.inferlab_sut_destroy(self._handle)
                self._handle = None

    def stats(self) -> dict[str, int]:
        """Counters of the native side: samples issued and taken, flushes, still buffered."""
        out = np.zeros(4, dtype=np.uint64)
        with self._state_lock:
            self._dll.inferlab_sut_stats(self.handle, _as_u64p(out))
        issued, taken, flushes, buffered = (int(v) for v in out)
        return {"issued": issued, "taken": taken, "flushes": flushes, "buffered": buffered}

    # -- test hooks: what LoadGen does, through the C++ virtual interface
    def issue_for_test(self, ids: npt.ArrayLike, indices: npt.ArrayLike) -> None:
        """Call ``IssueQuery`` with one query of these samples (from this thread)."""
        id_arr = np.ascontiguousarray(ids, dtype=np.uint64).reshape(-1)
        idx_arr = np.ascontiguousarray(indices, dtype=np.uint64).reshape(-1)
        if id_arr.shape != idx_arr.shape:
            raise ValueError(f"{id_arr.shape[0]} ids but {idx_arr.shape[0]} indices")
        self._dll.inferlab_sut_issue_for_test(
            self.handle, _as_u64p(id_arr), _as_u64p(idx_arr), id_arr.shape[0]
        )

    def flush_for_test(self) -> None:
        """Call ``FlushQueries``."""
        self._dll.inferlab_sut_flush_for_test(self.handle)

    def name_for_test(self) -> str:
        """``Name()`` through the virtual interface."""
        buf = ctypes.create_string_buffer(256)
        n = int(self._dll.inferlab_sut_name_for_test(self.handle, buf, 256))
        return buf.raw[: min(n, 256)].decode()

    def __enter__(self) -> NativeIssueQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


__all__ = [
    "NativeIssueQueue",
    "build",
    "default_cache_dir",
    "load_library",
    "native_sut_available",
]
