// Package migrations embeds Leadhub's SQL schema, one append-only set of
// numbered files per dialect. The store applies them in lexical order.
package migrations

import "embed"

// FS holds sqlite/*.up.sql and postgres/*.up.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
