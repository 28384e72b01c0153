package fs

import (
	"errors"
	"syscall"

	"github.com/couchfs/couchfs/dbcore"
)

// errnoTable is the filesystem's whole error contract (docs/semantics.md,
// "Errors"): the first sentinel that matches decides. Order matters where
// one error wraps another (an engine conflict is also "db exists").
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{dbcore.ErrInvalidDoc, syscall.EINVAL},
	{dbcore.ErrInvalidDBName, syscall.EINVAL},
	{dbcore.ErrInvalidArgument, syscall.EINVAL},
	{dbcore.ErrUnknownEngine, syscall.EINVAL},
	{dbcore.ErrConflict, syscall.ESTALE},
	{dbcore.ErrTooLarge, syscall.EFBIG},
	{dbcore.ErrDBExists, syscall.EEXIST},
	{dbcore.ErrNotEmpty, syscall.ENOTEMPTY},
	{dbcore.ErrNotFound, syscall.ENOENT},
	{dbcore.ErrDBNotFound, syscall.ENOENT},
	{dbcore.ErrReadOnly, syscall.EROFS},
	{errNameTooLong, syscall.ENAMETOOLONG},
}

// toErrno maps an error from dbcore (or a syscall.Errno the filesystem
// decided itself) to the errno the kernel returns to the application. nil
// maps to 0. An errno anywhere in the chain wins: that is how a full disk
// (ENOSPC from the engine's write, wrapped by dbcore) reaches the
// application as ENOSPC. Anything else unknown — storage failures,
// corruption, a closed server — is EIO. It is the only place that makes
// this decision. Any goroutine may call it.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	for _, e := range errnoTable {
		if errors.Is(err, e.err) {
			return e.errno
		}
	}
	return syscall.EIO
}
