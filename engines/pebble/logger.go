package pebble

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// quietLogger discards Pebble's informational and error chatter: the engine
// reports failures through its own return values, and a database server with
// hundreds of open databases must not log per database.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}

// Fatalf must not return. Pebble calls it on the committing goroutine when a
// WAL write or sync fails; panicking with a fatalError lets commitBatch turn
// that into an error and the engine into read-only mode instead of exiting
// the process.
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fatalError{msg: fmt.Sprintf(format, args...)})
}

// fatalError is what quietLogger.Fatalf panics with.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }

// commitBatch commits b, converting Pebble's fatal commit failure (a failed
// WAL write or sync) into an error.
func commitBatch(b *pebble.Batch, opts *pebble.WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	return b.Commit(opts)
}
