package main

import "github.com/spf13/cobra"

// subcommands lists every subcommand; each lives in a file of its own.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		benchCommand(),
		sqlCommand(),
		serveCommand(),
		promoteCommand(),
		switchoverCommand(),
		clusterCommand(),
		logCommand(),
		statusCommand(),
		replicaCommand(),
		demoCommand(),
		chaosCommand(),
	}
}
