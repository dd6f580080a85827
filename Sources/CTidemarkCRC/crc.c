#include "CTidemarkCRC.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int tidemark_crc32c_hw_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

/* One stream of 8-byte steps: about 8 GB/s, far beyond what WAL scanning needs. */
__attribute__((target("sse4.2")))
uint32_t tidemark_crc32c_hw(uint32_t crc, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
        b += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n > 0) {
        c32 = _mm_crc32_u8(c32, *b);
        b++;
        n--;
    }
    return c32;
}
#else
int tidemark_crc32c_hw_available(void) { return 0; }
uint32_t tidemark_crc32c_hw(uint32_t crc, const void *p, size_t n) { (void)p; (void)n; return crc; }
#endif
