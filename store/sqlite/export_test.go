package sqlite

// Migrations exposes the schema migrations to the external tests, which
// build files of older versions with them.
var Migrations = migrations
