package ha

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestConfig_Validate(t *testing.T) {
	good := DefaultConfig()
	good.NodeID, good.RaftAddr, good.DataDir = "n1", "127.0.0.1:7001", "/tmp/x"
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"node id", func(c *Config) { c.NodeID = "a b" }, "node id"},
		{"raft address", func(c *Config) { c.RaftAddr = "nohost" }, "raft address"},
		{"advertise", func(c *Config) { c.RaftAdvertise = "x" }, "advertise"},
		{"data dir", func(c *Config) { c.DataDir = "" }, "data directory"},
		{"bootstrap non-voter", func(c *Config) { c.Bootstrap, c.Voter = true, false }, "must be a voter"},
		{"heartbeat", func(c *Config) { c.HeartbeatTimeout = time.Millisecond }, "heartbeat timeout"},
		{"leader lease", func(c *Config) { c.LeaderLeaseTimeout = time.Second }, "exceeds the heartbeat"},
		{"election", func(c *Config) { c.ElectionTimeout = 100 * time.Millisecond }, "below the heartbeat"},
		{"snapshot threshold", func(c *Config) { c.SnapshotThreshold = 0 }, "snapshot threshold"},
		{"lease margin", func(c *Config) { c.LeaseMargin = c.LeaseDuration / 2 }, "lease margin"},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrBadConfig mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestOpen_Refuses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.RaftAddr, cfg.DataDir = "n1", "0.0.0.0:0", t.TempDir()
	if _, err := Open(cfg); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("Open with a wildcard address and no advertise: err = %v, want ErrBadConfig", err)
	}
	cfg.RaftAddr = "127.0.0.1:0"
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "another node using this data dir") {
		t.Fatalf("second Open of the same data dir: err = %v", err)
	}
	cfg.RaftAddr, cfg.DataDir = c.Addr(), t.TempDir()
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "raft address") {
		t.Fatalf("second Open on the same address: err = %v", err)
	}
}

func TestHCLogger(t *testing.T) {
	var buf bytes.Buffer
	h := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	var l hclog.Logger = h
	l.Debug("hidden")
	l.Named("snap").With("a", 1).Warn("kept", "b", 2, "lonely")
	got := buf.String()
	for _, want := range []string{"level=WARN", `msg="snap: kept"`, "component=raft", "a=1", "b=2", "extra=lonely"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "hidden") || l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels: IsDebug=%t IsInfo=%t GetLevel=%v log=%q", l.IsDebug(), l.IsInfo(), l.GetLevel(), got)
	}
	l.StandardLogger(nil).Print("std")
	if !strings.Contains(buf.String(), "std") {
		t.Errorf("standard logger output missing: %q", buf.String())
	}
}
