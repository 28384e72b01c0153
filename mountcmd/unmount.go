package mountcmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
)

// unmount unmounts mp as umount(8) would: umount2(2) as root, fusermount3
// otherwise. When that fails because the couchfs serving mp is dead or
// hangs, the error says so and names --force.
func unmount(mp string) error {
	var err error
	if os.Geteuid() == 0 {
		if err = syscall.Unmount(mp, 0); err != nil {
			err = fmt.Errorf("unmount %s: %w", mp, err)
		}
	} else if out, xerr := exec.Command("fusermount3", "-u", mp).CombinedOutput(); xerr != nil {
		err = fmt.Errorf("fusermount3 -u %s: %w: %s", mp, xerr, out)
	}
	if err == nil {
		return nil
	}
	abs, aerr := filepath.Abs(mp)
	if aerr != nil {
		return err
	}
	switch state, _, _ := probeMount(abs); state {
	case dead:
		return fmt.Errorf("%w; the couchfs serving it is gone: use --force to detach it", err)
	case hung:
		return fmt.Errorf("%w; the couchfs serving it does not answer: use --force to abort its connection and detach it", err)
	}
	if errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("%w: files are still open; close them or use --lazy", err)
	}
	return err
}

// forceUnmount is `couchfs unmount --force`: a mount whose couchfs answers
// is unmounted normally if it can be; otherwise (its couchfs is dead or
// hangs, or files are open) its FUSE connection is aborted and it is
// detached.
func forceUnmount(c *cli.Context, mp string) error {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return err
	}
	state, ent, err := probeMount(abs)
	if err != nil {
		return err
	}
	switch {
	case state == notMounted:
		return fmt.Errorf("unmount --force %s: nothing is mounted there", mp)
	case !ent.isFUSE():
		return fmt.Errorf("unmount --force %s: not a FUSE mount (%s)", mp, ent.fstype)
	case state == answering && unmount(mp) == nil:
		return nil
	}
	why := map[mountState]string{dead: "its couchfs was gone", hung: "its couchfs did not answer", answering: "it was busy"}[state]
	if state == answering {
		// The abort is what frees the mount here: it must not fail.
		state = hung
	}
	if err := recoverMount(abs, state, ent); err != nil {
		return fmt.Errorf("unmount --force %s: %w", mp, err)
	}
	fmt.Fprintf(c.App.Writer, "couchfs: %s: %s; aborted its FUSE connection and detached it\n", mp, why)
	return nil
}
