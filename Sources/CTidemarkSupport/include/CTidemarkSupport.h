#ifndef TIDEMARK_SUPPORT_H
#define TIDEMARK_SUPPORT_H

/// Keeps large buffers in the heap instead of mapping and unmapping them on every use
/// (glibc mallopt M_MMAP_THRESHOLD / M_TRIM_THRESHOLD). Call once at start-up.
void tidemark_tune_malloc(void);

#endif
