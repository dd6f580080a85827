#ifndef TIDEMARK_CLIBPQLAZY_H
#define TIDEMARK_CLIBPQLAZY_H

/// Loads libpq.so.5 on first use. Returns 1 when it is (or was) loaded, 0 otherwise;
/// `tidemark_libpq_error()` then says why.
int tidemark_libpq_load(void);
const char *tidemark_libpq_error(void);

#endif
