// Package mountcmd is the couchfs command line: mounting a data directory of
// CouchDB-style databases as a filesystem, and managing the databases
// without mounting. main builds the App with NewApp and runs it.
package mountcmd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/couchfs/couchfs/bench"
)

// Exit codes.
const (
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// NewApp returns the couchfs command-line application. Run it with
// os.Args; errors come back from Run (see Main for how they are reported).
// Call from the main goroutine.
func NewApp() *cli.App {
	usageError := func(c *cli.Context, err error, isSubcommand bool) error {
		help := "couchfs --help"
		if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
			help = "couchfs " + c.Command.Name + " --help"
		}
		return cli.Exit(fmt.Sprintf("%v (see %s)", err, help), exitUsage)
	}
	commands := []*cli.Command{
		mountCommand(),
		unmountCommand(),
		createDBCommand(),
		listDBsCommand(),
		versionCommand(),
		bench.Command(engineTable, engineNames),
	}
	for _, c := range commands {
		c.OnUsageError = usageError
	}
	return &cli.App{
		Name:  "couchfs",
		Usage: "CouchDB-style document databases as a filesystem",
		Description: "couchfs keeps JSON document databases in a data directory and mounts them\n" +
			"as a FUSE filesystem: each database is a directory, each document a file\n" +
			"<id>.json. Writing a file saves a new revision, durable before close()\n" +
			"returns; _changes/, _design/, _local/ and _security sit beside the documents.\n\n" +
			"   couchfs mount --daemon /mnt/couch\n" +
			"   mkdir /mnt/couch/albums\n" +
			"   echo '{\"title\":\"Blue\"}' > /mnt/couch/albums/blue.json\n" +
			"   cat /mnt/couch/albums/blue.json\n" +
			"   umount /mnt/couch\n\n" +
			"Every command takes --help. The filesystem's behaviour, operation by\n" +
			"operation, is in docs/semantics.md.",
		HideVersion:     true,
		HideHelpCommand: true,
		Commands:        commands,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unknown command %q (see couchfs --help)", c.Args().First()), exitUsage)
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
	}
}

// Run runs app with args (os.Args) and returns the process exit code: 0,
// 1 when the command failed, 2 for a wrong command line. It prints the
// error, if any, to stderr. Call from the main goroutine.
func Run(app *cli.App, args []string, stderr io.Writer) int {
	err := app.Run(args)
	if err == nil {
		return 0
	}
	code := exitError
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "couchfs: %s\n", msg)
	}
	return code
}

// logger builds the slog logger commands use: text to stderr, debug level
// with --debug.
func logger(c *cli.Context) *slog.Logger {
	level := slog.LevelInfo
	if c.IsSet("debug") && c.Bool("debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
}

// oneArg returns the single positional argument a command takes.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", cli.Exit(fmt.Sprintf("%s: expected one %s argument, got %d (see couchfs %s --help)",
			c.Command.Name, what, c.NArg(), c.Command.Name), exitUsage)
	}
	return c.Args().First(), nil
}
