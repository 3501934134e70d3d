// Package command defines the requests a client sends to a Tandem node and
// the results it gets back, independent of the front end (HTTP, pgwire) that
// carried them. It also defines the per-transaction commit level.
//
// Values in statements and results are Go values of SQLite's storage
// classes: nil, int64, float64, string and []byte.
package command
