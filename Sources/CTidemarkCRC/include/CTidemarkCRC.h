#ifndef CTIDEMARK_CRC_H
#define CTIDEMARK_CRC_H
#include <stddef.h>
#include <stdint.h>

/// 1 when the CPU computes CRC-32C in hardware (x86-64 SSE4.2); then `tidemark_crc32c_hw`
/// may be called.
int tidemark_crc32c_hw_available(void);

/// Advances the (not final-XORed) CRC-32C register `crc` over `n` bytes at `p` with the
/// CPU's crc32 instruction. Only call when `tidemark_crc32c_hw_available()` returned 1.
uint32_t tidemark_crc32c_hw(uint32_t crc, const void *p, size_t n);

#endif
