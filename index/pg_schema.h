// Creates or upgrades the clipmind tables of a PostgreSQL database (index and job queue),
// under an advisory lock so workers starting together do not race; the SQL of pgvector
// searches. Internal to index/ (and its tests).
#pragma once

#include <string>

namespace clipmind::index {

class PgConnection;

// Throws kUnsupported for a newer schema, kNotFound when tables are missing and !create.
// Without `create` an older schema from kPgReadableFrom on is read as it is (searching must not
// need the rights to upgrade). Returns the schema version the database now has.
int ensure_pg_schema(PgConnection& conn, bool create);

// What tells this database's local ANN files apart from every other database's:
// `<db_uuid>-<system identifier>-<database oid>` (the random id written with the tables, made
// once under the schema lock when missing; the server's initdb identity; the database's oid),
// so copies made by pg_dump or CREATE DATABASE ... TEMPLATE differ too. Empty when the
// database has no id and this role may not write one. Call outside a transaction.
std::string pg_store_identity(PgConnection& conn);

// The pgvector query of the vector list: $1 the query as a vector literal, $2 the depth;
// yields (segment id, inner product) best first, ties by id. `exact` scans every row; otherwise
// the query is shaped so the planner can use the HNSW index (tests EXPLAIN it).
std::string pgvector_search_sql(int dim, bool exact);

}  // namespace clipmind::index
