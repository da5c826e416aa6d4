package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// Each shell gets a script that registers completion for arborctl and
// that the shell, where it is installed, parses without error.
func TestCompletionScripts(t *testing.T) {
	for _, tc := range []struct {
		shell string
		// marker is the line that hooks the script into the shell.
		marker string
		// syntaxCheck is the shell's parse-only invocation.
		syntaxCheck []string
	}{
		{"bash", "complete -o default -F __start_arborctl arborctl", []string{"bash", "-n"}},
		{"zsh", "#compdef arborctl", []string{"zsh", "-n"}},
		{"fish", "complete -c arborctl ", []string{"fish", "--no-execute"}},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			r := runCLI(t, nil, nil, "", "completion", tc.shell)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("completion %s: exit %d, stderr %q", tc.shell, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.marker) {
				t.Errorf("completion %s: script lacks %q:\n%s", tc.shell, tc.marker, r.stdout)
			}
			if _, err := exec.LookPath(tc.syntaxCheck[0]); err != nil {
				t.Skipf("%s not installed: script produced but its syntax not checked", tc.shell)
			}
			script := filepath.Join(t.TempDir(), "arborctl."+tc.shell)
			if err := os.WriteFile(script, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(tc.syntaxCheck[0], append(tc.syntaxCheck[1:], script)...).CombinedOutput()
			if err != nil {
				t.Errorf("%s rejects the script: %v\n%s", tc.shell, err, out)
			}
		})
	}
}

func TestCompletionBadShell(t *testing.T) {
	for _, args := range [][]string{
		{"completion", "powershell"},
		{"completion"},
		{"completion", "bash", "zsh"},
	} {
		r := runCLI(t, nil, nil, "", args...)
		if r.code != exitBadArgs || r.stdout != "" || !strings.Contains(r.stderr, "bash, zsh or fish") {
			t.Errorf("%v: %+v, want exit %d and the supported shells named on stderr", args, r, exitBadArgs)
		}
	}
	r := runCLI(t, nil, nil, "", "completion", "powershell")
	if want := "Error:  unknown shell \"powershell\": want bash, zsh or fish\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

// TestBashCompletionCompletes loads the bash script and runs its
// completion function the way bash would on <Tab>, with arborctl on PATH
// (the test binary acting as main), so the script and the binary's
// __complete answers are tested together.
func TestBashCompletionCompletes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "arborctl")); err != nil {
		t.Fatal(err)
	}
	// Without the bash-completion package, the script needs its word
	// splitter; compopt only works inside a real completion.
	const harness = `
_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
compopt() { :; }
source <(arborctl completion bash) || exit 1
line=$1
read -ra COMP_WORDS <<<"$line"
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
__start_arborctl
printf '%s\n' "${COMPREPLY[@]}"
`
	for _, tc := range []struct{ line, want string }{
		{"arborctl comp", "completion\n"},
		{"arborctl completion ", "bash\nzsh\nfish\n"},
		{"arborctl watch --for", "--forever\n"},
		{"arborctl member l", "list\n"},
	} {
		cmd := exec.Command("bash", "-c", harness, "bash", tc.line)
		cmd.Env = beMainEnv("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"))
		testutil.DieWithParent(cmd)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if string(out) != tc.want {
			t.Errorf("<Tab> after %q offers %q, want %q", tc.line, out, tc.want)
		}
	}
}
