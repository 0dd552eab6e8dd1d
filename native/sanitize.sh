#!/usr/bin/env bash
# `make sanitize`: the C kernel under AddressSanitizer + UndefinedBehaviorSanitizer.
# Builds the kernel's C files (SOURCES below, the list native/build.py compiles) with the test
# driver native/sanitize_main.c (which compares every entry point, every method and 1-3
# threads, each with every thread it asks for, with naive loops over the test shapes and
# checks the argument errors) and runs it, twice: with the vector code gcc/clang use and with
# the portable C fallback (-DCONV_PORTABLE). With OpenMP (-fopenmp, when the compiler has it) the threads
# are real; ASan then also watches the worker threads' scratch buffers. Without it the same
# checks run single-threaded.
# Any mismatch or sanitizer report exits non-zero. Output goes to native/_sanitize/.
# Needs only a C compiler (CC, default gcc); PYTHON is accepted like the other targets but unused.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-gcc}
OUT=native/_sanitize
mkdir -p "$OUT"
FLAGS="-O1 -g -std=c11 -ffp-contract=fast -march=native -Wall -Wextra -Werror"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
OMP=""
if printf '#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n' |
        "$CC" -fopenmp -x c - -o "$OUT/omp_test" 2>/dev/null; then
    OMP="-fopenmp"
fi
FLAGS="$FLAGS $OMP"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# shellcheck disable=SC2086
compile() {  # compile SOURCE OBJECT EXTRA-FLAGS
    "$CC" $FLAGS $SAN $3 "-DCONVBENCH_BUILD_FLAGS=\"$FLAGS $SAN $3\"" -Inative -c "$1" -o "$2"
}
# the kernel's translation units, as native/build.py's SOURCES; the slow ones (the direct
# kernels with their always-inline variants) first
SOURCES="conv_direct_forward.c conv_direct_backward.c conv_gemm.c conv.c conv_baselines.c conv_info.c"
# the objects in parallel, JOBS at a time (default: one per CPU); a failed compile stops here
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
running=0
spawn() {
    "$@" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
}
mkdir -p "$OUT/vector" "$OUT/portable"
for src in $SOURCES; do
    spawn compile "native/$src" "$OUT/vector/${src%.c}.o" ""
    spawn compile "native/$src" "$OUT/portable/${src%.c}.o" "-DCONV_PORTABLE"
done
spawn compile native/sanitize_main.c "$OUT/sanitize_main.o" ""
while [ "$running" -gt 0 ]; do
    wait -n
    running=$((running - 1))
done

for variant in vector portable; do
    objs=()
    for src in $SOURCES; do objs+=("$OUT/$variant/${src%.c}.o"); done
    # shellcheck disable=SC2086
    "$CC" $SAN $OMP "${objs[@]}" "$OUT/sanitize_main.o" -lm -o "$OUT/sanitize_$variant"
    echo "sanitize ($variant${OMP:+, openmp}):"
    "$OUT/sanitize_$variant"
done
