package sqlite

// SQLDialect names the SQL dialect of the store's database: "sqlite".
// Package projection uses it.
func (b *Backend) SQLDialect() string { return "sqlite" }

// SQLTable returns the name of one of Chronicle's tables in the store's
// file, as written in SQL: name with the chronicle_ prefix that every table
// and index Chronicle owns carries, e.g. chronicle_projections.
func (b *Backend) SQLTable(name string) string { return "chronicle_" + name }
