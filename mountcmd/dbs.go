package mountcmd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

func createDBCommand() *cli.Command {
	return &cli.Command{
		Name:      "create-db",
		Usage:     "create a database without mounting",
		ArgsUsage: "NAME",
		Description: "Creates database NAME in the data directory, stored by the engine --engine\n" +
			"names. The same as mkdir MOUNTPOINT/NAME (or MOUNTPOINT/NAME.pebble) on a mount.\n" +
			"Names follow CouchDB's rule: a lowercase letter, then lowercase letters,\n" +
			"digits and any of _ $ ( ) + - /. An existing name fails (exit 1), whatever\n" +
			"its engine. It cannot run while a mount serves the data directory.",
		Flags: []cli.Flag{
			dataDirFlag(),
			engineFlag("store the database with engine `NAME`: couch or pebble"),
		},
		Action: func(c *cli.Context) error {
			name, err := oneArg(c, "NAME")
			if err != nil {
				return err
			}
			srv, _, closeAll, err := openServer(c, c.String("engine"), false)
			if err != nil {
				return err
			}
			err = srv.CreateDB(name, c.String("engine"))
			if cerr := closeAll(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("create-db %s: %w", name, err)
			}
			return nil
		},
	}
}

func listDBsCommand() *cli.Command {
	return &cli.Command{
		Name:  "list-dbs",
		Usage: "list the databases without mounting",
		Description: "Prints the name of every database in the data directory, one per line,\n" +
			"in name order. With --long, each name is followed by a tab and its engine.\n" +
			"It cannot run while a mount serves the data directory: ls MOUNTPOINT then.",
		Flags: []cli.Flag{
			dataDirFlag(),
			&cli.BoolFlag{Name: "long", Aliases: []string{"l"}, Usage: "also print each database's engine", DisableDefaultText: true},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return cli.Exit("list-dbs takes no arguments (see couchfs list-dbs --help)", exitUsage)
			}
			srv, _, closeAll, err := openServer(c, "", true)
			if err != nil {
				return err
			}
			err = listDBs(c, srv)
			if cerr := closeAll(); err == nil {
				err = cerr
			}
			return err
		},
	}
}

func listDBs(c *cli.Context, srv interface {
	AllDBs() ([]string, error)
	EngineOf(string) (string, error)
}) error {
	names, err := srv.AllDBs()
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		if c.Bool("long") {
			engine, err := srv.EngineOf(n)
			if err != nil {
				return err
			}
			b.WriteString("\t" + engine)
		}
		b.WriteString("\n")
	}
	_, err = fmt.Fprint(c.App.Writer, b.String())
	return err
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of couchfs",
		Description: "Prints the couchfs version (with the VCS revision it was built from),\n" +
			"the Go version and platform, and the storage engines it knows.",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprint(c.App.Writer, versionText())
			return err
		},
	}
}

// versionText is what `couchfs version` prints: the module version (and
// VCS revision when built from a checkout), the Go toolchain and platform,
// and the engines.
func versionText() string {
	version, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("couchfs %s%s\n%s %s/%s\nengines: %s (default), %s\n",
		version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, engineNames[0], strings.Join(engineNames[1:], ", "))
}
