#ifndef TIDEMARK_CRC32C_H
#define TIDEMARK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction the library was built to use (x86-64 SSE4.2,
/// or AArch64 with the CRC extension), else 0.
int tidemark_crc32c_hardware_available(void);

/// Advances a CRC-32C register (no initial or final XOR) over `length` bytes with the CPU's
/// CRC-32C instruction. Only call it when `tidemark_crc32c_hardware_available()` is 1.
uint32_t tidemark_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#endif
