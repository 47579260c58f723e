package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime/debug"
	"strings"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/spf13/cobra"
)

// location names a store: a SQLite file or a PostgreSQL URL and schema.
type location struct {
	url    string // the --db value
	schema string // PostgreSQL only
}

func (l location) postgres() bool {
	return strings.HasPrefix(l.url, "postgres://") || strings.HasPrefix(l.url, "postgresql://")
}

// String names the store for messages, without a password (in the URL's
// user information or in its query).
func (l location) String() string {
	if !l.postgres() {
		return l.url
	}
	s := l.url
	if u, err := url.Parse(l.url); err == nil {
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		s = u.Redacted()
	} else {
		s = "(a PostgreSQL URL that does not parse)"
	}
	schema := l.schema
	if schema == "" {
		schema = postgres.DefaultSchema
	}
	return s + " (schema " + schema + ")"
}

// store is an open store and where it is.
type store struct {
	*chronicle.Store
	loc location
}

// location returns the store the global flags name.
func (a *app) location() (location, error) {
	db := a.db
	if db == "" {
		db = a.env.Getenv("CHRONICLE_DB")
	}
	if db == "" {
		return location{}, usagef("no store given: use --db FILE or --db postgres://… (or set CHRONICLE_DB)")
	}
	return location{url: db, schema: a.schema}, nil
}

// open opens the store the global flags name. Only a command that writes
// passes create; otherwise a missing store fails with a clear message and
// nothing is created.
func (a *app) open(ctx context.Context, create bool) (*store, error) {
	loc, err := a.location()
	if err != nil {
		return nil, err
	}
	return a.openAt(ctx, loc, create)
}

func (a *app) openAt(ctx context.Context, loc location, create bool) (*store, error) {
	var st *chronicle.Store
	var err error
	if loc.postgres() {
		st, err = postgres.Open(ctx, loc.url, &postgres.Options{Schema: loc.schema, NoCreate: !create, Logger: a.log})
	} else {
		if loc.schema != "" {
			return nil, usagef("--schema applies to PostgreSQL stores only, and %s is a SQLite file", loc.url)
		}
		// The commands stream through a store once: a small page cache per
		// connection (the default is 16 MiB) keeps their memory low.
		st, err = sqlite.Open(ctx, loc.url, &sqlite.Options{NoCreate: !create, Logger: a.log, CacheSizeKiB: 2048})
	}
	if errors.Is(err, chronicle.ErrNoStore) {
		return nil, fmt.Errorf("no store at %s (only append, import and copy create one)", loc)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	return &store{Store: st, loc: loc}, nil
}

// holds reports whether path is one of the files of a SQLite store (the
// database, its -wal, -shm or -journal), which a command must not write.
func (s *store) holds(path string) bool {
	if s.loc.postgres() {
		return false
	}
	fp, err := os.Stat(path)
	if err != nil {
		return false
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if fs, err := os.Stat(s.loc.url + suffix); err == nil && os.SameFile(fp, fs) {
			return true
		}
	}
	return false
}

// close closes s, reporting its error unless err is set already.
func (s *store) close(err *error) {
	if cerr := s.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close %s: %w", s.loc, cerr)
	}
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of chronicle and of its storage engines",
		Example: "  chronicle version",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			version, goVersion := a.env.Version, ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				if version == "" {
					version = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						version += " (" + s.Value[:12] + ")"
					}
				}
			}
			if version == "" {
				version = "(devel)"
			}
			lib, err := sqlite.LibVersion()
			if err != nil {
				lib = "unknown: " + err.Error()
			}
			fmt.Fprintf(w, "chronicle %s\n", version)
			fmt.Fprintf(w, "go        %s\n", goVersion)
			fmt.Fprintf(w, "sqlite    %s (%s engine, schema %d)\n", lib, sqlite.Engine, sqlite.SchemaVersion())
			fmt.Fprintf(w, "postgres  schema %d\n", postgres.SchemaVersion())
			return nil
		},
	}
}
