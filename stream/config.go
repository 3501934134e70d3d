package stream

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-db/tandem/gtid"
)

// Defaults; see DefaultServerConfig and DefaultClientConfig.
const (
	DefaultHeartbeat     = time.Second
	DefaultMaxBatchBytes = 1 << 20
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultAckInterval   = 100 * time.Millisecond
	// DefaultSeedChunkSize is the size of SeedChunk messages.
	DefaultSeedChunkSize = 256 << 10
	// minSecretLength is the shortest accepted cluster secret.
	minSecretLength = 16
)

// ServerConfig configures a Server. Start from DefaultServerConfig.
type ServerConfig struct {
	Addr        string    // listen address, e.g. ":7001"
	Secret      string    // the shared --cluster-secret
	NodeID      string    // this node's ID, sent in the Challenge
	UUID        gtid.UUID // this node's UUID
	Compression bool      // offer zstd to replicas that want it
	// Heartbeat is how long a connection may stay idle before the server
	// sends a Heartbeat; one also goes out at least this often while
	// records flow.
	Heartbeat time.Duration
	// Timeout is how long a write may block, and how long a replica may
	// send no Ack, before the replica is taken for dead. 0 means three
	// heartbeats.
	Timeout time.Duration
	// MaxBatchBytes bounds a Records message; a single larger record
	// still goes alone.
	MaxBatchBytes int
	// SeedChunkSize is the size of SeedChunk messages.
	SeedChunkSize int
	Logger        *slog.Logger
}

// DefaultServerConfig returns the defaults; Addr, Secret, NodeID and UUID
// are left to set.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		Compression:   true,
		Heartbeat:     DefaultHeartbeat,
		MaxBatchBytes: DefaultMaxBatchBytes,
		SeedChunkSize: DefaultSeedChunkSize,
		Logger:        slog.Default(),
	}
}

func (c ServerConfig) withDefaults() ServerConfig {
	d := DefaultServerConfig()
	c.Heartbeat = cmp.Or(c.Heartbeat, d.Heartbeat)
	c.Timeout = cmp.Or(c.Timeout, 3*c.Heartbeat)
	c.MaxBatchBytes = cmp.Or(c.MaxBatchBytes, d.MaxBatchBytes)
	c.SeedChunkSize = cmp.Or(c.SeedChunkSize, d.SeedChunkSize)
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports the first problem with the configuration.
func (c ServerConfig) Validate() error {
	if err := validateIdentity(c.Secret, c.NodeID, c.UUID); err != nil {
		return fmt.Errorf("stream: server config: %w", err)
	}
	switch {
	case c.Heartbeat < time.Millisecond:
		return fmt.Errorf("stream: server config: heartbeat %v is below 1ms", c.Heartbeat)
	case c.Timeout < c.Heartbeat:
		return fmt.Errorf("stream: server config: timeout %v is shorter than the heartbeat %v", c.Timeout, c.Heartbeat)
	case c.MaxBatchBytes < 1:
		return errors.New("stream: server config: MaxBatchBytes must be positive")
	case c.SeedChunkSize < 1 || c.SeedChunkSize > MaxFramePayload:
		return fmt.Errorf("stream: server config: SeedChunkSize %d is outside 1..%d", c.SeedChunkSize, MaxFramePayload)
	}
	return nil
}

// ClientConfig configures a Client. Start from DefaultClientConfig.
type ClientConfig struct {
	Upstream    string    // the upstream's stream address, host:port
	Secret      string    // the shared --cluster-secret
	NodeID      string    // this node's ID; names its slot upstream
	UUID        gtid.UUID // this node's UUID
	Compression bool      // ask for zstd
	// MinBackoff and MaxBackoff bound the wait between reconnects; it
	// doubles after each failure, with jitter, and is MaxBackoff after a
	// fatal refusal (see Code.Fatal).
	MinBackoff, MaxBackoff time.Duration
	// AckInterval is how often changed positions are acked; flushes and
	// NotifyApplied ack at once.
	AckInterval time.Duration
	// Timeout is how long the upstream may stay silent, or a write block,
	// before the connection is taken for dead. 0 means three of the
	// heartbeat intervals the upstream announces.
	Timeout time.Duration
	// SourceAddr, when set, is the local IP the client dials from.
	SourceAddr string
	Logger     *slog.Logger
}

// DefaultClientConfig returns the defaults; Upstream, Secret, NodeID and
// UUID are left to set.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Compression: true,
		MinBackoff:  DefaultMinBackoff,
		MaxBackoff:  DefaultMaxBackoff,
		AckInterval: DefaultAckInterval,
		Logger:      slog.Default(),
	}
}

func (c ClientConfig) withDefaults() ClientConfig {
	d := DefaultClientConfig()
	c.MinBackoff = cmp.Or(c.MinBackoff, d.MinBackoff)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, max(d.MaxBackoff, c.MinBackoff))
	c.AckInterval = cmp.Or(c.AckInterval, d.AckInterval)
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports the first problem with the configuration.
func (c ClientConfig) Validate() error {
	if c.Upstream == "" {
		return errors.New("stream: client config: Upstream is empty; set the upstream node's stream address")
	}
	if err := validateIdentity(c.Secret, c.NodeID, c.UUID); err != nil {
		return fmt.Errorf("stream: client config: %w", err)
	}
	switch {
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("stream: client config: backoff %v..%v: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	case c.AckInterval <= 0:
		return errors.New("stream: client config: AckInterval must be positive")
	case c.Timeout < 0:
		return errors.New("stream: client config: Timeout must not be negative")
	}
	return nil
}

func validateIdentity(secret, nodeID string, uuid gtid.UUID) error {
	switch {
	case len(secret) < minSecretLength:
		return fmt.Errorf("the cluster secret has %d bytes, want at least %d; set --cluster-secret to the same long random string on every node", len(secret), minSecretLength)
	case nodeID == "" || len(nodeID) > MaxIDLength:
		return fmt.Errorf("node ID %q: want 1 to %d bytes", nodeID, MaxIDLength)
	case uuid.IsZero():
		return errors.New("node UUID is zero")
	}
	return nil
}
