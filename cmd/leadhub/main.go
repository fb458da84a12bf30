// Command leadhub is the Leadhub server and its admin tools. It is the only
// place that wires the adapters together.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "leadhub:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "leadhub",
		Short:         "Leadhub: contacts and leads for support teams",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	config.Flags(root.PersistentFlags())
	root.AddCommand(serveCmd(), migrateCmd(), versionCmd(), projectCmd(), keyCmd(), importCmd())
	return root
}

func loadConfig(cmd *cobra.Command) (config.Config, error) {
	return config.Load(cmd.Flags(), os.Environ())
}

func serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, os.Stdout)
		},
	}
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			s, err := openStore(cmd.Context(), cfg, nil, newLogger(cfg))
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Println("migrations applied")
			return nil
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Println("leadhub", version) },
	}
}

func projectCmd() *cobra.Command {
	c := &cobra.Command{Use: "project", Short: "Manage projects"}
	c.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create a project and print its admin key (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(ctx context.Context, s *store.Store) error {
				p, key, err := s.CreateProject(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Printf("project %s\nadmin key %s\n", p.ID, key.Secret)
				return nil
			})
		},
	})
	return c
}

func keyCmd() *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Manage project keys"}
	c.AddCommand(&cobra.Command{
		Use:   "create PROJECT NAME ROLE",
		Short: "Create a key (role admin, agent or ingest) and print it (shown once)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(ctx context.Context, s *store.Store) error {
				k, err := s.CreateKey(ctx, args[0], args[1], core.Role(args[2]))
				if err != nil {
					return err
				}
				fmt.Printf("key %s\n%s\n", k.ID, k.Secret)
				return nil
			})
		},
	})
	return c
}

func withStore(cmd *cobra.Command, f func(context.Context, *store.Store) error, more ...func(*store.Options)) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	// A long admin command (an import) can be profiled like the server.
	defer startPprof(cfg.PprofAddr, log)()
	s, err := openStoreWithHook(cmd.Context(), cfg, nil, nil, log, more...)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(cmd.Context(), s)
}
