#include <malloc.h>
#include "CTidemarkSupport.h"

void tidemark_tune_malloc(void) {
    // Tidemark allocates and frees 1-16 MiB buffers all the time; by default glibc maps each
    // one afresh and returns it, so every use pays a page fault per 4 KiB of fresh memory.
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
