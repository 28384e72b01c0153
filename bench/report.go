package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Unit names the unit of a Row's Value.
const (
	UnitOpsPerSec  = "ops/s"
	UnitDocsPerSec = "docs/s"
	UnitSeconds    = "s"
	UnitRequests   = "requests"
)

// Target is a design.md §6 goal for one Row. With Absolute set it bounds the
// Row's Value; otherwise it bounds Ratio (Value / the baseline's Value).
type Target struct {
	Cmp      string  `json:"cmp"` // ">=" or "<="
	Value    float64 `json:"value"`
	Absolute bool    `json:"absolute,omitempty"`
}

// String renders the target as it appears in the table: "≥ 0.7×" for a
// ratio, "≤ 2" for an absolute bound.
func (t Target) String() string {
	sym := "≥"
	if t.Cmp == "<=" {
		sym = "≤"
	}
	if t.Absolute {
		return fmt.Sprintf("%s %g", sym, t.Value)
	}
	return fmt.Sprintf("%s %g×", sym, t.Value)
}

func (t Target) met(v float64) bool {
	if t.Cmp == "<=" {
		return v <= t.Value
	}
	return v >= t.Value
}

// Row is one measured figure. Key is stable across runs ("couch/mount/save-16")
// and is what Baseline refers to.
type Row struct {
	Key      string  `json:"key"`
	Group    string  `json:"group"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Ops      int     `json:"ops,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
	Baseline string  `json:"baseline,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	// Compare names a second row to relate this one to without a target
	// (the mount's save to the in-process save: the cost of FUSE).
	Compare      string  `json:"compare,omitempty"`
	CompareRatio float64 `json:"compare_ratio,omitempty"`
	Target       *Target `json:"target,omitempty"`
	Met          *bool   `json:"met,omitempty"`
	// RSSMB is the process's memory after the step (memoryMB): its
	// resident set less the free heap pages the Go runtime keeps.
	RSSMB  float64 `json:"rss_mb"`
	Detail string  `json:"detail,omitempty"`
	Err    string  `json:"error,omitempty"`
}

// Machine describes where the run happened, so a figure can be read next
// to the hardware that produced it.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model"`
	MemoryMB   int    `json:"memory_mb"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	Dir        string `json:"dir"`
	Disk       string `json:"disk"`
	Tmpfs      string `json:"loopback_backing,omitempty"`
}

// Report is the result of one run: every row in the order measured. Add may
// be called from any goroutine; the Write methods after the run.
type Report struct {
	Machine Machine   `json:"machine"`
	Quick   bool      `json:"quick"`
	Sizes   Sizes     `json:"sizes"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Rows    []Row     `json:"rows"`
	// Peer is the URL and welcome object of the HTTP server of --peer mode.
	Peer string `json:"peer,omitempty"`

	mu       sync.Mutex
	progress io.Writer
}

// Add records a row, stamping it with the process's memory (memoryMB),
// and prints a progress line.
func (r *Report) Add(row Row) {
	row.RSSMB = math.Round(memoryMB()*10) / 10
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, row)
	if r.progress != nil {
		if row.Err != "" {
			fmt.Fprintf(r.progress, "bench: %s: %s: FAILED: %s\n", row.Group, row.Name, row.Err)
			return
		}
		extra := ""
		if row.Ops > 0 {
			extra = fmt.Sprintf(" (%d ops in %.2f s)", row.Ops, row.Seconds)
		}
		if row.Detail != "" {
			extra += " " + row.Detail
		}
		fmt.Fprintf(r.progress, "bench: %s: %s: %s %s%s, rss %.0f MB\n", row.Group, row.Name, formatValue(row.Value, row.Unit), row.Unit, extra, row.RSSMB)
	}
}

// Fail records a step that could not be measured, so the table still shows
// the row and why it is empty.
func (r *Report) Fail(key, group, name, unit string, err error) {
	r.Add(Row{Key: key, Group: group, Name: name, Unit: unit, Err: err.Error()})
}

// Step prints a progress line for work that produces no row (fixtures).
func (r *Report) Step(format string, args ...any) {
	if r.progress != nil {
		fmt.Fprintf(r.progress, "bench: "+format+"\n", args...)
	}
}

// Row returns the row with key, if any.
func (r *Report) Row(key string) (Row, bool) {
	for _, row := range r.Rows {
		if row.Key == key {
			return row, true
		}
	}
	return Row{}, false
}

