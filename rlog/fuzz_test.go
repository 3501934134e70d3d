package rlog

import (
	"bytes"
	"testing"
)

func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range goldenRecords() {
		enc := AppendRecord(nil, rec)
		f.Add(enc)
		f.Add(enc[:len(enc)/2])
		f.Add(enc[:frameHeaderSize])
		for _, i := range []int{0, 3, 5, 8, 9, 12, 30, len(enc) - 1} {
			flipped := append([]byte(nil), enc...)
			flipped[i] ^= 0x41
			f.Add(flipped)
		}
		f.Add(append(enc, enc...))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := DecodeRecord(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		if n > len(b) || n != rec.Size() {
			t.Fatalf("n = %d, len(b) = %d, Size = %d", n, len(b), rec.Size())
		}
		if got, want := AppendRecord(nil, &rec), b[:n]; !bytes.Equal(got, want) {
			t.Fatalf("re-encoding differs:\ngot  %x\nwant %x", got, want)
		}
	})
}
