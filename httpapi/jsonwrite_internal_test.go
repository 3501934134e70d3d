package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// marshalNoEscape encodes v as rqlite does: encoding/json without HTML
// escaping.
func marshalNoEscape(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(buf.String(), "\n")
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<b>&amp;</b>", "q\"b\\s\n\r\t\x00\x1f", "é😀", "\xff\xfe", "\u2028\u2029", "MiXeD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), marshalNoEscape(s); got != want {
			t.Fatalf("appendString(%q): got %s, want %s", s, got, want)
		}
		var plain, lower string
		if err := json.Unmarshal(appendString(nil, s), &plain); err != nil {
			t.Fatalf("appendString(%q) is not JSON: %v", s, err)
		}
		if err := json.Unmarshal(appendStr(nil, s, true), &lower); err != nil {
			t.Fatalf("appendStr(%q, lower) is not JSON: %v", s, err)
		}
		want := strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, plain)
		if lower != want {
			t.Fatalf("appendStr(%q, lower): got %q, want %q", s, lower, want)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 2.5, 1e20, 1e21, 1e-6, 1e-7, -1.5e-9, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		if got, want := string(appendFloat(nil, f)), marshalNoEscape(f); got != want {
			t.Errorf("appendFloat(%v): got %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, want := string(appendFloat(nil, f)), "null"; got != want {
			t.Errorf("appendFloat(%v): got %s, want %s", f, got, want)
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		v         any
		blobArray bool
		want      string
	}{
		{nil, false, "null"},
		{int64(-3), false, "-3"},
		{"x", false, `"x"`},
		{[]byte("hi"), false, `"aGk="`},
		{[]byte(nil), false, "null"},
		{[]byte{}, true, "[]"},
		{[]byte{7, 200}, true, "[7,200]"},
		{true, false, "true"},
		{int(4), false, "4"},
		{struct{ A int }{1}, false, `{"A":1}`},
	}
	for _, tt := range tests {
		got, err := appendValue(nil, tt.v, tt.blobArray)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("appendValue(%#v): got %s, want %s", tt.v, got, tt.want)
		}
	}
	if _, err := appendValue(nil, make(chan int), false); err == nil {
		t.Error("appendValue(chan): got nil error")
	}
}

func TestAppendLSNAndGTID(t *testing.T) {
	for _, l := range []lsn.LSN{0, 1, 0xA3F, 0xFFFFFFFF, 0x1_0000_0000, 0xDEADBEEF_CAFEF00D, math.MaxUint64} {
		if got, want := string(appendLSN(nil, l)), `"`+l.String()+`"`; got != want {
			t.Errorf("appendLSN(%d): got %s, want %s", uint64(l), got, want)
		}
	}
	for _, g := range []gtid.GTID{{Origin: gtid.NewUUID(), Seq: 1}, {Seq: math.MaxUint64}} {
		if got, want := string(appendGTID(nil, g)), `"`+g.String()+`"`; got != want {
			t.Errorf("appendGTID: got %s, want %s", got, want)
		}
	}
}
