# Tandem's build and test entry points. `make test` is what CI runs.
GO ?= go
RACE_PKGS := ./rlog/ ./sqlitedb/ ./node/ ./httpapi/ ./bench/ ./client/ ./stream/ ./commitwait/ ./nodetest/ ./hatest/

.PHONY: test vet unit race fuzz-seeds fuzz build bench crash-long chaos failover-long failover-bench

test: vet unit race fuzz-seeds

vet:
	$(GO) vet ./...

# Every package, including the multi-process crash tests.
unit:
	$(GO) test -count=1 ./...

# Packages that run goroutines, under the race detector.
race:
	$(GO) test -count=1 -race $(RACE_PKGS)

# A short coverage-guided run of each decoder that reads bytes from disk or
# the network (their seed corpora also run as part of `unit`).
fuzz-seeds:
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRecord$$' -fuzztime=10s ./rlog/
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=5s ./payload/
	$(GO) test -run='^$$' -fuzz='^FuzzIterate$$' -fuzztime=5s ./changeset/
	$(GO) test -run='^$$' -fuzz='^FuzzParseStatements$$' -fuzztime=5s ./httpapi/
	$(GO) test -run='^$$' -fuzz='^FuzzReadFrame$$' -fuzztime=5s ./stream/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRecords$$' -fuzztime=5s ./stream/

# Longer fuzzing, for a developer's machine.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRecord$$' -fuzztime=5m ./rlog/

build:
	$(GO) build -o bin/tandem ./cmd/tandem

# Go benchmarks of the write path (capture and log cost per transaction).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./node/ ./rlog/

# Many more crash rounds than CI runs.
crash-long:
	TANDEM_CRASH_ROUNDS=50 $(GO) test -count=1 -run TestCrash -timeout 60m ./crashtest/

# Many more failover rounds than CI runs (hatest: kill the primary at
# remote_flush and async, switchover under load).
failover-long:
	TANDEM_HA_ROUNDS=30 $(GO) test -count=1 -timeout 60m ./hatest/

# Failover RTO, switchover unavailability and the lease's cost to write
# throughput (docs/BENCHMARKS.md, "Failover (issue 4)").
failover-bench:
	bench/scripts/failover.sh 10 10

# Long chaos suite: 100 seeded 60 s runs across the workloads (about 105
# minutes). The even seeds run an HA cluster (automatic failover, faults
# aimed at the primary of the moment); every tenth seed at commit=local,
# whose failover losses the rewinds must list in lost-transactions files.
# CI runs the short fixed-seed suite (TestChaos_ShortSuite). CHAOS_DURATION=20s
# makes each run shorter (about 45 minutes in all).
CHAOS_DURATION ?= 60s

chaos: build
	for s in $$(seq 1 100); do w=$$(echo register bank set | cut -d' ' -f$$((s % 3 + 1))); \
	  ha=; c=remote_flush; [ $$((s % 2)) -eq 0 ] && ha=--ha; [ $$((s % 10)) -eq 0 ] && c=local; \
	  bin/tandem chaos run $$ha --workload $$w --faults all --commit $$c --duration $(CHAOS_DURATION) \
	    --seed $$s --out chaos-out/$$s || exit 1; done
