package pebble

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/couchfs/couchfs/engines"
)

// Layout of a database "<name>.pebble" (a directory):
//
//	GENERATION      the decimal number N of the live generation
//	gen-N/          a Pebble database holding every structure
//
// Compaction builds gen-(N+1) beside the live one and switches by rewriting
// GENERATION (write a temporary file, sync, rename, sync the directory), so
// the switch is one atomic rename and readers of the old generation finish
// undisturbed. Open removes every gen-* directory that GENERATION does not
// name: an interrupted compaction's target or a replaced generation.
// GENERATION is written last by Create, so a directory without it is an
// interrupted Create, which Exists and Open do not accept.
const (
	genFile    = "GENERATION"
	genTmpFile = "GENERATION.tmp"
	genPrefix  = "gen-"
	// trashSuffix names a database being deleted: Delete renames it first,
	// so a crash leaves either the database or a name nothing opens.
	trashSuffix = ".trash"
)

// Options configures the engine. The zero value stores databases on the
// operating system's file system with a small block cache per database.
type Options struct {
	// FS is the file system; nil means vfs.Default. Tests pass
	// vfs.NewCrashableMem or an errorfs wrapper.
	FS vfs.FS
	// Cache, if set, is a block cache shared by every database of the
	// engine. The caller keeps its reference and releases it after the
	// last database is closed. Pebble charges memtables against the cache
	// they belong to, which would leave no room for blocks once a few
	// databases have grown their memtables; so every open database grants
	// the shared cache its memtable budget (see memTableBudget), and the
	// cache's size is what it holds of blocks beside the memtables.
	Cache *pebble.Cache
	// CacheSize is the size of each database's own block cache when Cache
	// is nil; 0 means 8 MiB. Like a shared cache, it counts blocks only:
	// a database may use CacheSize plus its memtable budget.
	CacheSize int64
	// MemTableSize is the largest memtable of each database; 0 means
	// 4 MiB, Pebble's own default. Pebble starts a database's memtable at
	// 256 KiB and doubles it only as writes fill it, and reuses a flushed
	// memtable's memory only for one of the same size, so every memtable
	// on the way up is fresh memory, and a fresh page costs a fault on
	// its first write (~10 us per 4 KB page on the VMs measured, inside
	// the commit). 16 MiB, which spared a bulk load some flushes, took
	// 0.6-0.8 faults per save of a ~1 KB document through its first ~60 MB
	// and made 16 concurrent rewrites 6-11% slower; bulk loads are ~5%
	// faster with it (docs/benchmarks.md).
	MemTableSize uint64
}

const (
	defaultCacheSize    = 8 << 20
	defaultMemTableSize = 4 << 20
)

type engine struct {
	opts Options
	fs   vfs.FS
}

// New returns the Pebble engine. It is safe for concurrent use.
func New(opts Options) engines.Engine {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = defaultMemTableSize
	}
	return &engine{opts: opts, fs: opts.FS}
}

// Name implements engines.Engine.
func (e *engine) Name() string { return "pebble" }

// Ext implements engines.Engine.
func (e *engine) Ext() string { return ".pebble" }

// Exists implements engines.Engine: a database exists once Create wrote its
// GENERATION file.
func (e *engine) Exists(path string) (bool, error) {
	_, err := e.fs.Stat(e.fs.PathJoin(path, genFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("pebble: exists %s: %w", path, err)
	}
}

// Create implements engines.Engine.
func (e *engine) Create(path string) (engines.DB, error) {
	ok, err := e.Exists(path)
	if err != nil {
		return nil, err
	}
	if ok {
		return nil, fmt.Errorf("pebble: create %s: %w", path, engines.ErrExists)
	}
	// Whatever is there is an interrupted Create or Delete.
	if err := e.removeAll(path, path+trashSuffix); err != nil {
		return nil, fmt.Errorf("pebble: create %s: clearing leftovers: %w", path, err)
	}
	d, err := e.create(path)
	if err != nil {
		_ = e.fs.RemoveAll(path)
		return nil, fmt.Errorf("pebble: create %s: %w", path, err)
	}
	return d, nil
}

func (e *engine) create(path string) (*db, error) {
	if err := e.fs.MkdirAll(path, 0o755); err != nil {
		return nil, err
	}
	if err := syncDir(e.fs, e.fs.PathDir(path)); err != nil {
		return nil, err
	}
	const gen = 1
	pdb, err := e.openPebble(genDir(e.fs, path, gen), true)
	if err != nil {
		return nil, err
	}
	st := newState(newUUID())
	var log stateLog
	b := pdb.NewBatch()
	log.put(b, st)
	err = commitBatch(b, pebble.Sync)
	_ = b.Close()
	if err == nil {
		err = writeGen(e.fs, path, gen)
	}
	if err != nil {
		_ = pdb.Close()
		return nil, err
	}
	return newDB(e, path, gen, pdb, st, log), nil
}

// Open implements engines.Engine. It removes generations other than the
// live one: they are leftovers of a compaction that crashed before or after
// its switch.
func (e *engine) Open(path string) (engines.DB, error) {
	gen, err := readGen(e.fs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pebble: open %s: %w", path, engines.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s: %w", path, err)
	}
	if err := e.removeStaleGens(path, gen); err != nil {
		return nil, fmt.Errorf("pebble: open %s: removing compaction leftovers: %w", path, err)
	}
	pdb, err := e.openPebble(genDir(e.fs, path, gen), false)
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return nil, fmt.Errorf("pebble: open %s: generation %d is missing: %w", path, gen, engines.ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s: %w", path, wrapReadErr(err))
	}
	st, log, err := readState(pdb)
	if err != nil {
		_ = pdb.Close()
		return nil, fmt.Errorf("pebble: open %s: %w", path, err)
	}
	return newDB(e, path, gen, pdb, st, log), nil
}

