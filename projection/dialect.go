package projection

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/chronicle-go/chronicle"
)

// sqlBackend is what a backend offers for projections: a database/sql
// handle on its own database, its SQL dialect and the names of its tables.
// The sqlite and postgres backends implement it.
type sqlBackend interface {
	DB() *sql.DB
	SQLDialect() string
	SQLTable(name string) string
}

// dialect holds the statements of one SQL dialect. Statements are written
// with ? placeholders and rebound to $n for PostgreSQL.
type dialect struct {
	name      string
	txOpts    *sql.TxOptions
	forUpdate string // appended to the SELECT that locks a checkpoint row

	// projections is the name of the projections table, the argument of
	// hasTables.
	projections string

	// Statements.
	insert, selectOne, selectName, lock, advance, advanceDurable, advanceCheck, progress, acquire, renew, keep, release, fail, setStage, setStageIf, setCaughtUp, lockName,
	clearFailure, reset, listAll, eventID, lagCount,
	parkedList, parkedInsert, parkedDelete, parkedDeleteAll, parkedRequest, parkedRequests, parkedUpdate,
	logInsert, logList, lastReset, hasTables string
}

func newDialect(b sqlBackend) (*dialect, error) {
	d := &dialect{name: b.SQLDialect()}
	var now, eventByPos string
	switch d.name {
	case "sqlite":
		now = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
		eventByPos = "SELECT id FROM " + b.SQLTable("events") + " WHERE position = ?"
		d.hasTables = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case "postgres":
		now = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
		d.forUpdate = " FOR UPDATE"
		d.txOpts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
		eventByPos = "SELECT id FROM " + b.SQLTable("events") + " WHERE tx_id = ? AND seq = ?"
		d.hasTables = "SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE 1 END"
	default:
		return nil, fmt.Errorf("projection: %w: unsupported SQL dialect %q", chronicle.ErrInvalid, d.name)
	}
	if d.name == "postgres" {
		// Registration, Switch and Reset read a projection's rows and
		// then write them: serialize them per name (SQLite's BEGIN
		// IMMEDIATE serializes every write transaction already).
		d.lockName = "SELECT pg_advisory_xact_lock(hashtext('chronicle.projection:' || $1))"
	}
	p := b.SQLTable("projections")
	pk := b.SQLTable("projection_parked")
	lg := b.SQLTable("projection_log")
	d.projections = p
	cols := "name, version, stage, pos_commit, pos_prepare, last_commit, last_prepare, last_id, caught_up, failure, owner, lease_until, updated_ns"
	set := func(s *string, q string) { *s = d.rebind(q) }
	set(&d.insert, "INSERT INTO "+p+" (name, version, stage, updated_ns) VALUES (?, ?, ?, ?) ON CONFLICT (name, version) DO NOTHING")
	set(&d.selectName, "SELECT "+cols+", "+now+" FROM "+p+" WHERE name = ? ORDER BY version")
	set(&d.selectOne, "SELECT "+cols+", "+now+" FROM "+p+" WHERE name = ? AND version = ?")
	set(&d.listAll, "SELECT "+cols+", "+now+" FROM "+p+" ORDER BY name, version")
	set(&d.lock, "SELECT stage, pos_commit, pos_prepare, owner FROM "+p+" WHERE name = ? AND version = ?"+d.forUpdate)
	set(&d.advance, "UPDATE "+p+" SET pos_commit = ?, pos_prepare = ?, last_commit = ?, last_prepare = ?, last_id = ?, "+
		"lease_until = "+now+" + ?, updated_ns = ? WHERE name = ? AND version = ? AND owner = ? AND pos_commit = ? AND pos_prepare = ? "+
		"AND stage <> 'retired'")
	d.advanceDurable = d.advance
	if d.name == "postgres" {
		// The transaction that moves a checkpoint commits without waiting
		// for its WAL to reach the disk (see Options.DurableCommits); set
		// here, in a statement the transaction runs anyway, rather than by
		// a round trip of its own.
		d.advance += " AND set_config('synchronous_commit', 'off', true) = 'off'"
	}
	set(&d.progress, "UPDATE "+p+" SET pos_commit = ?, pos_prepare = ?, lease_until = "+now+" + ?, updated_ns = ? "+
		"WHERE name = ? AND version = ? AND owner = ? AND pos_commit = ? AND pos_prepare = ? AND stage <> 'retired'")
	set(&d.acquire, "UPDATE "+p+" SET owner = ?, lease_until = "+now+" + ? "+
		"WHERE name = ? AND version = ? AND stage <> 'retired' AND (owner = ? OR owner = '' OR lease_until < "+now+")")
	set(&d.renew, "UPDATE "+p+" SET lease_until = "+now+" + ? WHERE name = ? AND version = ? AND owner = ? "+
		"AND pos_commit = ? AND pos_prepare = ? AND stage <> 'retired'")
	set(&d.keep, "UPDATE "+p+" SET lease_until = "+now+" + ? WHERE name = ? AND version = ? AND owner = ?")
	set(&d.release, "UPDATE "+p+" SET owner = '', lease_until = 0 WHERE name = ? AND version = ? AND owner = ?")
	set(&d.fail, "UPDATE "+p+" SET failure = ?, updated_ns = ? WHERE name = ? AND version = ? AND owner = ?")
	set(&d.clearFailure, "UPDATE "+p+" SET failure = '' WHERE name = ? AND version = ? AND owner = ?")
	set(&d.setStage, "UPDATE "+p+" SET stage = ?, updated_ns = ? WHERE name = ? AND version = ?")
	set(&d.setCaughtUp, "UPDATE "+p+" SET caught_up = 1, updated_ns = ? WHERE name = ? AND version = ? AND owner = ? "+
		"AND pos_commit = ? AND pos_prepare = ?")
	set(&d.setStageIf, "UPDATE "+p+" SET stage = ?, updated_ns = ? WHERE name = ? AND version = ? AND stage = ?")
	set(&d.reset, "UPDATE "+p+" SET pos_commit = 0, pos_prepare = 0, last_commit = 0, last_prepare = 0, last_id = '', "+
		"caught_up = 0, failure = '', updated_ns = ? WHERE name = ? AND version = ?")
	set(&d.eventID, eventByPos)
	if d.name == "sqlite" {
		set(&d.lagCount, "SELECT count(*) FROM "+b.SQLTable("events")+" WHERE position > ?")
	} else {
		set(&d.lagCount, "SELECT count(*) FROM "+b.SQLTable("events")+" WHERE (tx_id, seq) > (?, ?)")
	}
	pcols := "name, version, stream, pos_commit, pos_prepare, event_id, event_version, event_type, error, attempts, parked_ns, request"
	set(&d.parkedList, "SELECT "+pcols+" FROM "+pk+" WHERE name = ? AND version = ? ORDER BY pos_commit, pos_prepare")
	set(&d.parkedInsert, "INSERT INTO "+pk+" ("+pcols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')")
	set(&d.parkedDelete, "DELETE FROM "+pk+" WHERE name = ? AND version = ? AND stream = ?")
	set(&d.parkedDeleteAll, "DELETE FROM "+pk+" WHERE name = ? AND version = ?")
	set(&d.parkedRequest, "UPDATE "+pk+" SET request = ? WHERE name = ? AND version = ? AND stream = ?")
	set(&d.parkedRequests, "SELECT stream, request FROM "+pk+" WHERE name = ? AND version = ? AND request <> ''")
	set(&d.parkedUpdate, "UPDATE "+pk+" SET pos_commit = ?, pos_prepare = ?, event_id = ?, event_version = ?, event_type = ?, "+
		"error = ?, attempts = ?, parked_ns = ?, request = '' WHERE name = ? AND version = ? AND stream = ?")
	set(&d.logInsert, "INSERT INTO "+lg+" (name, version, at_ns, action, stream, pos_commit, pos_prepare, event_id, detail) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	set(&d.logList, "SELECT name, version, at_ns, action, stream, pos_commit, pos_prepare, event_id, detail FROM "+lg+
		" WHERE name = ? ORDER BY seq")
	set(&d.lastReset, "SELECT seq, action FROM "+lg+" WHERE name = ? AND version = ? "+
		"AND action IN ('"+actionReset+"', '"+actionResetRequested+"') ORDER BY seq DESC LIMIT 1")
	return d, nil
}

// posArgs are the arguments that stand for an event's position in the
// eventID and lagCount statements.
func (d *dialect) posArgs(p chronicle.Position) []any {
	if d.name == "sqlite" {
		return []any{int64(p.Commit)}
	}
	return []any{int64(p.Commit), int64(p.Prepare)}
}

// rebind turns ? placeholders into $1, $2, … for PostgreSQL. The
// statements above hold no ? inside literals.
func (d *dialect) rebind(q string) string {
	if d.name != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
