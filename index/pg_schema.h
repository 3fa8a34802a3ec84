// Creates or upgrades the clipmind tables of a PostgreSQL database (index and job queue),
// under an advisory lock so workers starting together do not race. Internal to index/.
#pragma once

namespace clipmind::index {

class PgConnection;

// Throws kUnsupported for a newer schema, kNotFound when tables are missing and !create.
void ensure_pg_schema(PgConnection& conn, bool create);

}  // namespace clipmind::index
