package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/leadfile"
	"github.com/leadhub/leadhub/core/store"
)

func importCmd() *cobra.Command {
	var format string
	var opts store.ImportOptions
	c := &cobra.Command{
		Use:   "import PROJECT FILE",
		Short: "Load leads from an NDJSON or CSV file (- for standard input) into a project, in one transaction",
		Long: `Load leads from a file into a project: one JSON object per line (the body
of POST /v1/projects/{project}/leads) or CSV with a header row (user_id,
fullname, lastname, email, phone, company, tags, attributes.KEY).

The import is one transaction: stopped or killed halfway, it changes nothing.
A lead that is invalid or whose user id is taken is refused and reported
with its line, and the others are imported (--strict: nothing is).
Each lead gets a lead.created event (actor "import") on its timeline; no
webhook deliveries or plugin jobs follow them.

On SQLite the import takes the database's writer for its whole length and
rebuilds the indexes at the end: run it while no server uses the file.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[1]
			if format == "" {
				format = leadfile.FormatOf(name)
			}
			var in io.Reader = os.Stdin
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			r, err := leadfile.Open(format, in)
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, s *store.Store) error {
				return runImport(ctx, s, args[0], r, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}, func(o *store.Options) { o.Exclusive = true })
		},
	}
	c.Flags().StringVar(&format, "format", "", "ndjson or csv (default: csv for a .csv file, else ndjson)")
	c.Flags().BoolVar(&opts.Strict, "strict", false, "import nothing if any lead is refused")
	c.Flags().BoolVar(&opts.KeepIndexes, "keep-indexes", false, "keep indexes in place while loading (SQLite): faster for a few leads into a large database")
	return c
}

// runImport imports r into project and reports on out (the summary) and
// errOut (each refused lead). The file is read and parsed on a goroutine of
// its own, beside the database's work.
func runImport(ctx context.Context, s *store.Store, project string, r leadfile.Reader, opts store.ImportOptions, out, errOut io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type read struct {
		it  core.ImportItem
		err error
	}
	items := make(chan read, 4096)
	go func() {
		defer close(items)
		for {
			it, err := r.Next()
			select {
			case items <- read{it, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	next := func() (core.ImportItem, error) {
		x, ok := <-items
		if !ok {
			return core.ImportItem{}, io.EOF
		}
		return x.it, x.err
	}
	t0 := time.Now()
	rep, err := s.ImportLeads(ctx, project, next, opts)
	took := time.Since(t0)
	for _, ref := range rep.Refusals {
		fmt.Fprintf(errOut, "line %d: refused: %v\n", ref.Line, ref.Err)
	}
	if more := rep.Refused - len(rep.Refusals); more > 0 {
		fmt.Fprintf(errOut, "… and %d more refused\n", more)
	}
	if errors.Is(err, store.ErrImportRefused) {
		return fmt.Errorf("nothing imported (--strict): %w", err)
	}
	if err != nil {
		return fmt.Errorf("nothing imported: %w", err)
	}
	fmt.Fprintf(out, "imported %d leads into project %s in %s (%.0f leads/s), refused %d\n",
		rep.Imported, project, took.Round(time.Millisecond), float64(rep.Imported)/took.Seconds(), rep.Refused)
	if s.Dialect() == store.SQLite {
		fmt.Fprintln(errOut, "closing the database: its write-ahead log is copied into the file")
	}
	return nil
}
