package chronicle_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chronicle-go/chronicle"
)

func TestValidateStreamName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "orders-42", true},
		{"one byte", "a", true},
		{"unicode", "订单-ü-🚀", true},
		{"spaces", "my stream with spaces", true},
		{"only a space", " ", true},
		{"leading and trailing spaces", "  a  ", true},
		{"punctuation", "a/b:c#d.e@f", true},
		{"no-break space U+00A0", "a\u00a0b", true},
		{"256 bytes", strings.Repeat("a", 256), true},
		{"256 bytes multibyte", strings.Repeat("订", 85) + "a", true},
		{"256 bytes of 4-byte runes", strings.Repeat("🚀", 64), true},
		{"MaxStreamNameLen", strings.Repeat("x", chronicle.MaxStreamNameLen), true},

		{"empty", "", false},
		{"257 bytes", strings.Repeat("a", 257), false},
		{"258 bytes multibyte", strings.Repeat("订", 86), false},
		{"257 bytes ending in a 4-byte rune", strings.Repeat("a", 253) + "🚀", false},
		{"invalid UTF-8 byte", "a\xffb", false},
		{"truncated UTF-8", "订"[:2], false},
		{"encoded surrogate", "\xed\xa0\x80", false},
		{"overlong encoding", "\xc0\xaf", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"carriage return", "a\rb", false},
		{"tab", "a\tb", false},
		{"unit separator 0x1f", "a\x1f", false},
		{"DEL 0x7f", "a\x7f", false},
		{"C1 U+0080", "a\u0080", false},
		{"NEL U+0085", "a\u0085b", false},
		{"C1 U+009F", "\u009f", false},
		{"line separator U+2028", "a\u2028b", false},
		{"paragraph separator U+2029", "a\u2029b", false},
		{"control at the end of 256 bytes", strings.Repeat("a", 255) + "\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := chronicle.ValidateStreamName(tc.in)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateStreamName(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateStreamName(%q) = nil, want an error", tc.in)
			}
			checkInvalid(t, err, "stream")
		})
	}
}

// acceptableStreamName is the documented rule: 1 to MaxStreamNameLen bytes of
// valid UTF-8 without control characters (C0, DEL, C1) or the Unicode line
// and paragraph separators.
func acceptableStreamName(s string) bool {
	if len(s) < 1 || len(s) > chronicle.MaxStreamNameLen || !utf8.ValidString(s) || s[0] == '@' {
		return false // '@' starts the reserved names
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func FuzzValidateStreamName(f *testing.F) {
	for _, s := range []string{"orders-1", "", "订单-ü-🚀", "a\x00", "\u0085", strings.Repeat("a", 257), "@all", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := chronicle.ValidateStreamName(name)
		if err != nil {
			checkInvalid(t, err, "stream")
			if acceptableStreamName(name) {
				t.Fatalf("ValidateStreamName(%q) rejected an acceptable name: %v", name, err)
			}
			return
		}
		if !utf8.ValidString(name) {
			t.Fatalf("accepted invalid UTF-8 %q", name)
		}
		if len(name) < 1 || len(name) > 256 {
			t.Fatalf("accepted a %d-byte name", len(name))
		}
		for i, r := range name {
			if r < 0x20 || r >= 0x7f && r <= 0x9f {
				t.Fatalf("accepted %q with control character %U at byte %d", name, r, i)
			}
		}
		if !acceptableStreamName(name) {
			t.Fatalf("accepted %q, which breaks the documented rule", name)
		}
	})
}
