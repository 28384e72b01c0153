package mountcmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/couchfs/couchfs/dbcore"
)

// dataDirFlag is the --data-dir flag every command takes.
func dataDirFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:        "data-dir",
		Usage:       "keep the databases in `DIR`",
		DefaultText: "$XDG_DATA_HOME/couchfs, else ~/.local/share/couchfs",
	}
}

// engineFlag is --engine with the given usage text.
func engineFlag(usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: "engine", Value: defaultEngine, Usage: usage}
}

// boolFlag is a switch; its default (off) goes without saying.
func boolFlag(name, usage string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: name, Usage: usage, DisableDefaultText: true}
}

// dataDir resolves --data-dir, defaulting to $XDG_DATA_HOME/couchfs or
// ~/.local/share/couchfs, and creates it if missing.
func dataDir(c *cli.Context) (string, error) {
	dir := c.String("data-dir")
	if dir == "" {
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no --data-dir given and no home directory: %w", err)
			}
			base = filepath.Join(home, ".local", "share")
		}
		dir = filepath.Join(base, "couchfs")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	return abs, nil
}

// openServer opens the data directory with the engine table. The returned
// close func closes the server, then releases the engines.
func openServer(c *cli.Context, engine string, readOnly bool) (*dbcore.Server, string, func() error, error) {
	dir, err := dataDir(c)
	if err != nil {
		return nil, "", nil, err
	}
	if engine == "" {
		engine = defaultEngine
	}
	if err := checkEngine(engine); err != nil {
		return nil, "", nil, cli.Exit(err.Error(), exitUsage)
	}
	table, release := engineTable()
	srv, err := dbcore.NewServer(dbcore.Options{
		Dir:           dir,
		Engines:       table,
		DefaultEngine: engine,
		ReadOnly:      readOnly,
		Logger:        logger(c),
	})
	if err != nil {
		release()
		if errors.Is(err, dbcore.ErrLocked) {
			return nil, "", nil, fmt.Errorf("data directory %s is in use by another couchfs process, "+
				"such as a mount serving it; unmount it first, or work through the mount (%w)", dir, err)
		}
		return nil, "", nil, fmt.Errorf("open data directory %s: %w", dir, err)
	}
	closeAll := func() error {
		err := srv.Close()
		release()
		return err
	}
	return srv, dir, closeAll, nil
}
