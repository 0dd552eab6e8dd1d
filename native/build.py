"""cffi build script for the convbench C kernel (API mode, out of line).

setup.py hands it to setuptools with ``cffi_modules=["native/build.py:ffibuilder"]``, so
``pip install .`` (or ``pip install -e .``) compiles the kernel's C files (``SOURCES``, the
files native/conv.c's header lists) into the extension module ``convbench._native``.
``python native/build.py`` builds it in place, for development.

``native/conv.h`` is the single source of truth: the cdef is derived from it here (comments
and preprocessor lines dropped; each ``#define CONV_X value`` becomes ``#define CONV_X ...``,
so cffi takes the value from the header at compile time).

Compiler flags: ``-O3 -std=c11 -ffp-contract=fast`` (FMA contraction, no -ffast-math: IEEE
NaN/inf semantics are kept) and ``-march=native`` (``-mcpu=native`` on ARM), tuned to the CPU
that builds it.

Threads: ``-fopenmp`` (compile and link) when the compiler accepts it, which a test compile
of a tiny OpenMP program decides at build time. Without OpenMP the kernel still builds and
runs, with one thread whatever ``threads`` asks for (conv_max_threads() is then 1 and
conv_build_info() says ``openmp=no``).

Environment:
  CONVBENCH_NATIVE_ARCH=0   build for the baseline instruction set instead of the build
                            machine's CPU: for clusters whose login nodes (where pip runs)
                            differ from the compute nodes (where the benchmark runs).
  CONVBENCH_OPENMP=0        build without OpenMP even if the compiler has it.
"""
import os
import platform
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if __name__ == "__main__":
    os.chdir(_ROOT)  # cffi compiles in the working directory: build next to the package
_HEADER = os.path.join(_HERE, "conv.h")
#: the kernel's translation units (native/sanitize.sh compiles the same list)
SOURCES = ["conv.c", "conv_info.c", "conv_direct_forward.c", "conv_direct_backward.c",
           "conv_gemm.c", "conv_baselines.c"]


def _rel(path):
    """`path` relative to the working directory where possible (setuptools prefers that)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def cdef_from_header(text):
    """The cdef for cffi: conv.h without comments and preprocessor lines, constants as `...`."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = re.match(r"#\s*define\s+(CONV_[A-Z0-9_]+)\s+\S+", stripped)
            if m:
                lines.append("#define %s ..." % m.group(1))
            continue
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def compile_args():
    """Compiler flags for this platform (see the module docstring)."""
    if sys.platform == "win32" and "GCC" not in sys.version:  # MSVC
        return ["/O2"]
    args = ["-O3", "-std=c11", "-ffp-contract=fast"]
    if not _off("CONVBENCH_NATIVE_ARCH"):
        machine = platform.machine().lower()
        if machine in ("arm64", "aarch64") or machine.startswith("arm"):
            args.append("-mcpu=native")
        else:
            args.append("-march=native")
    return args


def _off(name):
    return os.environ.get(name, "1").strip().lower() in ("0", "no", "false", "off", "")


def openmp_args():
    """(compile, link) flags for OpenMP, or ([], []) when the compiler has none."""
    if _off("CONVBENCH_OPENMP"):
        return [], []
    if sys.platform == "win32" and "GCC" not in sys.version:  # MSVC
        return ["/openmp"], []
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    test = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(test)
        try:
            ok = subprocess.run(cc + ["-fopenmp", src, "-o", os.path.join(tmp, "omp_test")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=120).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    return (["-fopenmp"], ["-fopenmp"]) if ok else ([], [])


_ARGS = compile_args()
_OMP_COMPILE, _OMP_LINK = openmp_args()

ffibuilder = FFI()
with open(_HEADER) as f:
    ffibuilder.cdef(cdef_from_header(f.read()))
ffibuilder.set_source(
    "convbench._native",
    '#include "conv.h"',
    sources=[_rel(os.path.join(_HERE, name)) for name in SOURCES],
    include_dirs=[_rel(_HERE)],
    # The flags are also compiled into the library, for conv_build_info().
    define_macros=[("CONVBENCH_BUILD_FLAGS", '"%s"' % " ".join(_ARGS + _OMP_COMPILE))],
    extra_compile_args=_ARGS + _OMP_COMPILE,
    extra_link_args=_OMP_LINK,
)

if __name__ == "__main__":
    # Builds convbench/_native*.so (and convbench/_native.c) in place, from any directory.
    ffibuilder.compile(verbose=True)
