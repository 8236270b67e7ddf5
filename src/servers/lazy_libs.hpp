// libpq and hiredis, loaded with dlopen(3) the first time a PostgreSQL or Redis
// backend connects. Linked directly, libpq alone pulled 19 shared libraries
// (Kerberos, LDAP, GnuTLS, ...) into every plexus process: about 3 MB of resident
// memory and a millisecond of start-up that a server without PostgreSQL never uses.
// Call sites keep libpq's names: pq().PQexec(conn, sql).
// Thread-safety: pq() and redis() may be called from any thread (loaded once).
#pragma once

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

namespace plexus::servers::lazy {

// clang-format off
#define PLEXUS_LIBPQ_FUNCTIONS(X)                                                        \
  X(PQcancel) X(PQclear) X(PQcmdTuples) X(PQconnectdbParams) X(PQdb)                     \
  X(PQdescribePrepared) X(PQerrorMessage) X(PQexec) X(PQexecParams) X(PQfinish)          \
  X(PQfname) X(PQfreeCancel) X(PQfreemem) X(PQftype) X(PQgetCancel) X(PQgetCopyData)     \
  X(PQgetResult) X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQhost) X(PQnfields)      \
  X(PQnparams) X(PQntuples) X(PQparamtype) X(PQport) X(PQprepare) X(PQputCopyEnd)        \
  X(PQresultErrorField) X(PQresultStatus) X(PQsendQueryPrepared) X(PQsetNoticeReceiver)  \
  X(PQsetSingleRowMode) X(PQstatus) X(PQtransactionStatus) X(PQunescapeBytea) X(PQuser)

#define PLEXUS_HIREDIS_FUNCTIONS(X) \
  X(redisConnectWithTimeout) X(redisFree) X(redisSetTimeout) X(redisvCommand) X(freeReplyObject)
// clang-format on

#define PLEXUS_LAZY_MEMBER(f) decltype(&::f) f = nullptr;
struct libpq {
  PLEXUS_LIBPQ_FUNCTIONS(PLEXUS_LAZY_MEMBER)
};
struct libhiredis {
  PLEXUS_HIREDIS_FUNCTIONS(PLEXUS_LAZY_MEMBER)
  // redisCommand(3) is variadic: formatted through redisvCommand.
  void* command(redisContext* c, const char* format, ...) const;
};
#undef PLEXUS_LAZY_MEMBER

// The loaded library. Throws std::runtime_error naming the library or symbol that
// could not be loaded (the backend's connect reports it like a refused connection).
const libpq& pq();
const libhiredis& redis();

}  // namespace plexus::servers::lazy
