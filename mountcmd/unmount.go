package mountcmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// unmount unmounts mp as umount(8) would: umount2(2) as root, fusermount3
// otherwise.
func unmount(mp string) error {
	if os.Geteuid() == 0 {
		err := syscall.Unmount(mp, 0)
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("unmount %s: files are still open (%w); close them or use --lazy", mp, err)
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", mp, err)
		}
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", mp).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u %s: %w: %s", mp, err, out)
	}
	return nil
}
