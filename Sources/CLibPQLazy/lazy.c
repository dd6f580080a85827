// libpq, loaded when a command first needs it.
//
// Linking libpq makes every process load ~20 shared libraries (Kerberos, LDAP, GnuTLS, ...),
// about 4 ms per start; wal-push, which PostgreSQL starts once per WAL segment, never uses
// it. So libpq is not linked: this file defines the libpq functions Tidemark calls as
// trampolines that dlopen libpq.so.5 once and jump to the real function. The prototypes come
// from libpq-fe.h itself, so a signature mismatch is a compile error.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <postgresql/libpq-fe.h>
#include "CLibPQLazy.h"

static void *handle;
static char load_error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "%s", e ? e : "unknown error");
    }
}

int tidemark_libpq_load(void) {
    pthread_once(&once, load);
    return handle != NULL;
}

const char *tidemark_libpq_error(void) { return load_error; }

static void *symbol(const char *name) {
    if (!tidemark_libpq_load()) {
        fprintf(stderr, "tidemark: libpq is not available (%s); install libpq5\n", load_error);
        abort();
    }
    void *p = dlsym(handle, name);
    if (!p) {
        fprintf(stderr, "tidemark: libpq.so.5 lacks %s\n", name);
        abort();
    }
    return p;
}

#define LAZY(ret, name, params, args) \
    ret name params { \
        static ret (*fn) params; \
        if (!fn) fn = (ret (*) params)symbol(#name); \
        return fn args; \
    }
#define LAZY_VOID(name, params, args) \
    void name params { \
        static void (*fn) params; \
        if (!fn) fn = (void (*) params)symbol(#name); \
        fn args; \
    }

LAZY(int, PQcancel, (PGcancel *cancel, char *errbuf, int errbufsize), (cancel, errbuf, errbufsize))
LAZY_VOID(PQclear, (PGresult *res), (res))
LAZY(PostgresPollingStatusType, PQconnectPoll, (PGconn *conn), (conn))
LAZY(PGconn *, PQconnectStartParams, (const char *const *keywords, const char *const *values, int expand_dbname),
     (keywords, values, expand_dbname))
LAZY(PGconn *, PQconnectdbParams, (const char *const *keywords, const char *const *values, int expand_dbname),
     (keywords, values, expand_dbname))
LAZY(int, PQconnectionNeedsPassword, (const PGconn *conn), (conn))
LAZY_VOID(PQconninfoFree, (PQconninfoOption *connOptions), (connOptions))
LAZY(PQconninfoOption *, PQconninfoParse, (const char *conninfo, char **errmsg), (conninfo, errmsg))
LAZY(int, PQconsumeInput, (PGconn *conn), (conn))
LAZY(char *, PQdb, (const PGconn *conn), (conn))
LAZY(char *, PQerrorMessage, (const PGconn *conn), (conn))
LAZY_VOID(PQfinish, (PGconn *conn), (conn))
LAZY(int, PQflush, (PGconn *conn), (conn))
LAZY(char *, PQfname, (const PGresult *res, int field_num), (res, field_num))
LAZY_VOID(PQfreeCancel, (PGcancel *cancel), (cancel))
LAZY_VOID(PQfreemem, (void *ptr), (ptr))
LAZY(PGcancel *, PQgetCancel, (PGconn *conn), (conn))
LAZY(int, PQgetCopyData, (PGconn *conn, char **buffer, int async), (conn, buffer, async))
LAZY(PGresult *, PQgetResult, (PGconn *conn), (conn))
LAZY(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
LAZY(int, PQgetlength, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
LAZY(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
LAZY(char *, PQhost, (const PGconn *conn), (conn))
LAZY(int, PQisBusy, (PGconn *conn), (conn))
LAZY(int, PQnfields, (const PGresult *res), (res))
LAZY(int, PQntuples, (const PGresult *res), (res))
LAZY(char *, PQpass, (const PGconn *conn), (conn))
LAZY(char *, PQport, (const PGconn *conn), (conn))
LAZY(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode))
LAZY(char *, PQresultErrorMessage, (const PGresult *res), (res))
LAZY(ExecStatusType, PQresultStatus, (const PGresult *res), (res))
LAZY(int, PQsendQuery, (PGconn *conn, const char *query), (conn, query))
LAZY(int, PQserverVersion, (const PGconn *conn), (conn))
LAZY(PGVerbosity, PQsetErrorVerbosity, (PGconn *conn, PGVerbosity verbosity), (conn, verbosity))
LAZY(PQnoticeReceiver, PQsetNoticeReceiver, (PGconn *conn, PQnoticeReceiver proc, void *arg), (conn, proc, arg))
LAZY(int, PQsetnonblocking, (PGconn *conn, int arg), (conn, arg))
LAZY(int, PQsocket, (const PGconn *conn), (conn))
LAZY(ConnStatusType, PQstatus, (const PGconn *conn), (conn))
LAZY(char *, PQuser, (const PGconn *conn), (conn))
