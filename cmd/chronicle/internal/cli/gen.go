package cli

import (
	"fmt"
	"strconv"

	"github.com/chronicle-go/chronicle"
)

// The event generator reproduces the C reference harness's (cbench) byte for
// byte: the same xorshift sequence and seeds, stream names, JSON data,
// UUID keys and event-N keys, so that W1 writes the same events here as
// there.

const (
	seedW1     = 0x2545F4914F6CDD1D // cbench's W1 (and W3) generator
	seedWriter = 0x9e3779b97f4a7c15 // cbench's W4 writer i uses seedWriter·(i+1)
)

type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

// uuid4 returns a random UUID in the version 4 layout, 36 characters.
func (r *rng) uuid4() string {
	const hex = "0123456789abcdef"
	a, b := r.next(), r.next()
	var u [16]byte
	for i := range 8 {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	out := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

// gen makes the events of one writer, for the streams named
// nameFormat % (first+i), i < nstreams.
type gen struct {
	rng       rng
	names     []string
	versions  []int64 // events generated per stream: the version the last one gets
	seq       int64   // events generated so far
	dataBytes int
	keys      string // uuid, seq or none
	typ       string
}

func newGen(nstreams, first int, nameFormat string, seed uint64, dataBytes int, keys, typ string) *gen {
	g := &gen{rng: rng{seed}, names: make([]string, nstreams), versions: make([]int64, nstreams),
		dataBytes: dataBytes, keys: keys, typ: typ}
	for i := range g.names {
		g.names[i] = fmt.Sprintf(nameFormat, first+i)
	}
	return g
}

// event returns the next event, for stream s, with its data written into
// buf (len(buf) >= dataBytes), which the caller may reuse once the append
// that carries the event has returned.
func (g *gen) event(s int, buf []byte) chronicle.EventData {
	r := g.rng.next()
	g.versions[s]++
	ev := chronicle.EventData{Type: g.typ}
	if g.dataBytes > 0 {
		ev.Data = makeData(buf[:g.dataBytes], g.seq, s, r)
	}
	switch g.keys {
	case "uuid":
		ev.ID = g.rng.uuid4()
	case "seq":
		ev.ID = "event-" + strconv.FormatInt(g.seq, 10)
	}
	g.seq++
	return ev
}

// makeData fills out with a JSON document of exactly len(out) bytes, or
// with plain filler when out is too short for the JSON shape.
func makeData(out []byte, seq int64, stream int, r uint64) []byte {
	n := len(out)
	var hb [128]byte
	head := fmt.Appendf(hb[:0], `{"account":"acc-%06d","amount":%d,"currency":"EUR","seq":%d,"note":"`,
		stream, r%100000, seq)
	if len(head)+2 > n {
		for i := range out {
			out[i] = 'x'
		}
		return out
	}
	copy(out, head)
	for i := len(head); i < n-2; i++ {
		out[i] = 'x'
	}
	out[n-2], out[n-1] = '"', '}'
	return out
}
