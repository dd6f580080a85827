// CRC-32C with the CPU's instruction. The Swift side keeps a table-driven fallback and
// decides at run time which one to use.
#include "CTidemarkCRC32C.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>

int tidemark_crc32c_hardware_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

#include <pthread.h>

// The crc32 instruction has a latency of three cycles and a throughput of one per cycle, so
// one stream of it runs at a third of the speed the CPU can give. Long buffers are cut into
// three interleaved streams whose CRCs are combined afterwards: the CRC of a stream is moved
// past the bytes that follow it by multiplying with the operator for "that many zero bytes"
// (a GF(2) 32x32 matrix, applied through four 256-entry tables). The same method as Mark
// Adler's public crc32c.c; written afresh here.
#define CRC32C_POLY 0x82f63b78u
#define CRC32C_LONG 8192
#define CRC32C_SHORT 256
static uint32_t crc32c_long[4][256];
static uint32_t crc32c_short[4][256];
static pthread_once_t crc32c_tables_once = PTHREAD_ONCE_INIT;

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_times(mat, mat[n]);
}

// The operator that appends `len` zero bytes (a power of two) to a CRC register.
static void crc32c_zeros_operator(uint32_t *even, size_t len) {
    uint32_t odd[32];
    odd[0] = CRC32C_POLY;  // one zero bit
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd);  // two zero bits
    gf2_square(odd, even);  // four zero bits
    // Each squaring doubles the length: even holds 8 bits (one byte) after the first.
    for (;;) {
        gf2_square(even, odd);
        len >>= 1;
        if (len == 0) return;
        gf2_square(odd, even);
        len >>= 1;
        if (len == 0) {
            for (int n = 0; n < 32; n++) even[n] = odd[n];
            return;
        }
    }
}

static void crc32c_zeros_tables(uint32_t zeros[4][256], size_t len) {
    uint32_t op[32];
    crc32c_zeros_operator(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_times(op, n);
        zeros[1][n] = gf2_times(op, n << 8);
        zeros[2][n] = gf2_times(op, n << 16);
        zeros[3][n] = gf2_times(op, n << 24);
    }
}

static void crc32c_make_tables(void) {
    crc32c_zeros_tables(crc32c_long, CRC32C_LONG);
    crc32c_zeros_tables(crc32c_short, CRC32C_SHORT);
}

static inline uint32_t crc32c_shift(uint32_t zeros[4][256], uint32_t crc) {
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static inline uint64_t crc32c_words(uint64_t c, const unsigned char *p, size_t words) {
    while (words--) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
    }
    return c;
}

// Three streams of `block` bytes each from `p`; returns the register after all 3 * block bytes.
__attribute__((target("sse4.2")))
static inline uint64_t crc32c_triple(uint64_t c0, const unsigned char *p, size_t block, uint32_t zeros[4][256]) {
    uint64_t c1 = 0, c2 = 0;
    const unsigned char *end = p + block;
    while (p < end) {
        uint64_t w0, w1, w2;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + block, 8);
        memcpy(&w2, p + 2 * block, 8);
        c0 = __builtin_ia32_crc32di(c0, w0);
        c1 = __builtin_ia32_crc32di(c1, w1);
        c2 = __builtin_ia32_crc32di(c2, w2);
        p += 8;
    }
    c0 = crc32c_shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;
    c0 = crc32c_shift(zeros, (uint32_t)c0) ^ (uint32_t)c2;
    return c0;
}

__attribute__((target("sse4.2")))
uint32_t tidemark_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = data;
    uint64_t c = crc;
    // Align to 8 bytes first, then three streams while the buffer is long enough.
    while (length > 0 && ((uintptr_t)p & 7) != 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p);
        p++;
        length--;
    }
    if (length >= 3 * CRC32C_SHORT) {
        pthread_once(&crc32c_tables_once, crc32c_make_tables);
        while (length >= 3 * CRC32C_LONG) {
            c = crc32c_triple(c, p, CRC32C_LONG, crc32c_long);
            p += 3 * CRC32C_LONG;
            length -= 3 * CRC32C_LONG;
        }
        while (length >= 3 * CRC32C_SHORT) {
            c = crc32c_triple(c, p, CRC32C_SHORT, crc32c_short);
            p += 3 * CRC32C_SHORT;
            length -= 3 * CRC32C_SHORT;
        }
    }
    c = crc32c_words(c, p, length / 8);
    p += length & ~(size_t)7;
    length &= 7;
    uint32_t c32 = (uint32_t)c;
    while (length > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p++;
        length--;
    }
    return c32;
}

#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)

#include <arm_acle.h>

int tidemark_crc32c_hardware_available(void) { return 1; }

uint32_t tidemark_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = data;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        length -= 8;
    }
    while (length > 0) {
        crc = __crc32cb(crc, *p);
        p++;
        length--;
    }
    return crc;
}

#else

int tidemark_crc32c_hardware_available(void) { return 0; }

uint32_t tidemark_crc32c_hardware(uint32_t crc, const void *data, size_t length) {
    (void)data;
    (void)length;
    return crc;
}

#endif
