package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// runCmd runs kiln in-process and returns the exit code, stdout and stderr.
func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, errOut: &errOut, getenv: func(string) string { return "" }})
	return code, out.String(), errOut.String()
}

// kiln validate and inspect contact nothing (validate runs the data sources
// only with -evaluate-datasources, and a failing one is an error at its
// block); kiln build runs each once and shows its result.
func TestValidateEvaluateDatasources(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("1.2.3"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	write := func(path string) {
		src := `data "http" "v" {
  url = "` + srv.URL + path + `"
}
source "null" "x" {
  communicator = "none"
}
build {
  name    = "v${data.http.v.body}"
  sources = ["source.null.x"]
}
`
		if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write("/version")
	if code, out, errOut := runCmd("validate", dir); code != 0 || !strings.Contains(out, "valid") || hits.Load() != 0 {
		t.Fatalf("validate: exit %d, %d requests\n%s%s", code, hits.Load(), out, errOut)
	}
	if code, out, errOut := runCmd("inspect", dir); code != 0 || !strings.Contains(out, "  data.http.v\n") || hits.Load() != 0 {
		t.Fatalf("inspect: exit %d, %d requests\n%s%s", code, hits.Load(), out, errOut)
	}
	if code, out, errOut := runCmd("validate", "-evaluate-datasources", dir); code != 0 || hits.Load() != 1 {
		t.Fatalf("validate -evaluate-datasources: exit %d, %d requests\n%s%s", code, hits.Load(), out, errOut)
	}

	// kiln build runs each data source once and shows its result.
	code, out, errOut := runCmd("build", "-color=false", dir)
	if code != 0 || hits.Load() != 2 || !strings.Contains(out, `data.http.v = {`) || !strings.Contains(out, "v1.2.3.null.x") {
		t.Fatalf("build: exit %d, %d requests\n%s%s", code, hits.Load(), out, errOut)
	}

	write("/gone")
	code, _, errOut = runCmd("validate", "-evaluate-datasources", dir)
	if code != exitFailed || !strings.Contains(errOut, srv.URL+"/gone") || !strings.Contains(errOut, "404") || !strings.Contains(errOut, "t.pkr.hcl line 1") {
		t.Errorf("a failing data source: exit %d\n%s", code, errOut)
	}
}

// An interrupt while a data source runs cancels it, and kiln build exits
// 130.
func TestBuildInterruptedInDatasource(t *testing.T) {
	// cancelled records whether kiln build gave up the request, as the
	// interrupt must make it; the 30 s only keeps a broken build from
	// hanging the test.
	cancelled := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// kiln build is waiting for this answer: interrupt it, as Ctrl-C would.
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-r.Context().Done():
			cancelled <- true
		case <-time.After(30 * time.Second):
			cancelled <- false
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	src := `data "http" "slow" {
  url = "` + srv.URL + `"
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("build", "-color=false", dir)
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitInterrupted, out, errOut)
	}
	select {
	case ok := <-cancelled:
		if !ok {
			t.Error("kiln build exited but its data source request went on")
		}
	case <-time.After(time.Minute):
		t.Error("the data source was never asked")
	}
}
