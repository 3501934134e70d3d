package changeset

import (
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"testing"
)

// The expected bytes below were produced by SQLite's session extension
// (sqlite3session_changeset) for the same statements; Builder must write the
// same bytes so that SQLite's apply reads them as its own.
func TestBuilder_MatchesSQLiteSession(t *testing.T) {
	tt := &Table{Name: "t", PK: []uint8{1, 0, 0, 0}}
	c := &Table{Name: "c", PK: []uint8{2, 1, 0}}
	for _, tc := range []struct {
		name string
		do   func(b *Builder) error
		want string
	}{
		{"insert", func(b *Builder) error {
			return b.Insert(tt, []any{int64(1), "ab", []byte{0xff}, nil})
		}, "54040100000074001200010000000000000001030261620401ff05"},
		{"update", func(b *Builder) error {
			return b.Update(tt, []any{int64(5), "old", []byte{1, 2}, 1.5}, []any{int64(5), "new", []byte{1, 2}, 1.5})
		}, "5404010000007400170001000000000000000503036f6c6400000003036e65770000"},
		{"delete", func(b *Builder) error {
			return b.Delete(tt, []any{int64(5), "new", []byte{1, 2}, 1.5})
		}, "5404010000007400090001000000000000000503036e657704020102023ff8000000000000"},
		{"composite pk", func(b *Builder) error {
			return b.Insert(c, []any{"z", int64(2), int64(3)})
		}, "54030201006300120003017a010000000000000002010000000000000003"},
		{"negative real", func(b *Builder) error {
			return b.Insert(tt, []any{int64(300), "ab", []byte{0xff}, -2.25})
		}, "5404010000007400120001000000000000012c030261620401ff02c002000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			if err := tc.do(&b); err != nil {
				t.Fatal(err)
			}
			out, err := b.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(out); got != tc.want {
				t.Fatalf("changeset\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBuilder_NetEffect(t *testing.T) {
	tt := &Table{Name: "t", PK: []uint8{1, 0}}
	row := func(id int64, v string) []any { return []any{id, v} }
	for _, tc := range []struct {
		name string
		do   func(b *Builder)
		want []Change
	}{
		{"insert then delete", func(b *Builder) {
			b.Insert(tt, row(1, "a"))
			b.Delete(tt, row(1, "a"))
		}, nil},
		{"insert then update", func(b *Builder) {
			b.Insert(tt, row(1, "a"))
			b.Update(tt, row(1, "a"), row(1, "b"))
		}, []Change{{Op: OpInsert, New: row(1, "b")}}},
		{"update twice", func(b *Builder) {
			b.Update(tt, row(1, "a"), row(1, "b"))
			b.Update(tt, row(1, "b"), row(1, "c"))
		}, []Change{{Op: OpUpdate, Old: []any{int64(1), "a"}, New: []any{Undefined{}, "c"}}}},
		{"update back to original", func(b *Builder) {
			b.Update(tt, row(1, "a"), row(1, "b"))
			b.Update(tt, row(1, "b"), row(1, "a"))
		}, nil},
		{"update then delete", func(b *Builder) {
			b.Update(tt, row(1, "a"), row(1, "b"))
			b.Delete(tt, row(1, "b"))
		}, []Change{{Op: OpDelete, Old: row(1, "a")}}},
		{"delete then insert", func(b *Builder) {
			b.Delete(tt, row(1, "a"))
			b.Insert(tt, row(1, "z"))
		}, []Change{{Op: OpUpdate, Old: []any{int64(1), "a"}, New: []any{Undefined{}, "z"}}}},
		{"pk change", func(b *Builder) {
			b.Update(tt, row(1, "a"), row(2, "a"))
		}, []Change{{Op: OpDelete, Old: row(1, "a")}, {Op: OpInsert, New: row(2, "a")}}},
		{"insert delete insert", func(b *Builder) {
			b.Insert(tt, row(1, "a"))
			b.Delete(tt, row(1, "a"))
			b.Insert(tt, row(1, "q"))
		}, []Change{{Op: OpInsert, New: row(1, "q")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			tc.do(&b)
			out, err := b.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := b.Empty(), len(tc.want) == 0; got != want {
				t.Fatalf("Empty() = %v, want %v", got, want)
			}
			var got []Change
			if err := Iterate(out, func(_ *Table, c *Change) error { got = append(got, *c); return nil }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestVarint_RoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 240, 16383, 16384, 1 << 21, 1<<56 - 1, 1 << 56, 1<<63 + 12345, math.MaxUint64} {
		b := AppendVarint(nil, v)
		got, n := Varint(b)
		if got != v || n != len(b) {
			t.Errorf("varint %d: got %d (%d of %d bytes)", v, got, n, len(b))
		}
	}
	if got := hex.EncodeToString(AppendVarint(nil, 300)); got != "822c" {
		t.Fatalf("varint 300 = %s, want 822c", got)
	}
}

func TestDecodeValue_Corrupt(t *testing.T) {
	for _, b := range [][]byte{{}, {0x01, 0, 0}, {0x03, 0x05, 'a'}, {0x09}, {0x04, 0x80}} {
		if _, _, err := DecodeValue(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeValue(%x) err = %v, want ErrCorrupt", b, err)
		}
	}
	if _, err := AppendValue(nil, struct{}{}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("AppendValue(struct) err = %v", err)
	}
}

func TestSummarize(t *testing.T) {
	a := &Table{Name: "a", PK: []uint8{1}}
	bt := &Table{Name: "b", PK: []uint8{1, 0}}
	var b Builder
	b.Insert(a, []any{int64(1)})
	b.Insert(a, []any{int64(2)})
	b.Update(bt, []any{int64(1), "x"}, []any{int64(1), "y"})
	b.Delete(bt, []any{int64(2), "x"})
	out, _ := b.AppendTo(nil)
	got, err := Summarize(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []TableSummary{{Table: *a, Inserts: 2}, {Table: *bt, Updates: 1, Deletes: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
}

func FuzzIterate(f *testing.F) {
	tt := &Table{Name: "t", PK: []uint8{1, 0, 0}}
	var b Builder
	b.Insert(tt, []any{int64(1), "x", []byte{1}})
	b.Update(tt, []any{int64(2), "x", nil}, []any{int64(2), "y", 2.5})
	b.Delete(tt, []any{int64(3), nil, nil})
	seed, _ := b.AppendTo(nil)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{'T', 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Tables and Iterate agree on what is well formed.
		tables, terr := Tables(data)
		var n int
		_ = Iterate(data, func(t *Table, c *Change) error {
			n++
			if len(c.Old) != 0 && len(c.Old) != len(t.PK) || len(c.New) != 0 && len(c.New) != len(t.PK) {
				panic("row width differs from table")
			}
			return nil
		})
		if ierr := Iterate(data, func(*Table, *Change) error { return nil }); (ierr == nil) != (terr == nil) {
			t.Fatalf("Tables err %v, Iterate err %v", terr, ierr)
		}
		_ = tables
	})
}
