package payload

import (
	"errors"
	"reflect"
	"testing"
)

func sample() []Entry {
	return []Entry{
		{Type: TypeDDL, SQL: "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"},
		{Type: TypeChangeset, Changeset: []byte{'T', 1, 1, 't', 0, 0x12, 0, 5}},
		{Type: TypeStatement, SQL: "INSERT INTO t(v) VALUES(?, ?)", Args: []any{int64(-3), 2.5}},
		{Type: TypeStatement, SQL: "UPDATE t SET v=:v WHERE id=:id", Named: map[string]any{":v": []byte{1, 2}, ":id": "x"}},
		{Type: TypeStatement, SQL: "DELETE FROM t WHERE v IS ?", Args: []any{nil}},
	}
}

func TestAppend_RoundTrip(t *testing.T) {
	b, err := Append(nil, sample())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := sample(); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip\n got %#v\nwant %#v", got, want)
	}
}

func TestDecode_Corrupt(t *testing.T) {
	b, _ := Append(nil, sample())
	for _, bad := range [][]byte{nil, {0x02}, {version, 0x09}, b[:len(b)-1], b[:10]} {
		if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%x) err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Append(nil, sample())
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Append(nil, entries)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		// Compare bytes, not values: NaN != NaN.
		third, _ := Append(nil, back)
		if string(third) != string(again) {
			t.Fatalf("re-encode differs")
		}
	})
}
