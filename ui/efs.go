// Package ui embeds the HTML templates and static files (CSS, icons), so the
// binary carries its whole interface.
package ui

import "embed"

// Files holds html/ (base layout, partials, one template per page) and
// static/ (served under /static/).
//
//go:embed html static
var Files embed.FS
