package bench

import (
	"context"
	"math/rand/v2"
)

// Target is what a run drives: a Tandem node over HTTP, or a SQLite file.
// Every method except Setup and Close is called by many workers at once.
type Target interface {
	// Setup prepares the target for cfg and creates the bench table if it
	// does not exist.
	Setup(ctx context.Context, cfg Config) error
	// CountIDs returns how many rows have an id in [1, hi].
	CountIDs(ctx context.Context, hi int64) (int64, error)
	// Insert inserts rows in one transaction. A row with ID 0 gets the
	// next id; a row with an ID is inserted only if that id is free.
	Insert(ctx context.Context, rows []Row) error
	// PointSelect reads the k and v of the row with id, and returns an
	// error wrapping ErrNoRow when there is none.
	PointSelect(ctx context.Context, id int64) error
	// Close releases the target's connections.
	Close() error
	// String names the target in reports: "http://host:port",
	// "sqlite:PATH".
	String() string
}

// Row is one row of the bench table.
type Row struct {
	ID int64 // 0: let SQLite choose
	K  string
	V  string
}

// The statements every target runs, so both targets do the same work.
const (
	createSQL      = "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, k TEXT, v BLOB(100))"
	insertSQL      = "INSERT INTO bench(k, v) VALUES(?, ?)"
	insertIDSQL    = "INSERT OR IGNORE INTO bench(id, k, v) VALUES(?, ?, ?)"
	pointSelectSQL = "SELECT k, v FROM bench WHERE id = ?"
	countIDsSQL    = "SELECT count(*) FROM bench WHERE id BETWEEN 1 AND ?"
)

// KeyLen and ValueLen are the sizes of a row's k and v, in bytes.
const (
	KeyLen   = 12
	ValueLen = 100
)

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// randomText returns n characters drawn from alphabet.
func randomText(rnd *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := 0; i < n; {
		x := rnd.Uint64()
		for j := 0; j < 10 && i < n; j++ { // 10 six-bit draws per Uint64
			b[i] = alphabet[x&63]
			x >>= 6
			i++
		}
	}
	return string(b)
}

// NewRow returns a row with a random key and value and no id.
func NewRow(rnd *rand.Rand) Row {
	return Row{K: randomText(rnd, KeyLen), V: randomText(rnd, ValueLen)}
}
