package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/spf13/cobra"
)

func (a *app) streamsCmd() *cobra.Command {
	var (
		prefix  string
		limit   int
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "streams",
		Short: "List the streams: name, version, events, first and last event time",
		Long: `List the streams of the store in byte order of their names, with each
one's version (its number of events) and the times of its first and last
events. --json prints one JSON object per line.`,
		Example: `  chronicle streams
  chronicle streams --prefix order- --limit 20
  chronicle streams --json | jq -r .stream`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			s, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			if !jsonOut {
				fmt.Fprintln(tw, "STREAM\tVERSION\tEVENTS\tFIRST\tLAST")
			}
			enc := json.NewEncoder(out)
			n := 0
			for info, err := range s.ListStreams(cmd.Context(), &chronicle.ListStreamsOptions{Prefix: prefix, Limit: limit}) {
				if err != nil {
					_ = tw.Flush()
					return err
				}
				if jsonOut {
					if err := enc.Encode(streamJSON{info.Stream, info.Version, info.Events, timePtr(info.FirstTime), timePtr(info.LastTime)}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", info.Stream, info.Version, info.Events, fmtTime(info.FirstTime), fmtTime(info.LastTime))
				if n++; n%256 == 0 {
					if err := tw.Flush(); err != nil {
						return err
					}
				}
			}
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&prefix, "prefix", "", "only streams whose names start with this")
	fs.IntVar(&limit, "limit", 0, "list at most this many streams (0: all)")
	fs.BoolVar(&jsonOut, "json", false, "print JSON Lines instead of a table")
	return cmd
}

type streamJSON struct {
	Stream    string     `json:"stream"`
	Version   int64      `json:"version"`
	Events    int64      `json:"events"`
	FirstTime *time.Time `json:"first_time,omitempty"`
	LastTime  *time.Time `json:"last_time,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// sqlStore is what the SQLite and PostgreSQL backends offer beyond
// chronicle.Backend: their database, for what the Store's API does not
// list (snapshots, integrity checks).
type sqlStore interface {
	DB() *sql.DB
	SQLDialect() string
	SQLTable(name string) string
}

// storeInfo is what info prints.
type storeInfo struct {
	Store         string `json:"store"`
	Backend       string `json:"backend"`
	Engine        string `json:"engine,omitempty"`
	SchemaVersion int    `json:"schema_version"`
	Events        int64  `json:"events"`
	Streams       int64  `json:"streams"`
	Head          string `json:"head"`
	Snapshots     int64  `json:"snapshots"`
	FileBytes     *int64 `json:"file_bytes,omitempty"`
	WALBytes      *int64 `json:"wal_bytes,omitempty"`
	// Projections are the versions of projections the store records.
	Projections []projectionJSON `json:"projections,omitempty"`
}

func (a *app) infoCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Describe the store: events, streams, head, backend, schema, sizes, snapshots",
		Example: `  chronicle --db events.db info
  chronicle --db postgres://localhost/app --schema billing info --json`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ctx := cmd.Context()
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			info, err := s.info(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(out).Encode(info)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "store:\t%s\n", info.Store)
			backend := info.Backend
			if info.Engine != "" {
				backend += " (" + info.Engine + ")"
			}
			fmt.Fprintf(tw, "backend:\t%s, schema version %d\n", backend, info.SchemaVersion)
			fmt.Fprintf(tw, "events:\t%d\n", info.Events)
			fmt.Fprintf(tw, "streams:\t%d\n", info.Streams)
			fmt.Fprintf(tw, "head:\t%s\n", info.Head)
			fmt.Fprintf(tw, "snapshots:\t%d\n", info.Snapshots)
			if info.FileBytes != nil {
				fmt.Fprintf(tw, "file:\t%s\n", bytesHuman(*info.FileBytes))
				fmt.Fprintf(tw, "wal:\t%s\n", bytesHuman(*info.WALBytes))
			}
			fmt.Fprintf(tw, "projections:\t%d\n", len(info.Projections))
			for _, p := range info.Projections {
				lag := "at the head"
				if p.LagEvents > 0 {
					lag = fmt.Sprintf("%d events behind (%.3fs)", p.LagEvents, p.LagSeconds)
				}
				fmt.Fprintf(tw, "  %s v%d:\t%s, %s, %s", p.Name, p.Version, p.Stage, p.State, lag)
				if p.ParkedStreams > 0 {
					fmt.Fprintf(tw, ", %d parked streams", p.ParkedStreams)
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON instead of text")
	return cmd
}

func (s *store) info(ctx context.Context) (storeInfo, error) {
	st, err := s.Stats(ctx)
	if err != nil {
		return storeInfo{}, err
	}
	info := storeInfo{Store: s.loc.String(), Events: st.Events, Streams: st.Streams, Head: st.Head.String()}
	if s.loc.postgres() {
		info.Backend, info.SchemaVersion = "postgres", postgres.SchemaVersion()
	} else {
		info.Backend, info.SchemaVersion = "sqlite", sqlite.SchemaVersion()
		info.Engine = sqlite.Engine
		if lib, err := sqlite.LibVersion(); err == nil {
			info.Engine += " " + lib
		}
		var main, wal int64
		if fi, err := os.Stat(s.loc.url); err == nil {
			main = fi.Size()
		}
		if fi, err := os.Stat(s.loc.url + "-wal"); err == nil {
			wal = fi.Size()
		}
		info.FileBytes, info.WALBytes = &main, &wal
	}
	db, ok := s.Backend().(sqlStore)
	if !ok {
		return info, nil
	}
	q := "SELECT count(*) FROM " + db.SQLTable("snapshots")
	if err := db.DB().QueryRowContext(ctx, q).Scan(&info.Snapshots); err != nil {
		return info, fmt.Errorf("count snapshots: %w", err)
	}
	ad, err := projection.NewAdmin(s.Store)
	if err != nil {
		return info, err
	}
	sts, err := ad.Status(ctx)
	if err != nil {
		return info, err
	}
	for _, st := range sts {
		info.Projections = append(info.Projections, newProjectionJSON(st))
	}
	return info, nil
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(1<<30), n)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// snapshotRow is one snapshot as snapshots lists it.
type snapshotRow struct {
	Stream   string    `json:"stream"` // "" for the global stream
	Name     string    `json:"name"`
	Version  int64     `json:"version,omitempty"`
	Position string    `json:"position,omitempty"`
	Bytes    int64     `json:"bytes"`
	Time     time.Time `json:"time"`
}

func (a *app) snapshotsCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "snapshots [STREAM]",
		Short: "List snapshots: stream, name, version or position, size, time",
		Long: `List the snapshots of every stream, or of STREAM, and of the global stream
(shown as stream "(global)" with a position instead of a version), by
stream and name.`,
		Example: `  chronicle snapshots
  chronicle snapshots order-42 --json`,
		Args: args(0, 1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			rows, err := s.snapshots(ctx, args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(out)
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "STREAM\tNAME\tAT\tBYTES\tTIME")
			for _, r := range rows {
				stream, at := r.Stream, fmt.Sprintf("version %d", r.Version)
				if stream == "" {
					stream, at = "(global)", "position "+r.Position
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", stream, r.Name, at, r.Bytes, fmtTime(r.Time))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON Lines instead of a table")
	return cmd
}

func (s *store) snapshots(ctx context.Context, args []string) ([]snapshotRow, error) {
	db, ok := s.Backend().(sqlStore)
	if !ok {
		return nil, fmt.Errorf("the %T backend cannot list snapshots", s.Backend())
	}
	pos := "position, position"
	if db.SQLDialect() == "postgres" {
		pos = "pos_tx, pos_seq"
	}
	q := "SELECT stream, name, version, " + pos + ", length(state), ts FROM " + db.SQLTable("snapshots")
	var qargs []any
	if len(args) == 1 {
		if err := chronicle.ValidateStreamName(args[0]); err != nil {
			return nil, &usageError{err.Error()}
		}
		q += " WHERE stream = $1"
		qargs = append(qargs, args[0])
	}
	q += " ORDER BY stream, name"
	rs, err := db.DB().QueryContext(ctx, q, qargs...)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	defer rs.Close()
	var out []snapshotRow
	for rs.Next() {
		var r snapshotRow
		var commit, prepare, ts int64
		if err := rs.Scan(&r.Stream, &r.Name, &r.Version, &commit, &prepare, &r.Bytes, &ts); err != nil {
			return nil, fmt.Errorf("list snapshots: %w", err)
		}
		r.Time = time.Unix(0, ts).UTC()
		if r.Stream == "" {
			r.Position, r.Version = chronicle.Position{Commit: uint64(commit), Prepare: uint64(prepare)}.String(), 0
		}
		out = append(out, r)
	}
	return out, rs.Err()
}
