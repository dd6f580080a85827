/* Benchmark (not a test) for scripts/bench/digest.sh: the plaintext checksum of one WAL
 * segment, SHA-256 (OpenSSL's libcrypto; swift-crypto's BoringSSL uses the same SHA-NI code
 * path) against XXH3-128 (libxxhash, what TidemarkCodec links), on the same buffer. Prints one
 * line per algorithm: the median and minimum milliseconds per segment over ROUNDS runs. */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 16;
    int rounds = argc > 2 ? atoi(argv[2]) : 21;
    size_t size = mib << 20;
    unsigned char *buf = malloc(size);
    unsigned long long s = 0x5EED;
    for (size_t i = 0; i < size; i++) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; buf[i] = (unsigned char)(s >> 56); }
    double *sha = calloc(rounds, sizeof *sha), *xxh = calloc(rounds, sizeof *xxh);
    unsigned char digest[32];
    volatile unsigned long long sink = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        SHA256(buf, size, digest);
        double t1 = now_ms();
        XXH128_hash_t h = XXH3_128bits(buf, size);
        double t2 = now_ms();
        sink += digest[0] + h.low64;
        sha[r] = t1 - t0;
        xxh[r] = t2 - t1;
    }
    qsort(sha, rounds, sizeof *sha, cmp);
    qsort(xxh, rounds, sizeof *xxh, cmp);
    printf("segment %zu MiB, %d rounds\n", mib, rounds);
    printf("SHA-256   median %7.2f ms  min %7.2f ms  (%.0f MB/s)\n", sha[rounds / 2], sha[0], size / 1e3 / sha[rounds / 2]);
    printf("XXH3-128  median %7.2f ms  min %7.2f ms  (%.0f MB/s)\n", xxh[rounds / 2], xxh[0], size / 1e3 / xxh[rounds / 2]);
    printf("ratio     XXH3-128 / SHA-256 = %.3f\n", xxh[rounds / 2] / sha[rounds / 2]);
    return (int)(sink & 0);
}
