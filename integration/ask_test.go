package integration

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testenv"
)

// TestBuildOnErrorAsk runs kiln build -on-error=ask on a terminal (a pty
// made by script(1)) with a provisioner that fails once: answering r retries
// the step and the build succeeds; answering a aborts it.
func TestBuildOnErrorAsk(t *testing.T) {
	scriptBin := testenv.Tool(t, "script")
	for _, tc := range []struct {
		answer string
		code   int
		want   string
	}{
		{"r", 0, "--> null.a: succeeded"},
		{"a", 1, "--> null.a: failed"},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "ask.pkr.hcl", `
source "null" "a" {
  communicator = "none"
}

build {
  sources = ["source.null.a"]

  provisioner "shell-local" {
    inline = ["n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; echo attempt $n; [ $n -ge 1 ]"]
  }
}
`)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, scriptBin, "-qfec", kilnBin+" build -color=false -on-error=ask .", "/dev/null")
			cmd.Dir = dir
			cmd.Env = kilnEnv()
			// The answer is typed at once; stdin stays open until kiln
			// exits (Wait closes it), as a terminal's would.
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(stdin, tc.answer+"\n"); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(out.String(), "\r", "")
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, text)
			}
			for _, want := range []string{`Step "provision" failed: provisioner "shell-local" (ask.pkr.hcl:9): exit status 1`, "[r] Retry the step?", tc.want} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if got := readFile(t, filepath.Join(dir, "count")); (tc.answer == "r") != (got == "2\n") {
				t.Errorf("the provisioner ran %q times after answering %s", strings.TrimSpace(got), tc.answer)
			}
		})
	}
}
