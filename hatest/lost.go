package hatest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// LostTxn is one line of a lost-transactions file, as a rewind writes it
// (sqlitedb.LostTxn): read here from the documented JSON, not through the
// writer's type, so a change of format fails these tests.
type LostTxn struct {
	GTID    string `json:"gtid"`
	LSN     string `json:"lsn"`
	Changes []struct {
		Table  string `json:"table"`
		Op     string `json:"op"`
		Before []any  `json:"before"`
		After  []any  `json:"after"`
	} `json:"changes"`
}

// LostFiles lists the lost-transactions files in a data dir, in name
// order; none when the directory does not exist.
func LostFiles(dataDir string) ([]string, error) {
	dir := filepath.Join(dataDir, "lost-transactions")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".jsonl" {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// ReadLost reads one lost-transactions file.
func ReadLost(path string) ([]LostTxn, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []LostTxn
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		d.DisallowUnknownFields()
		var t LostTxn
		if err := d.Decode(&t); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// LostRows returns the rows of table t that lost transactions inserted,
// by id; any other change to t is an error (a Load only inserts).
func LostRows(txns []LostTxn) (map[int64]string, error) {
	out := map[int64]string{}
	for _, t := range txns {
		for _, c := range t.Changes {
			if c.Table != Table {
				continue
			}
			if c.Op != "INSERT" || len(c.After) != 2 {
				return nil, fmt.Errorf("lost transaction %s: a %s of table %s with after-image %v: a load only inserts (id, v)", t.GTID, c.Op, c.Table, c.After)
			}
			id, err := lostInt(c.After[0])
			if err != nil {
				return nil, fmt.Errorf("lost transaction %s: id %v: %w", t.GTID, c.After[0], err)
			}
			v, ok := c.After[1].(string)
			if !ok {
				return nil, fmt.Errorf("lost transaction %s: value %v is not text", t.GTID, c.After[1])
			}
			out[id] = v
		}
	}
	return out, nil
}

func lostInt(x any) (int64, error) {
	n, ok := x.(json.Number)
	if !ok {
		return 0, fmt.Errorf("not a number but %T", x)
	}
	return strconv.ParseInt(string(n), 10, 64)
}
