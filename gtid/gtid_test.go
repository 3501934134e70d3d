package gtid

import (
	"errors"
	"testing"
)

func TestGTID_RoundTrip(t *testing.T) {
	u := NewUUID()
	g := GTID{Origin: u, Seq: 42}
	back, err := Parse(g.String())
	if err != nil {
		t.Fatal(err)
	}
	if back != g {
		t.Fatalf("round trip = %v, want %v", back, g)
	}
	if got, want := (GTID{Origin: UUID{0xde, 0xad, 0xbe, 0xef}, Seq: 7}).String(), "deadbeef-0000-0000-0000-000000000000:7"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestParse_Errors(t *testing.T) {
	for _, bad := range []string{"", "abc", "deadbeef-0000-0000-0000-000000000000", "deadbeef-0000-0000-0000-000000000000:0",
		"deadbeef-0000-0000-0000-000000000000:x", "zzzzzzzz-0000-0000-0000-000000000000:1", "deadbeef00000000-0000-0000-00000000:1"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
}
