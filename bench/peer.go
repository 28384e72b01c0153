package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// peer is a CouchDB-compatible HTTP server (pouchdb-server in
// bench/pouchdb/run.sh) driven with the same documents as the mount.
type peer struct {
	base   string // server URL without trailing slash
	db     string // URL of the benchmark database
	client *http.Client
}

func newPeer(url string) *peer {
	return &peer{
		base:   strings.TrimSuffix(url, "/"),
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}},
	}
}

// do sends one request and fails unless the status is one of want; the
// body is drained so the connection is reused.
func (p *peer) do(ctx context.Context, method, url string, body []byte, out any, want ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBench, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrBench, method, url, err)
	}
	defer resp.Body.Close()
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: %s %s: %s: %s", ErrBench, method, url, resp.Status, bytes.TrimSpace(msg))
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%w: %s %s: decode: %v", ErrBench, method, url, err)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// changesRows reads the whole _changes feed and returns how many rows it
// had, counting result lines so the client does not build a giant value.
func (p *peer) changesRows(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.db+"/_changes", nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBench, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: _changes: %v", ErrBench, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: _changes: %s", ErrBench, resp.Status)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 1<<16))
	var feed struct {
		Results []struct {
			Seq json.RawMessage `json:"seq"`
			ID  string          `json:"id"`
		} `json:"results"`
	}
	if err := dec.Decode(&feed); err != nil {
		return 0, fmt.Errorf("%w: _changes: %v", ErrBench, err)
	}
	return len(feed.Results), nil
}

const groupPeer = "pouchdb-server over HTTP"

// RunPeer measures a CouchDB-compatible server at url (serial PUTs, 16
// concurrent PUTs, _bulk_docs of cfg.BulkBatch, a _changes read) and
// couchfs doing the same work through a mount on each engine (serial
// creates, 16 concurrent creates, cp of the same number of files, ls of
// _changes). Same goroutine rules as Run.
func RunPeer(ctx context.Context, cfg Config, url string) (*Report, error) {
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	base, err := os.MkdirTemp(cfg.Dir, "couchfs-bench-peer-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBench, err)
	}
	defer os.RemoveAll(base)
	rep := &Report{Quick: cfg.Quick, Sizes: cfg.Sizes, Started: time.Now(), progress: cfg.Progress}
	rep.Machine = describeMachine(base)

	p := newPeer(url)
	var welcome json.RawMessage
	if err := p.do(ctx, http.MethodGet, p.base+"/", nil, &welcome, http.StatusOK); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, welcome); err != nil {
		return nil, fmt.Errorf("%w: %s/: welcome is not JSON: %v", ErrBench, p.base, err)
	}
	rep.Peer = p.base + " " + compact.String()
	p.db = fmt.Sprintf("%s/couchfs-bench-%d", p.base, time.Now().UnixNano())
	if err := p.do(ctx, http.MethodPut, p.db, nil, nil, http.StatusCreated, http.StatusOK); err != nil {
		return nil, err
	}
	defer func() { _ = p.do(context.Background(), http.MethodDelete, p.db, nil, nil, http.StatusOK) }()
	measurePeer(ctx, &cfg, rep, p)

	src := filepath.Join(base, "bulk-src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBench, err)
	}
	if err := writeFiles(src, cfg.BulkFiles, func(i int) string { return docID("bulk", 0, i) + ".json" }, func(i int) []byte { return docJSON(cfg.DocSize, 0, i) }); err != nil {
		return nil, err
	}
	for _, eng := range cfg.Engines {
		if ctx.Err() != nil {
			break
		}
		measurePeerMount(ctx, &cfg, rep, eng.Name(), base, src, func() (*mounted, error) { return mountCouchfs(base, eng) })
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.finish()
	return rep, ctx.Err()
}

