package main

import (
	"io"

	"github.com/spf13/cobra"
)

// completionShells are the shells "completion" writes scripts for, with
// cobra's generator for each. The scripts ask the binary itself (its hidden
// __complete command) for candidates, so they stay right as commands and
// flags change.
var completionShells = []struct {
	name string
	gen  func(root *cobra.Command, w io.Writer) error
}{
	{"bash", func(root *cobra.Command, w io.Writer) error { return root.GenBashCompletionV2(w, true) }},
	{"zsh", func(root *cobra.Command, w io.Writer) error { return root.GenZshCompletion(w) }},
	{"fish", func(root *cobra.Command, w io.Writer) error { return root.GenFishCompletion(w, true) }},
}

const completionShellList = "bash, zsh or fish"

func newCompletionCommand() *cobra.Command {
	var names []string
	for _, s := range completionShells {
		names = append(names, s.name)
	}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "print a shell completion script",
		Long: `Print a script that completes arborctl's commands and flags in the given
shell (bash, zsh or fish). Load it into the current shell, or install it
where the shell looks for completions. The bash script works best with the
bash-completion package installed.`,
		Example: `  source <(arborctl completion bash)
  arborctl completion bash > /etc/bash_completion.d/arborctl
  arborctl completion zsh > "${fpath[1]}/_arborctl"
  arborctl completion fish > ~/.config/fish/completions/arborctl.fish`,
		ValidArgs: names,
		// Checked below, to word the error and pick the exit code.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return failf(exitBadArgs, "Error:  one shell required: %s\n", completionShellList)
			}
			for _, s := range completionShells {
				if s.name == args[0] {
					return s.gen(cmd.Root(), cmd.OutOrStdout())
				}
			}
			return failf(exitBadArgs, "Error:  unknown shell %q: want %s\n", args[0], completionShellList)
		},
	}
}
