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
	f := fatalError{msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			f.err = err // keeps ENOSPC and friends visible to errors.Is
		}
	}
	panic(f)
}

// fatalError is what quietLogger.Fatalf panics with: Pebble's message and
// the error it formatted, if any.
type fatalError struct {
	msg string
	err error
}

func (e fatalError) Error() string { return e.msg }

// Unwrap returns the error Pebble reported, so the cause (a full disk, a
// failed sync) survives the conversion.
func (e fatalError) Unwrap() error { return e.err }

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