// measurePeer drives the HTTP server: creates, bulk, changes.
func measurePeer(ctx context.Context, cfg *Config, rep *Report, p *peer) {
	for _, writers := range []int{1, 16} {
		key := fmt.Sprintf("peer/put-%d", writers)
		name := fmt.Sprintf("PUT new doc, %s", plural(writers, "client"))
		m, err := runOps(ctx, writers, cfg.StepDuration, cfg.MaxOps, func(w, i int) error {
			id := docID(fmt.Sprintf("put%d", writers), w, i)
			return p.do(ctx, http.MethodPut, p.db+"/"+id, docJSON(cfg.DocSize, w, i), nil, http.StatusCreated, http.StatusAccepted)
		})
		if err != nil {
			rep.Fail(key, groupPeer, name, UnitOpsPerSec, err)
			continue
		}
		rep.Add(Row{Key: key, Group: groupPeer, Name: name, Value: m.Rate(), Unit: UnitOpsPerSec, Ops: m.Ops, Seconds: m.Elapsed.Seconds()})
	}

	name := fmt.Sprintf("_bulk_docs of %d, %d docs", cfg.BulkBatch, cfg.BulkFiles)
	start, n := time.Now(), 0
	var err error
	for from := 0; from < cfg.BulkFiles && err == nil; from += cfg.BulkBatch {
		var body bytes.Buffer
		body.WriteString(`{"docs":[`)
		for i := from; i < min(from+cfg.BulkBatch, cfg.BulkFiles); i++ {
			if i > from {
				body.WriteByte(',')
			}
			doc := bytes.TrimSpace(docJSON(cfg.DocSize, 0, i))
			fmt.Fprintf(&body, `{"_id":%q,%s`, docID("bulk", 0, i), doc[1:])
			n++
		}
		body.WriteString(`]}`)
		var res []struct{ ID, Error, Reason string }
		err = p.do(ctx, http.MethodPost, p.db+"/_bulk_docs", body.Bytes(), &res, http.StatusCreated, http.StatusOK)
		for _, r := range res {
			if r.Error != "" && err == nil {
				err = fmt.Errorf("%w: _bulk_docs %s: %s: %s", ErrBench, r.ID, r.Error, r.Reason)
			}
		}
	}
	if err != nil {
		rep.Fail("peer/bulk", groupPeer, name, UnitDocsPerSec, err)
	} else {
		d := time.Since(start)
		rep.Add(Row{Key: "peer/bulk", Group: groupPeer, Name: name, Value: float64(n) / d.Seconds(), Unit: UnitDocsPerSec, Ops: n, Seconds: d.Seconds()})
	}

	rows := 0
	d, err := bestOf(cfg.LsRuns, func() (time.Duration, error) {
		start := time.Now()
		var err error
		rows, err = p.changesRows(ctx)
		return time.Since(start), err
	})
	if err != nil {
		rep.Fail("peer/changes", groupPeer, "GET _changes", UnitDocsPerSec, err)
		return
	}
	rep.Add(Row{Key: "peer/changes", Group: groupPeer, Name: fmt.Sprintf("GET _changes (%d rows)", rows), Value: float64(rows) / d.Seconds(), Unit: UnitDocsPerSec, Ops: rows, Seconds: d.Seconds()})
}

// measurePeerMount does the peer's work through a couchfs mount.
func measurePeerMount(ctx context.Context, cfg *Config, rep *Report, eng, base, src string, mount func() (*mounted, error)) {
	group := eng + " through the mount"
	m, err := mount()
	if err != nil {
		rep.Fail(eng+"/peer/save-1", group, "mount", UnitOpsPerSec, err)
		return
	}
	defer func() {
		m.close()
		_ = os.RemoveAll(filepath.Join(base, eng+"-data"))
	}()
	if err := m.srv.CreateDB("peer", ""); err != nil {
		rep.Fail(eng+"/peer/save-1", group, "create db", UnitOpsPerSec, err)
		return
	}
	dir := filepath.Join(m.mnt, "peer")
	for _, writers := range []int{1, 16} {
		key := fmt.Sprintf("%s/peer/save-%d", eng, writers)
		name := fmt.Sprintf("durable create (echo > new.json), %s", plural(writers, "writer"))
		meas, err := runOps(ctx, writers, cfg.StepDuration, cfg.MaxOps, func(w, i int) error {
			return os.WriteFile(filepath.Join(dir, docID(fmt.Sprintf("put%d", writers), w, i)+".json"), docJSON(cfg.DocSize, w, i), 0o644)
		})
		if err != nil {
			rep.Fail(key, group, name, UnitOpsPerSec, err)
			continue
		}
		row := Row{Key: key, Group: group, Name: name, Value: meas.Rate(), Unit: UnitOpsPerSec, Ops: meas.Ops, Seconds: meas.Elapsed.Seconds(), Baseline: fmt.Sprintf("peer/put-%d", writers)}
		if writers == 1 {
			row.Target = &Target{Cmp: ">=", Value: 4}
		}
		rep.Add(row)
	}
	cpName := fmt.Sprintf("cp -r of %d files", cfg.BulkFiles)
	if d, err := runCmd(ctx, "cp", "-r", src+"/.", dir); err != nil {
		rep.Fail(eng+"/peer/bulk", group, cpName, UnitDocsPerSec, err)
	} else {
		rep.Add(Row{Key: eng + "/peer/bulk", Group: group, Name: cpName, Value: float64(cfg.BulkFiles) / d.Seconds(), Unit: UnitDocsPerSec, Ops: cfg.BulkFiles, Seconds: d.Seconds(), Baseline: "peer/bulk"})
	}
	changes := filepath.Join(dir, "_changes")
	rows := 0
	d, err := bestOf(cfg.LsRuns, func() (time.Duration, error) {
		start := time.Now()
		f, err := os.Open(changes)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrBench, err)
		}
		defer f.Close()
		names, err := f.Readdirnames(-1)
		rows = len(names)
		return time.Since(start), err
	})
	if err != nil {
		rep.Fail(eng+"/peer/changes", group, "ls _changes", UnitDocsPerSec, err)
		return
	}
	rep.Add(Row{Key: eng + "/peer/changes", Group: group, Name: fmt.Sprintf("readdir of _changes (%d rows)", rows), Value: float64(rows) / d.Seconds(), Unit: UnitDocsPerSec, Ops: rows, Seconds: d.Seconds(), Baseline: "peer/changes"})
}