// Delete implements engines.Engine. Compaction leftovers live inside the
// database directory and go with it.
func (e *engine) Delete(path string) error {
	trash := path + trashSuffix
	if err := e.fs.RemoveAll(trash); err != nil {
		return fmt.Errorf("pebble: delete %s: %w", path, err)
	}
	if _, err := e.fs.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pebble: delete %s: %w", path, engines.ErrNotFound)
		}
		return fmt.Errorf("pebble: delete %s: %w", path, err)
	}
	if err := e.fs.Rename(path, trash); err != nil {
		return fmt.Errorf("pebble: delete %s: %w", path, err)
	}
	if err := syncDir(e.fs, e.fs.PathDir(path)); err != nil {
		return fmt.Errorf("pebble: delete %s: %w", path, err)
	}
	if err := e.fs.RemoveAll(trash); err != nil {
		return fmt.Errorf("pebble: delete %s: %w", path, err)
	}
	return nil
}

func (e *engine) removeAll(paths ...string) error {
	for _, p := range paths {
		if err := e.fs.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) removeStaleGens(path string, live uint64) error {
	names, err := e.fs.List(path)
	if err != nil {
		return err
	}
	for _, name := range names {
		n, ok := parseGenDir(name)
		if (ok && n != live) || name == genTmpFile {
			if err := e.fs.RemoveAll(e.fs.PathJoin(path, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// memTableBudget is the most memtable memory Pebble charges to a database's
// block cache: the mutable memtable, one being flushed (Pebble's default
// MemTableStopWritesThreshold of 2) and one kept for reuse. Without room
// for it, a database whose memtables have grown caches no block at all, and
// every lookup rereads and re-checksums the filter and index blocks of
// every table it visits.
func (e *engine) memTableBudget() int64 { return 3 * int64(e.opts.MemTableSize) }

// grantMemTables gives a shared cache room for one database's memtables;
// the returned func takes it back. With a private cache (sized for them
// by openPebble) it does nothing.
func (e *engine) grantMemTables() func() {
	if e.opts.Cache == nil {
		return func() {}
	}
	// A negative reservation grows the cache by what Pebble's memtable
	// reservations of this database will shrink it by.
	return e.opts.Cache.Reserve(-int(e.memTableBudget()))
}

// options returns the options every open of a database uses, reading and
// writing through fs, and a func to call once pebble.Open returns: with no
// shared cache, the database gets a private one sized for its memtables
// too (see memTableBudget), which the database references and the func
// releases.
func (e *engine) options(fs vfs.FS) (*pebble.Options, func()) {
	opts := &pebble.Options{
		FS:                 engineFS{fs},
		Cache:              e.opts.Cache,
		Logger:             quietLogger{},
		EventListener:      &pebble.EventListener{BackgroundError: new(retryPacer).pause, DataCorruption: func(pebble.DataCorruptionInfo) {}},
		MemTableSize:       e.opts.MemTableSize,
		MaxOpenFiles:       256,
		FormatMajorVersion: pebble.FormatNewest,
	}
	// Document lookups by ID miss on every new document: bloom filters keep
	// those misses off the data blocks.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	opts.Experimental.SpanPolicyFunc = prefixSpans
	// No value separation (blob files): Pebble v2.1.7 dereferences nil
	// when a blob file write fails during a flush (blob.FileWriter.Close ->
	// fileBufferedWritable.Abort), turning a full or failing disk into a
	// crash of the mount. Bodies stay in the tables.
	if opts.Cache != nil {
		return opts, func() {}
	}
	c := pebble.NewCache(e.opts.CacheSize + e.memTableBudget())
	opts.Cache = c
	return opts, c.Unref
}

// openPebble opens (or, with create, creates) the Pebble database in dir.
func (e *engine) openPebble(dir string, create bool) (*pebble.DB, error) {
	opts, release := e.options(e.fs)
	defer release()
	opts.ErrorIfExists = create
	opts.ErrorIfNotExists = !create
	if create {
		if err := e.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return pebble.Open(dir, opts)
}

func genDir(fs vfs.FS, path string, gen uint64) string {
	return fs.PathJoin(path, genPrefix+strconv.FormatUint(gen, 10))
}

func parseGenDir(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, genPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func readGen(fs vfs.FS, path string) (uint64, error) {
	f, err := fs.Open(fs.PathJoin(path, genFile))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	gen, err := strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
	if err != nil || gen == 0 {
		return 0, fmt.Errorf("%s: bad generation %q: %w", genFile, buf[:n], engines.ErrCorrupt)
	}
	return gen, nil
}

// writeGen durably replaces GENERATION: the rename is the commit point of
// Create and of a compaction's switch.
func writeGen(fs vfs.FS, path string, gen uint64) error {
	tmp := fs.PathJoin(path, genTmpFile)
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(strconv.FormatUint(gen, 10) + "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := fs.Rename(tmp, fs.PathJoin(path, genFile)); err != nil {
		return err
	}
	return syncDir(fs, path)
}

func syncDir(fs vfs.FS, dir string) error {
	f, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// wrapReadErr marks Pebble's corruption errors with engines.ErrCorrupt.
func wrapReadErr(err error) error {
	if errors.Is(err, pebble.ErrCorruption) {
		return fmt.Errorf("%w: %w", engines.ErrCorrupt, err)
	}
	return err
}
