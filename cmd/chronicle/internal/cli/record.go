package cli

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/chronicle-go/chronicle"
)

// The JSON Lines that read --json, tail --json and export print, and that
// import and append - read: one event per line,
//
//	{"stream":"order-1","version":1,"position":"1","id":"…","type":"OrderPlaced",
//	 "time":"2026-12-02T09:00:00.123456789Z","data":{…},"metadata":{…}}
//
// data holds the payload as written when it is JSON on one line; any other
// payload (or JSON with spaces around it, or bytes that are not UTF-8
// inside a JSON string) is "data_base64" (standard base64) instead, so that every byte
// comes back as it was. Metadata is always a JSON object, written as
// stored ("metadata_base64" in the rare case of a line break inside it).
// Fields that are empty are left out.

// appendEventJSON appends e as one JSON line (with the trailing newline).
func appendEventJSON(b []byte, e *chronicle.Event) []byte {
	b = append(b, `{"stream":`...)
	b = appendString(b, e.Stream)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, e.Version, 10)
	b = append(b, `,"position":"`...)
	b = append(b, e.Position.String()...)
	b = append(b, `","id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendRaw(b, "data", e.Data)
	b = appendRaw(b, "metadata", e.Metadata)
	return append(b, "}\n"...)
}

// appendRaw appends ,"name":raw when raw is JSON on one line, else
// ,"name_base64":"…"; nothing when raw is empty.
func appendRaw(b []byte, name string, raw []byte) []byte {
	if len(raw) == 0 {
		return b
	}
	if oneLineJSON(raw) {
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		return append(b, raw...)
	}
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `_base64":"`...)
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"')
}

// oneLineJSON reports whether raw can stand in a JSON line as it is and
// come back byte for byte: valid JSON, on one line, valid UTF-8 (JSON
// tools replace bad bytes), without spaces around the value (which a
// decoder drops).
func oneLineJSON(raw []byte) bool {
	return bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 &&
		len(bytes.TrimSpace(raw)) == len(raw) && utf8.Valid(raw) && json.Valid(raw)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// record is one line of JSON Lines input (import, append -).
type record struct {
	Stream         string          `json:"stream"`
	Version        int64           `json:"version"`
	Position       string          `json:"position"` // ignored: the target assigns positions
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Time           *time.Time      `json:"time"`
	Data           json.RawMessage `json:"data"`
	DataBase64     *string         `json:"data_base64"`
	Metadata       json.RawMessage `json:"metadata"`
	MetadataBase64 *string         `json:"metadata_base64"`
}

// parseRecord decodes one input line. Unknown fields are an error, so that
// nothing in a file is silently dropped.
func parseRecord(line []byte) (record, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("not an event: %v", err)
	}
	if dec.More() {
		return r, errors.New("not an event: more than one JSON value on the line")
	}
	return r, nil
}

// event returns the record as an event to append.
func (r *record) event() (chronicle.EventData, error) {
	e := chronicle.EventData{ID: r.ID, Type: r.Type}
	if r.Type == "" {
		return e, errors.New(`"type" is missing`)
	}
	if r.Time != nil {
		e.Time = *r.Time
	}
	var err error
	if e.Data, err = rawOrBase64("data", r.Data, r.DataBase64); err != nil {
		return e, err
	}
	md, err := rawOrBase64("metadata", r.Metadata, r.MetadataBase64)
	if err != nil {
		return e, err
	}
	if len(md) > 0 && !bytes.Equal(md, []byte("null")) {
		e.Metadata = md
	}
	return e, nil
}

func rawOrBase64(name string, raw json.RawMessage, b64 *string) ([]byte, error) {
	switch {
	case len(raw) > 0 && b64 != nil:
		return nil, fmt.Errorf("both %q and %q are given", name, name+"_base64")
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%s_base64: %v", name, err)
		}
		return b, nil
	case len(raw) > 0:
		return bytes.Clone(raw), nil
	}
	return nil, nil
}

// lineReader reads JSON Lines, counting them; blank lines are skipped.
type lineReader struct {
	r    *bufio.Reader
	line int // number of the line last returned, from 1
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next non-blank line without its line break, or io.EOF.
// The slice is valid until the next call.
func (l *lineReader) next() ([]byte, error) {
	for {
		b, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := bytes.Clone(b)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = l.r.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		l.line++
		b = bytes.TrimRight(b, "\r\n")
		if len(bytes.TrimSpace(b)) == 0 {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			continue
		}
		return b, nil
	}
}

// parsed is one event of JSON Lines input, with its line number.
type parsed struct {
	rec   record
	event chronicle.EventData
	line  int
}

// events reads the events of the lines left, for import and append -; an
// error names its line and ends the sequence.
func (l *lineReader) events() iter.Seq2[parsed, error] {
	return func(yield func(parsed, error) bool) {
		for {
			line, err := l.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(parsed{}, fmt.Errorf("after line %d: %w", l.line, err))
				return
			}
			p := parsed{line: l.line}
			p.rec, err = parseRecord(line)
			if err == nil {
				p.event, err = p.rec.event()
			}
			if err != nil {
				yield(p, fmt.Errorf("line %d: %w", l.line, err))
				return
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// preview renders an event's data for a table: the JSON itself when it is
// JSON, else a hex preview, cut to max runes.
func preview(data []byte, max int) string {
	var s string
	switch {
	case len(data) == 0:
		return ""
	case json.Valid(data):
		var buf bytes.Buffer
		if json.Compact(&buf, data) == nil {
			s = buf.String()
		} else {
			s = string(data)
		}
	case utf8.Valid(data) && printable(data):
		s = strconv.Quote(string(data))
	default:
		n := min(len(data), max/2)
		s = fmt.Sprintf("%d bytes 0x%s", len(data), hex.EncodeToString(data[:n]))
	}
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-1]) + "…"
	}
	return s
}

func printable(b []byte) bool {
	for _, c := range string(b) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
