#!/usr/bin/env bash
# `make sanitize`: the C kernel under AddressSanitizer + UndefinedBehaviorSanitizer.
# Builds native/conv.c with the test driver native/sanitize_main.c (which compares every entry
# point, every method and 1-3 threads with naive loops over the test shapes and checks the
# argument errors) and runs it, twice: with the vector code gcc/clang use and with the portable
# C fallback (-DCONV_PORTABLE). With OpenMP (-fopenmp, when the compiler has it) the threads
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
export CONVBENCH_THREAD_MIN_FLOPS=0  # the small test shapes get every thread they ask for
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# shellcheck disable=SC2086
compile() {  # compile SOURCE OBJECT EXTRA-FLAGS
    "$CC" $FLAGS $SAN $3 "-DCONVBENCH_BUILD_FLAGS=\"$FLAGS $SAN $3\"" -Inative -c "$1" -o "$2"
}
# the objects in parallel: conv.c with its always-inline variants is the slow part
pids=()
compile native/conv.c "$OUT/conv_vector.o" "" & pids+=($!)
compile native/conv.c "$OUT/conv_portable.o" "-DCONV_PORTABLE" & pids+=($!)
compile native/sanitize_main.c "$OUT/sanitize_main.o" "" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

for variant in vector portable; do
    # shellcheck disable=SC2086
    "$CC" $SAN $OMP "$OUT/conv_$variant.o" "$OUT/sanitize_main.o" -lm -o "$OUT/sanitize_$variant"
    echo "sanitize ($variant${OMP:+, openmp}):"
    "$OUT/sanitize_$variant"
done
