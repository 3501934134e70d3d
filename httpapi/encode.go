package httpapi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/gtid"
	"github.com/tandem-db/tandem/lsn"
)

// response is what a /db endpoint writes back.
type response struct {
	results []command.Result
	// allRows writes every result as rows, as /db/query does even for a
	// statement that returned no columns.
	allRows bool
	lsn     lsn.LSN
	gtid    gtid.GTID
	warning string
	seconds float64
}

// encoder writes responses in rqlite's JSON shapes (command/encoding in
// rqlite): zero last_insert_id, rows_affected, columns, types and values
// are left out, as rqlite leaves them out.
type encoder struct {
	b         []byte
	timings   bool
	assoc     bool
	blobArray bool
	// rowsNull adds "rows":null to write results, as rqlite's unified
	// endpoint does in associative mode so clients can tell them apart.
	rowsNull bool
	order    []int // scratch for associative key order
}

// encode appends the whole response object.
func (e *encoder) encode(r *response) error {
	e.b = append(e.b, `{"results":[`...)
	for i := range r.results {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		res := &r.results[i]
		var err error
		switch {
		case res.Error != "":
			e.errorResult(res)
		case r.allRows || len(res.Columns) > 0:
			err = e.rows(res)
		default:
			e.write(res)
		}
		if err != nil {
			return err
		}
	}
	e.b = append(e.b, ']')
	if r.lsn != 0 {
		e.b = append(e.b, `,"lsn":`...)
		e.b = appendLSN(e.b, r.lsn)
	}
	if !r.gtid.IsZero() {
		e.b = append(e.b, `,"gtid":`...)
		e.b = appendGTID(e.b, r.gtid)
	}
	if r.warning != "" {
		e.b = append(e.b, `,"warning":`...)
		e.b = appendString(e.b, r.warning)
	}
	if e.timings {
		e.b = append(e.b, `,"time":`...)
		e.b = appendFloat(e.b, r.seconds)
	}
	e.b = append(e.b, '}')
	return nil
}

func (e *encoder) time(res *command.Result, first bool) {
	if !e.timings {
		return
	}
	if !first {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, `"time":`...)
	e.b = appendFloat(e.b, res.Seconds)
}

func (e *encoder) errorResult(res *command.Result) {
	e.b = append(e.b, `{"error":`...)
	e.b = appendString(e.b, res.Error)
	e.time(res, false)
	e.b = append(e.b, '}')
}

// write appends a write result: {"last_insert_id":1,"rows_affected":1}.
func (e *encoder) write(res *command.Result) {
	e.b = append(e.b, '{')
	first := true
	if res.LastInsertID != 0 {
		e.b = append(e.b, `"last_insert_id":`...)
		e.b = strconv.AppendInt(e.b, res.LastInsertID, 10)
		first = false
	}
	if res.RowsAffected != 0 {
		if !first {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"rows_affected":`...)
		e.b = strconv.AppendInt(e.b, res.RowsAffected, 10)
		first = false
	}
	e.time(res, first)
	first = first && !e.timings
	if e.rowsNull {
		if !first {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"rows":null`...)
	}
	e.b = append(e.b, '}')
}

// rows appends a read result, in array or associative form.
func (e *encoder) rows(res *command.Result) error {
	if e.assoc {
		return e.assocRows(res)
	}
	e.b = append(e.b, '{')
	first := true
	if len(res.Columns) > 0 {
		e.b = append(e.b, `"columns":`...)
		e.b = appendStrings(e.b, res.Columns, false)
		first = false
	}
	if len(res.Types) > 0 {
		if !first {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"types":`...)
		e.b = appendStrings(e.b, res.Types, true)
		first = false
	}
	if len(res.Rows) > 0 {
		if !first {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"values":[`...)
		for i, row := range res.Rows {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			if row == nil {
				e.b = append(e.b, "null"...)
				continue
			}
			e.b = append(e.b, '[')
			for j, v := range row {
				if j > 0 {
					e.b = append(e.b, ',')
				}
				var err error
				if e.b, err = appendValue(e.b, v, e.blobArray); err != nil {
					return err
				}
			}
			e.b = append(e.b, ']')
		}
		e.b = append(e.b, ']')
		first = false
	}
	e.time(res, first)
	e.b = append(e.b, '}')
	return nil
}

