// Package uuidv7 generates time-ordered UUIDs (RFC 9562, version 7).
package uuidv7

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Generator makes UUIDv7 strings that sort by creation time. Within one
// millisecond a 12-bit counter (seeded with sub-millisecond time) keeps the
// values of one Generator strictly increasing. It is safe for concurrent use.
type Generator struct {
	mu     sync.Mutex
	lastMs int64
	seq    uint16
}

// New returns n UUIDs in increasing order, as 36-character strings.
func (g *Generator) New(n int) []string {
	out := make([]string, n)
	rnd := make([]byte, 8*n)
	_, _ = rand.Read(rnd) // crypto/rand.Read never fails (Go ≥ 1.24)
	now := time.Now()
	g.mu.Lock()
	ms := now.UnixMilli()
	if ms <= g.lastMs {
		ms = g.lastMs
	} else {
		g.lastMs = ms
		// Seed the counter with the fraction of the millisecond, using
		// only the top 10 of 12 bits to leave room for increments.
		g.seq = uint16(now.Nanosecond()%1_000_000*1024/1_000_000) & 0x3ff
	}
	var u [16]byte
	var buf [36]byte
	for i := range out {
		g.seq++
		if g.seq > 0xfff { // counter exhausted: borrow the next millisecond
			g.lastMs++
			ms = g.lastMs
			g.seq = 0
		}
		u[0], u[1], u[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
		u[3], u[4], u[5] = byte(ms>>16), byte(ms>>8), byte(ms)
		u[6] = 0x70 | byte(g.seq>>8)
		u[7] = byte(g.seq)
		copy(u[8:], rnd[8*i:8*i+8])
		u[8] = 0x80 | u[8]&0x3f
		encode(&buf, &u)
		out[i] = string(buf[:])
	}
	g.mu.Unlock()
	return out
}

func encode(dst *[36]byte, u *[16]byte) {
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:16])
}
