#ifndef TIDEMARK_SUPPORT_H
#define TIDEMARK_SUPPORT_H

/// Keeps large buffers in the heap instead of mapping and unmapping them on every use
/// (glibc mallopt M_MMAP_THRESHOLD / M_TRIM_THRESHOLD). Call once at start-up.
void tidemark_tune_malloc(void);

/// Starts `path` with `argv` in a new session, detached: standard descriptors on /dev/null,
/// `inherit_fd` (if >= 0) as descriptor 3. Returns the child's pid, or -1. Never waits.
int tidemark_spawn_detached(const char *path, char *const argv[], int inherit_fd);

#endif
