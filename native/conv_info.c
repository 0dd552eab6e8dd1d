/*
 * convbench C kernel: the message of every status code (conv_strerror, one table) and how the
 * kernel was built (conv_build_info: compiler, flags, instruction set, vector code, OpenMP).
 */
#include "conv_internal.h"

/* The message of every status code (conv.h's CONV_E* comments are their short form). */
static const char *const messages[] = {
    [CONV_OK] = "success",
    [CONV_ENULL] = "a required pointer is NULL",
    [CONV_EEXTENT] = "an extent (n, c_in, h, w, c_out, kh, kw) is <= 0",
    [CONV_ESTRIDE] = "a stride is <= 0",
    [CONV_EPADDING] = "a padding is < 0",
    [CONV_EKERNEL] = "the kernel is larger than the padded input",
    [CONV_EOVERFLOW] = "an element count or byte size overflows int64",
    [CONV_ENOMEM] = "a scratch allocation failed",
    [CONV_ETHREADS] = "threads must be >= 1",
    [CONV_EMETHOD] = "unknown method (or part)",
    [CONV_EOPTION] = "thread_min_flops must be >= 0 (and not NaN)",
};

const char *conv_strerror(int code)
{
    if (code < 0 || code >= (int)(sizeof messages / sizeof messages[0]) || messages[code] == NULL)
        return "unknown error";
    return messages[code];
}

/* The flags are handed in by native/build.py (or native/sanitize.sh) as a string literal. */
#ifndef CONVBENCH_BUILD_FLAGS
#define CONVBENCH_BUILD_FLAGS "unknown"
#endif

#if defined(__clang__)
#define CONV_COMPILER __VERSION__
#elif defined(__GNUC__)
#define CONV_COMPILER "gcc " __VERSION__
#elif defined(__VERSION__)
#define CONV_COMPILER __VERSION__
#else
#define CONV_COMPILER "unknown"
#endif

#if defined(__x86_64__) || defined(_M_X64)
#define CONV_ARCH "x86_64"
#elif defined(__aarch64__) || defined(_M_ARM64)
#define CONV_ARCH "aarch64"
#elif defined(__i386__) || defined(_M_IX86)
#define CONV_ARCH "x86"
#elif defined(__arm__)
#define CONV_ARCH "arm"
#elif defined(__powerpc64__)
#define CONV_ARCH "ppc64"
#else
#define CONV_ARCH "unknown"
#endif

#ifdef __AVX512F__
#define CONV_ISA_AVX512F " avx512f"
#else
#define CONV_ISA_AVX512F ""
#endif
#ifdef __AVX2__
#define CONV_ISA_AVX2 " avx2"
#else
#define CONV_ISA_AVX2 ""
#endif
#ifdef __AVX__
#define CONV_ISA_AVX " avx"
#else
#define CONV_ISA_AVX ""
#endif
#ifdef __FMA__
#define CONV_ISA_FMA " fma"
#else
#define CONV_ISA_FMA ""
#endif
#ifdef __SSE4_2__
#define CONV_ISA_SSE42 " sse4.2"
#else
#define CONV_ISA_SSE42 ""
#endif
#ifdef __SSE2__
#define CONV_ISA_SSE2 " sse2"
#else
#define CONV_ISA_SSE2 ""
#endif
#ifdef __ARM_NEON
#define CONV_ISA_NEON " neon"
#else
#define CONV_ISA_NEON ""
#endif
#ifdef __ARM_FEATURE_SVE
#define CONV_ISA_SVE " sve"
#else
#define CONV_ISA_SVE ""
#endif

#ifdef _OPENMP
#define CONV_STR2(x) #x
#define CONV_STR(x) CONV_STR2(x)
#define CONV_OMP_TEXT CONV_STR(_OPENMP)
#else
#define CONV_OMP_TEXT "no"
#endif

static const char conv_build_info_text[] =
    "compiler=" CONV_COMPILER "\n"
    "flags=" CONVBENCH_BUILD_FLAGS "\n"
    "isa=" CONV_ARCH CONV_ISA_AVX512F CONV_ISA_AVX2 CONV_ISA_AVX CONV_ISA_FMA CONV_ISA_SSE42
    CONV_ISA_SSE2 CONV_ISA_NEON CONV_ISA_SVE "\n"
    "vector_width=" CONV_VW_TEXT "\n"
    "vector_code=" CONV_VEC_TEXT "\n"
    "openmp=" CONV_OMP_TEXT "\n"
    "methods=direct gemm";

const char *conv_build_info(void) { return conv_build_info_text; }
