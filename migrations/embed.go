// Package migrations embeds the SQL migrations, one folder per dialect
// (sqlite, postgres), applied at start-up by goose.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
