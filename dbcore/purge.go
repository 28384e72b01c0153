package dbcore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/couchfs/couchfs/dbcore/revtree"
	"github.com/couchfs/couchfs/engines"
)

// Purge removes leaf revisions for good, CouchDB's _purge: req maps
// document ids to revisions. Only leaves can be purged; other revisions
// are ignored. A document that loses every leaf vanishes (no tombstone);
// one that keeps some moves to the end of the changes feed. Each id gets a
// purge info and the purge sequence advances by one per id. It returns,
// per id, the revisions actually removed, and is durable on return.
func (db *DB) Purge(req map[string][]string) (map[string][]string, error) {
	ids := make([]string, 0, len(req))
	revs := make(map[string][]engines.Rev, len(req))
	for id, rs := range req {
		if err := ValidateDocID(id); err != nil {
			return nil, fmt.Errorf("%w: _purge: %v", ErrInvalidArgument, err)
		}
		if isLocal(id) {
			return nil, fmt.Errorf("%w: _purge: local document %s cannot be purged", ErrInvalidArgument, id)
		}
		for _, s := range rs {
			r, err := revtree.ParseRev(s)
			if err != nil {
				return nil, fmt.Errorf("%w: _purge %s: %v", ErrInvalidArgument, id, err)
			}
			revs[id] = append(revs[id], r)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make(map[string][]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	st := db.st
	err := st.call(func(edb engines.DB) error {
		infos, err := edb.OpenDocs(ids)
		if err != nil {
			return storageErr(st.name, "purge", err)
		}
		purgeSeq, seq := edb.PurgeSeq(), edb.UpdateSeq()
		var pairs []engines.DocInfoPair
		var purges []engines.PurgeInfo
		reseq := false
		for i, id := range ids {
			purgeSeq++
			purges = append(purges, engines.PurgeInfo{Seq: purgeSeq, UUID: newUUID(), ID: id, Revs: revs[id]})
			out[id] = []string{}
			old := infos[i]
			if old == nil {
				continue
			}
			tree, removed := revtree.RemoveLeaves(old.RevTree, revs[id])
			if len(removed) == 0 {
				continue
			}
			for _, r := range removed {
				out[id] = append(out[id], revtree.FormatRev(r))
			}
			if tree == nil {
				pairs = append(pairs, engines.DocInfoPair{Old: old})
				continue
			}
			seq++
			reseq = true
			winner, _ := revtree.WinningLeaf(tree)
			active, external := revtree.Sizes(tree)
			pairs = append(pairs, engines.DocInfoPair{Old: old, New: &engines.DocInfo{
				ID: id, UpdateSeq: seq, Deleted: winner.Deleted(), RevTree: tree,
				ActiveSize: active, ExternalSize: external,
			}})
		}
		if !reseq {
			// Every purge call that records something advances the update
			// sequence, so followers of the feed notice it.
			if err := edb.SetUpdateSeq(seq + 1); err != nil {
				return storageErr(st.name, "purge", err)
			}
		}
		if err := edb.WriteDocInfos(pairs, nil, purges); err != nil {
			return storageErr(st.name, "purge", err)
		}
		if err := edb.Commit(); err != nil {
			err = storageErr(st.name, "purge", err)
			st.recover(err)
			return err
		}
		st.committed()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PurgeJSON is Purge for what a user writes to _purge: {"id": ["rev", …]}.
// It returns {"purge_seq":N,"purged":{"id":["rev",…]}}.
func (db *DB) PurgeJSON(data []byte) ([]byte, error) {
	var req map[string][]string
	if err := json.Unmarshal(data, &req); err != nil || req == nil {
		return nil, fmt.Errorf("%w: _purge takes a JSON object of document ids to lists of revisions", ErrInvalidArgument)
	}
	purged, err := db.Purge(req)
	if err != nil {
		return nil, err
	}
	edb, err := db.st.enter()
	if err != nil {
		return nil, err
	}
	purgeSeq := edb.PurgeSeq()
	db.st.leave()
	return json.Marshal(struct {
		PurgeSeq uint64              `json:"purge_seq"`
		Purged   map[string][]string `json:"purged"`
	}{purgeSeq, purged})
}

// newUUID returns 32 random hex digits, a purge request's identity.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}