// assocRows appends {"types":{"col":"t"},"rows":[{"col":v}]}. Keys come in
// sorted order and a repeated column name keeps its last value, as Go maps
// encode in rqlite.
func (e *encoder) assocRows(res *command.Result) error {
	e.order = e.order[:0]
	for i := range res.Columns {
		e.order = append(e.order, i)
	}
	slices.SortStableFunc(e.order, func(a, b int) int {
		switch x, y := res.Columns[a], res.Columns[b]; {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	// Drop all but the last of each run of equal names.
	keep := e.order[:0]
	for k, i := range e.order {
		if k+1 < len(e.order) && res.Columns[e.order[k+1]] == res.Columns[i] {
			continue
		}
		keep = append(keep, i)
	}
	e.order = keep

	e.b = append(e.b, '{')
	if len(res.Types) > 0 {
		e.b = append(e.b, `"types":{`...)
		n := 0
		for _, i := range e.order {
			if i >= len(res.Types) {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			n++
			e.b = appendString(e.b, res.Columns[i])
			e.b = append(e.b, ':')
			e.b = appendStr(e.b, res.Types[i], true)
		}
		e.b = append(e.b, `},`...)
	}
	e.b = append(e.b, `"rows":[`...)
	for r, row := range res.Rows {
		if r > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, '{')
		n := 0
		for _, i := range e.order {
			if i >= len(row) {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			n++
			e.b = appendString(e.b, res.Columns[i])
			e.b = append(e.b, ':')
			var err error
			if e.b, err = appendValue(e.b, row[i], e.blobArray); err != nil {
				return err
			}
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ']')
	e.time(res, false)
	e.b = append(e.b, '}')
	return nil
}

// appendLSN appends the LSN as a JSON string, in lsn.LSN.String's form
// ("0/00000A3F") without fmt.
func appendLSN(b []byte, l lsn.LSN) []byte {
	const upper = "0123456789ABCDEF"
	b = append(b, '"')
	n := len(b)
	b = strconv.AppendUint(b, uint64(l>>32), 16)
	for i := n; i < len(b); i++ {
		if c := b[i]; c >= 'a' {
			b[i] = c - 'a' + 'A'
		}
	}
	b = append(b, '/')
	lo := uint32(l)
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, upper[lo>>uint(shift)&0xf])
	}
	return append(b, '"')
}

// appendGTID appends the GTID as a JSON string, in gtid.GTID.String's form.
func appendGTID(b []byte, g gtid.GTID) []byte {
	u := g.Origin[:]
	b = append(b, '"')
	b = hex.AppendEncode(b, u[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[8:10])
	b = append(b, '-')
	b = hex.AppendEncode(b, u[10:16])
	b = append(b, ':')
	b = strconv.AppendUint(b, g.Seq, 10)
	return append(b, '"')
}

func appendStrings(b []byte, ss []string, lower bool) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStr(b, s, lower)
	}
	return append(b, ']')
}

// appendError appends {"error":"msg"}.
func appendError(b []byte, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// indent rewrites compact JSON src the way rqlite's ?pretty does.
func indent(dst, src []byte) []byte {
	buf := bytes.NewBuffer(dst[:0])
	if err := json.Indent(buf, src, "", "    "); err != nil {
		return append(dst[:0], src...)
	}
	return buf.Bytes()
}

// bufPool holds response and request buffers. Buffers that grew past
// maxPooledBuf are dropped, so one huge response does not pin memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
