#ifndef TIDEMARK_UNIX_H
#define TIDEMARK_UNIX_H

#include <stddef.h>

/// The resident archiver's Unix-socket and inotify calls (docs/archiver.md), where Swift's
/// Glibc module lacks the types (sockaddr_un, struct ucred under _GNU_SOURCE).

/// socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) + bind(path) + listen(backlog). The socket file
/// gets mode 0600 (umask 077 around bind). Returns the descriptor, or -errno (-ENAMETOOLONG
/// when `path` does not fit sun_path).
int tidemark_unix_listen(const char *path, int backlog);

/// socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) + connect(path). Returns the descriptor or -errno.
int tidemark_unix_connect(const char *path);

/// accept4(SOCK_CLOEXEC). Returns the connection's descriptor or -errno.
int tidemark_unix_accept(int fd);

/// The effective uid of the peer of a connected Unix socket (getsockopt SO_PEERCRED).
/// Returns 0 and sets *uid, or -errno.
int tidemark_peer_uid(int fd, unsigned int *uid);

/// The longest path a socket may have (sizeof sun_path - 1).
size_t tidemark_unix_path_max(void);

/// inotify_init1(IN_CLOEXEC|IN_NONBLOCK) watching `directory` for files created or moved in
/// and for the directory itself going away. Returns the descriptor or -errno.
int tidemark_inotify_watch(const char *directory);

/// Reads and discards the pending events of `fd` (non-blocking). Returns 1 when the watched
/// directory went away (IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF), 0 otherwise, -errno on error.
int tidemark_inotify_drain(int fd);

/// send(MSG_NOSIGNAL) of all `length` bytes: a client that went away is an error (-EPIPE), not
/// a SIGPIPE. Returns 0 or -errno.
int tidemark_send_all(int fd, const void *bytes, size_t length);

#endif
