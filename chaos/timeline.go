package chaos

import (
	"cmp"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
)

// Timeline layout, in SVG user units.
const (
	tlWidth  = 1100.0
	tlLeft   = 120.0
	tlRight  = 20.0
	tlBarsH  = 120.0
	tlRowH   = 18.0
	tlRowGap = 4.0
)

// faultColors colours each fault kind.
var faultColors = map[string]string{
	FaultKill: "#d62728", FaultPause: "#9467bd", FaultPartition: "#ff7f0e", FaultLatency: "#bcbd22",
	FaultStall: "#8c564b", FaultCut: "#e377c2", FaultSkew: "#17becf", FaultDisk: "#7f7f7f",
}

// roleColors colours a node's state in its row.
var roleColors = map[string]string{
	"primary": "#1f77b4", "replica": "#2ca02c", "down": "#f2b8b8", "not ready": "#ffbb78", "error": "#d62728",
	"no lease": "#aec7e8",
}

// Timeline draws the run as an SVG: acknowledged and other ops per
// second, each node's role over time (from /status samples), and a row
// per fault kind with each injected fault's span. An HA run also marks
// each new primary and rewind from the cluster's history with a line
// across the node rows, and shows a primary without its lease apart.
func Timeline(r *Result) string {
	run := max(r.runTime, time.Second)
	pw := tlWidth - tlLeft - tlRight
	x := func(d time.Duration) float64 { return tlLeft + pw*float64(d)/float64(run) }
	var kinds []string
	for _, k := range FaultKinds {
		for _, f := range r.FaultLog {
			if f.Kind == k {
				kinds = append(kinds, k)
				break
			}
		}
	}
	nodes := nodeNames(r)
	rowsTop := 40 + tlBarsH + 30
	if r.HA {
		rowsTop += 12 // room for the labels of the cluster's role events
	}
	faultTop := rowsTop + float64(len(nodes))*(tlRowH+tlRowGap) + 20
	height := faultTop + float64(len(kinds))*(tlRowH+tlRowGap) + 60

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", tlWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	mode := ""
	if r.HA {
		mode = " (HA)"
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14">tandem chaos: %s, %d nodes%s, commit=%s, seed %d: %s</text>`+"\n",
		tlLeft, html.EscapeString(r.Workload), r.Nodes, mode, html.EscapeString(r.Commit), r.Seed, passWord(r.Pass))

	// Throughput bars.
	top := 40.0
	peak := 1
	for _, s := range r.seconds {
		peak = max(peak, s.OK+s.NotOK)
	}
	fmt.Fprintf(&b, `<text x="5" y="%.0f">ops/s (max %d)</text>`+"\n", top+tlBarsH/2, peak)
	bw := pw / float64(max(len(r.seconds), 1))
	for i, s := range r.seconds {
		hOK := tlBarsH * float64(s.OK) / float64(peak)
		hBad := tlBarsH * float64(s.NotOK) / float64(peak)
		bx := x(time.Duration(i) * time.Second)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2ca02c"><title>second %d: %d ok, %d not ok</title></rect>`+"\n",
			bx, top+tlBarsH-hOK, max(bw-1, 0.5), hOK, i, s.OK, s.NotOK)
		if s.NotOK > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d62728"/>`+"\n", bx, top+tlBarsH-hOK-hBad, max(bw-1, 0.5), hBad)
		}
	}
	// Time axis.
	axisY := top + tlBarsH + 14
	for i := 0; i <= 10; i++ {
		d := run * time.Duration(i) / 10
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(d), top, x(d), height-40)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.1fs</text>`+"\n", x(d), axisY, d.Seconds())
	}

	// Node rows.
	for i, n := range nodes {
		y := rowsTop + float64(i)*(tlRowH+tlRowGap)
		fmt.Fprintf(&b, `<text x="5" y="%.1f">%s</text>`+"\n", y+13, html.EscapeString(n))
		// One box per run of samples in the same state.
		var first *Sample
		for j := range r.samples {
			s := &r.samples[j]
			if s.Node != n {
				continue
			}
			if first != nil && sampleState(first) != sampleState(s) {
				drawState(&b, x(first.At), x(s.At), y, first)
				first = nil
			}
			if first == nil {
				first = s
			}
		}
		if first != nil {
			drawState(&b, x(first.At), x(run), y, first)
		}
	}

	// The cluster's role events.
	lastLabel, row := -1e9, 0
	for _, f := range r.Failovers {
		fx := x(f.At)
		// Labels of events close together go on alternate lines.
		if row = 0; fx-lastLabel < 70 {
			row = 1
		}
		if row == 0 {
			lastLabel = fx
		}
		color, label := "#000000", fmt.Sprintf("t%d %s", f.Term, f.New)
		if f.Kind == "rewind" {
			color, label = "#8c564b", "rewind "+f.Old
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"><title>%s</title></line>`+"\n",
			fx, rowsTop-12, fx, faultTop-6, color, html.EscapeString(fmt.Sprintf("%.2fs %s %s -> %s term %d: %s", f.At.Seconds(), f.Kind, f.Old, f.New, f.Term, f.Reason)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="%s">%s</text>`+"\n", fx+2, rowsTop-3-10*float64(row), color, html.EscapeString(label))
	}

	// Fault rows.
	for i, k := range kinds {
		y := faultTop + float64(i)*(tlRowH+tlRowGap)
		fmt.Fprintf(&b, `<text x="5" y="%.1f">%s</text>`+"\n", y+13, k)
		for _, f := range r.FaultLog {
			if f.Kind != k {
				continue
			}
			x0, x1 := x(f.Start), x(max(f.End, f.Start))
			fill, opacity := faultColors[k], "0.85"
			if f.Status != StatusInjected {
				fill, opacity = "#ffffff", "1"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s" fill-opacity="%s" stroke="%s"><title>%s</title></rect>`+"\n",
				x0, y, max(x1-x0, 3), tlRowH, fill, opacity, faultColors[k],
				html.EscapeString(f.Status+": "+f.Event.String()+noteSuffix(f.Note)))
			if x1-x0 > 40 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9">%s</text>`+"\n", x0+2, y+12, html.EscapeString(cmp.Or(f.Resolved, f.Target)))
			}
		}
	}

	// Legend.
	ly := height - 20
	lx := tlLeft
	states := []string{"primary", "replica", "not ready", "down", "error"}
	if r.HA {
		states = append(states, "no lease")
	}
	for _, k := range states {
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			lx, ly-10, roleColors[k], lx+16, ly, k)
		lx += 90
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">bars: green ok, red failed or unknown; white fault boxes were skipped</text>`+"\n", lx, ly)
	b.WriteString("</svg>\n")
	return b.String()
}

// sampleState names what a node's row shows for a sample.
func sampleState(s *Sample) string {
	switch {
	case !s.Up:
		return "down"
	case s.Error != "":
		return "error"
	case !s.Ready:
		return "not ready"
	case s.HA && s.Role == "primary" && !s.MayWrite:
		return "no lease" // a primary that may not write (deposed, or renewing)
	}
	return s.Role
}

func drawState(b *strings.Builder, x0, x1, y float64, s *Sample) {
	state := sampleState(s)
	color, ok := roleColors[state]
	if !ok {
		color = "#aaaaaa"
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.2f" height="%.0f" fill="%s"><title>%s term %d</title></rect>`+"\n",
		x0, y, max(x1-x0, 0.3), tlRowH, color, html.EscapeString(state), s.Term)
}

func nodeNames(r *Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range r.samples {
		if !seen[s.Node] {
			seen[s.Node] = true
			out = append(out, s.Node)
		}
	}
	slices.Sort(out)
	return out
}

func passWord(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}
