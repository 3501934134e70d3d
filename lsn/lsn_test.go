package lsn

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestLSN_String(t *testing.T) {
	for _, tc := range []struct {
		in   LSN
		want string
	}{
		{0, "0/00000000"},
		{0xA3F0, "0/0000A3F0"},
		{1<<32 | 5, "1/00000005"},
		{^LSN(0), "FFFFFFFF/FFFFFFFF"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("LSN(%d).String() = %q, want %q", uint64(tc.in), got, tc.want)
		}
		back, err := Parse(tc.want)
		if err != nil || back != tc.in {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.want, back, err, tc.in)
		}
	}
}

func TestParse(t *testing.T) {
	got, err := Parse("4096")
	if err != nil || got != 4096 {
		t.Fatalf("Parse(4096) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "0/", "/1", "1/2/3", "G/0", "-1", "100000000/0"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestLSN_JSON(t *testing.T) {
	b, err := json.Marshal(struct{ L LSN }{0x10})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"L":"0/00000010"}`; got != want {
		t.Fatalf("json = %s, want %s", got, want)
	}
	var v struct{ L LSN }
	if err := json.Unmarshal(b, &v); err != nil || v.L != 0x10 {
		t.Fatalf("unmarshal = %v, %v", v.L, err)
	}
}

func TestLSN_Binary(t *testing.T) {
	b, _ := LSN(0x0102030405060708).MarshalBinary()
	var l LSN
	if err := l.UnmarshalBinary(b); err != nil || l != 0x0102030405060708 {
		t.Fatalf("round trip = %v, %v", l, err)
	}
	if err := l.UnmarshalBinary(b[:3]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short input err = %v", err)
	}
	if got := LSN(10).Sub(4); got != 6 {
		t.Fatalf("Sub = %d", got)
	}
	if got := LSN(4).Sub(10); got != 0 {
		t.Fatalf("Sub behind = %d", got)
	}
}