// finish computes every ratio and met flag from the baselines measured in
// this same run.
func (r *Report) finish() {
	index := make(map[string]int, len(r.Rows))
	for i, row := range r.Rows {
		index[row.Key] = i
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		row.Ratio, row.CompareRatio, row.Met = 0, 0, nil
		if row.Err != "" {
			continue
		}
		ratio := func(key string) float64 {
			if j, ok := index[key]; ok && r.Rows[j].Err == "" && r.Rows[j].Value > 0 {
				return math.Round(row.Value/r.Rows[j].Value*1000) / 1000
			}
			return 0
		}
		row.Ratio = ratio(row.Baseline)
		row.CompareRatio = ratio(row.Compare)
		if row.Target == nil {
			continue
		}
		v := row.Ratio
		if row.Target.Absolute {
			v = row.Value
		} else if row.Ratio == 0 {
			continue
		}
		met := row.Target.met(v)
		row.Met = &met
	}
}

// WriteTable prints the report as an aligned text table.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "couchfs bench (quick=%v) %s, %.0f s\n", r.Quick, r.Started.Format(time.RFC3339), r.Seconds)
	fmt.Fprintf(w, "machine: %d CPUs (%s), GOMAXPROCS %d, %d MB RAM, kernel %s, %s\n", m.CPUs, m.CPUModel, m.GOMAXPROCS, m.MemoryMB, m.Kernel, m.Go)
	fmt.Fprintf(w, "disk: %s (%s)", m.Disk, m.Dir)
	if m.Tmpfs != "" {
		fmt.Fprintf(w, "; loopback floor over %s", m.Tmpfs)
	}
	fmt.Fprintln(w)
	if r.Peer != "" {
		fmt.Fprintf(w, "peer: %s\n", r.Peer)
	}
	maxOps := ""
	if r.Sizes.MaxOps > 0 {
		maxOps = fmt.Sprintf(" (at most %d ops)", r.Sizes.MaxOps)
	}
	fmt.Fprintf(w, "sizes: ls %d docs, cp %d files, bulk %d docs in batches of %d, doc ~%d B, rewrites spread over %d docs, %s per throughput step%s\n\n",
		r.Sizes.ListDocs, r.Sizes.BulkFiles, r.Sizes.BulkDocs, r.Sizes.BulkBatch, r.Sizes.DocSize, r.Sizes.Slots, r.Sizes.StepDuration, maxOps)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\tunit\tbaseline\tratio\ttarget\tmet\tRSS MB\tcompared with\t")
	group := ""
	for _, row := range r.Rows {
		if row.Group != group {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\n%s\t\t\t\t\t\t\t\t\t\n", strings.ToUpper(row.Group))
			group = row.Group
		}
		if row.Err != "" {
			fmt.Fprintf(tw, "  %s\tFAILED\t%s\t%s\t\t\t\t%.0f\t\t\n", row.Name, row.Unit, row.Baseline, row.RSSMB)
			continue
		}
		ratio, target, met, compare := "", "", "", ""
		if row.CompareRatio != 0 {
			compare = fmt.Sprintf("%.2f× %s", row.CompareRatio, row.Compare)
		}
		if row.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", row.Ratio)
		}
		if row.Target != nil {
			target = row.Target.String()
			met = "n/a"
			if row.Met != nil {
				met = map[bool]string{true: "met", false: "NOT MET"}[*row.Met]
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t\n", row.Name, formatValue(row.Value, row.Unit), row.Unit, row.Baseline, ratio, target, met, row.RSSMB, compare)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Every cell is tab-terminated so that all groups share one alignment;
	// the padding this leaves at the end of each line is dropped.
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		if _, err := io.WriteString(w, strings.TrimRight(line, " ")+"\n"); err != nil {
			return err
		}
	}
	var notes []string
	for _, row := range r.Rows {
		switch {
		case row.Err != "":
			notes = append(notes, fmt.Sprintf("%s: %s", row.Key, row.Err))
		case row.Detail != "":
			notes = append(notes, fmt.Sprintf("%s: %s", row.Key, row.Detail))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n  %s\n", strings.Join(notes, "\n  "))
	}
	return nil
}

// WriteJSON prints the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// formatValue prints rates as whole numbers with thousands separators,
// times in seconds with milliseconds, request counts as integers.
func formatValue(v float64, unit string) string {
	switch unit {
	case UnitSeconds:
		return fmt.Sprintf("%.3f", v)
	case UnitRequests:
		return fmt.Sprintf("%.0f", v)
	}
	s := fmt.Sprintf("%.0f", v)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
