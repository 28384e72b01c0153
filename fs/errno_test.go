package fs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/couchfs/couchfs/dbcore"
	"github.com/couchfs/couchfs/engines"
)

func TestToErrno(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("save blue: %w", err) }
	tests := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{dbcore.ErrInvalidDoc, syscall.EINVAL},
		{wrap(dbcore.ErrInvalidDoc), syscall.EINVAL},
		{wrap(dbcore.ErrInvalidDBName), syscall.EINVAL},
		{wrap(dbcore.ErrInvalidArgument), syscall.EINVAL},
		{wrap(dbcore.ErrUnknownEngine), syscall.EINVAL},
		{wrap(dbcore.ErrConflict), syscall.ESTALE},
		{wrap(dbcore.ErrTooLarge), syscall.EFBIG},
		{wrap(dbcore.ErrDBExists), syscall.EEXIST},
		{wrap(fmt.Errorf("%w: %w", dbcore.ErrEngineConflict, dbcore.ErrDBExists)), syscall.EEXIST},
		{wrap(dbcore.ErrNotEmpty), syscall.ENOTEMPTY},
		{wrap(dbcore.ErrNotFound), syscall.ENOENT},
		{wrap(dbcore.ErrDBNotFound), syscall.ENOENT},
		{wrap(dbcore.ErrReadOnly), syscall.EROFS},
		{wrap(dbcore.ErrClosed), syscall.EIO},
		{wrap(engines.ErrCorrupt), syscall.EIO},
		{errors.New("disk on fire"), syscall.EIO},
		{syscall.EXDEV, syscall.EXDEV},
		{wrap(syscall.EACCES), syscall.EACCES},
		{wrap(&os.PathError{Op: "write", Path: "/data/db.couch", Err: syscall.ENOSPC}), syscall.ENOSPC},
		{wrap(checkName(string(make([]byte, 256)))), syscall.ENAMETOOLONG},
		{wrap(errNameTooLong), syscall.ENAMETOOLONG},
	}
	for _, tt := range tests {
		if got := toErrno(tt.err); got != tt.want {
			t.Errorf("toErrno(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
