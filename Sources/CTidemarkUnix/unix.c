#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "CTidemarkUnix.h"

static int fill(struct sockaddr_un *addr, const char *path) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof addr->sun_path) return -ENAMETOOLONG;
    memcpy(addr->sun_path, path, n);
    return 0;
}

size_t tidemark_unix_path_max(void) {
    struct sockaddr_un addr;
    return sizeof addr.sun_path - 1;
}

int tidemark_unix_listen(const char *path, int backlog) {
    struct sockaddr_un addr;
    int rc = fill(&addr, path);
    if (rc != 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    mode_t old = umask(077);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    int saved = errno;
    umask(old);
    if (rc != 0 || listen(fd, backlog) != 0) {
        if (rc == 0) saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int tidemark_unix_connect(const char *path) {
    struct sockaddr_un addr;
    int rc = fill(&addr, path);
    if (rc != 0) return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int tidemark_unix_accept(int fd) {
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    return c >= 0 ? c : -errno;
}

int tidemark_peer_uid(int fd, unsigned int *uid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
    *uid = (unsigned int)cred.uid;
    return 0;
}

int tidemark_inotify_watch(const char *directory) {
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd < 0) return -errno;
    if (inotify_add_watch(fd, directory, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int tidemark_inotify_drain(int fd) {
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int gone = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return gone;
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return gone;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) gone = 1;
            p += sizeof *e + e->len;
        }
    }
}

int tidemark_send_all(int fd, const void *bytes, size_t length) {
    const char *p = bytes;
    while (length > 0) {
        ssize_t n = send(fd, p, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n;
        length -= (size_t)n;
    }
    return 0;
}
