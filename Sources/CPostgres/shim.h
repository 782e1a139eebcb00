// libpq, PostgreSQL's own client library (Debian's libpq5 at run time, libpq-dev to build), for PorterState's
// PostgresService (Sources/PorterState/Support/PostgresService.swift, the only file that calls it).
#include <libpq-fe.h>
