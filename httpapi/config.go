package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors returned by this package.
var (
	// ErrNoStatements reports a request without any statement.
	ErrNoStatements = errors.New("no statements")
	// ErrTooManyStatements reports a request with more statements than
	// Config.MaxStatements.
	ErrTooManyStatements = errors.New("too many statements")
	// ErrInvalidJSON reports a request body that is not JSON.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrInvalidRequest reports JSON that does not have the shape of a
	// statement list, or a value Tandem cannot bind.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrBadParam reports a query parameter with a value that is not valid.
	ErrBadParam = errors.New("bad query parameter")
	// ErrBadConfig reports a Config that does not pass Validate.
	ErrBadConfig = errors.New("invalid httpapi config")
	// ErrStarted reports a second call to Service.Start.
	ErrStarted = errors.New("http service already started")
)

// Config holds the settings of the HTTP service. Start from DefaultConfig.
type Config struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:4001". Port 0
	// picks a free port; Service.Addr reports it.
	Addr string
	// MaxBodyBytes caps the size of a request body. Larger bodies get 413.
	MaxBodyBytes int64
	// MaxStatements caps the number of statements in one request.
	MaxStatements int
	// Logger receives request errors and panics. Nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Close waits for requests in flight
	// before it cuts their connections.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds the time to read request headers, against
	// slow clients holding connections open.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration
}

// Defaults used by DefaultConfig.
const (
	DefaultAddr          = "localhost:4001"
	DefaultMaxBodyBytes  = 16 << 20
	DefaultMaxStatements = 10000
)

// DefaultConfig returns the default settings: rqlite's port 4001 on
// localhost, 16 MiB bodies, 10000 statements per request.
func DefaultConfig() Config {
	return Config{
		Addr:              DefaultAddr,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		MaxStatements:     DefaultMaxStatements,
		Logger:            slog.Default(),
		ShutdownTimeout:   10 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: Addr is empty: give host:port, e.g. %s", ErrBadConfig, DefaultAddr)
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("%w: MaxBodyBytes is %d: it must be positive", ErrBadConfig, c.MaxBodyBytes)
	case c.MaxStatements <= 0:
		return fmt.Errorf("%w: MaxStatements is %d: it must be positive", ErrBadConfig, c.MaxStatements)
	case c.ShutdownTimeout < 0, c.ReadHeaderTimeout < 0, c.IdleTimeout < 0:
		return fmt.Errorf("%w: timeouts must not be negative", ErrBadConfig)
	}
	return nil
}
