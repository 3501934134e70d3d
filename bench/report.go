package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run. Its JSON form has exactly the keys of
// `tandem bench --json`.
type Report struct {
	Workload string `json:"workload"`
	Target   string `json:"target"`
	Clients  int    `json:"clients"`
	// DurationS is the measured time from the first operation's start to
	// the last one's end, in seconds.
	DurationS float64 `json:"duration_s"`
	// Transactions counts successful operations; a batch is one.
	Transactions int64 `json:"transactions"`
	Errors       int64 `json:"errors"`
	// TPS is Transactions / DurationS.
	TPS float64 `json:"tps"`
	// Latency of successful operations, in milliseconds: the mean and
	// percentiles.
	MeanMs float64 `json:"mean_ms"`
	P50ms  float64 `json:"p50_ms"`
	P95ms  float64 `json:"p95_ms"`
	P99ms  float64 `json:"p99_ms"`

	// Config is the run's configuration, with the seed it used.
	Config Config `json:"-"`
	// Latency holds every successful operation's latency.
	Latency *Histogram `json:"-"`
	// ErrorSamples holds the first few distinct error messages.
	ErrorSamples []string `json:"-"`
}

func newReport(cfg Config, target string, elapsed time.Duration, total *worker, samples []string) Report {
	secs := elapsed.Seconds()
	r := Report{
		Workload:     string(cfg.Workload),
		Target:       target,
		Clients:      cfg.Clients,
		DurationS:    round(secs, 3),
		Transactions: total.ok,
		Errors:       total.errs,
		MeanMs:       ms(total.hist.Mean()),
		P50ms:        ms(total.hist.Quantile(0.50)),
		P95ms:        ms(total.hist.Quantile(0.95)),
		P99ms:        ms(total.hist.Quantile(0.99)),
		Config:       cfg,
		Latency:      &total.hist,
		ErrorSamples: samples,
	}
	if secs > 0 {
		r.TPS = round(float64(total.ok)/secs, 1)
	}
	return r
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

// WriteJSON writes the report as one JSON object and a newline.
func (r Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteText writes the report as a small aligned table: a header line and
// one line of values.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\ttarget\tclients\tduration_s\ttransactions\terrors\ttps\tmean_ms\tp50_ms\tp95_ms\tp99_ms")
	fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%d\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\n",
		r.Workload, r.Target, r.Clients, r.DurationS, r.Transactions, r.Errors, r.TPS, r.MeanMs, r.P50ms, r.P95ms, r.P99ms)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Config.Workload == Batch {
		_, err := fmt.Fprintf(w, "batch size %d: %.1f rows/s\n", r.Config.BatchSize, r.TPS*float64(r.Config.BatchSize))
		return err
	}
	return nil
}
