package awsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// sleeps records the delays a Waiter sleeps, without sleeping.
type sleeps []time.Duration

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	*s = append(*s, d)
	return ctx.Err()
}

func TestWaitSlowPath(t *testing.T) {
	states := []string{"pending", "pending", "pending", "pending", "available"}
	polls := 0
	var seen []string
	var slept sleeps
	w := Waiter{First: 5 * time.Millisecond, Max: 12 * time.Millisecond, Timeout: time.Minute, Sleep: slept.sleep,
		OnState: func(what, state string, _ time.Duration) { seen = append(seen, what+": "+state) }}
	err := w.Wait(context.Background(), "image ami-1", "available", func(context.Context) (string, bool, error) {
		polls++
		s := states[polls-1]
		return s, s == "available", nil
	})
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if polls != 5 {
		t.Fatalf("polled %d times, want 5", polls)
	}
	if strings.Join(seen, "; ") != "image ami-1: pending; image ami-1: available" {
		t.Errorf("states reported: %v", seen)
	}
	// The delay grows by half each time, up to Max.
	if want := []time.Duration{5 * time.Millisecond, 7500 * time.Microsecond, 11250 * time.Microsecond, 12 * time.Millisecond}; !slices.Equal(slept, want) {
		t.Errorf("delays %v, want %v", slept, want)
	}
}

func TestWaitDefaultDelays(t *testing.T) {
	n := 0
	var slept sleeps
	err := Waiter{Sleep: slept.sleep}.Wait(context.Background(), "x", "y", func(context.Context) (string, bool, error) {
		n++
		return "", n == 10, nil
	})
	if err != nil || len(slept) != 9 || slept[0] != FirstPollDelay || slept[8] != MaxPollDelay || slices.Max(slept) != MaxPollDelay {
		t.Fatalf("err %v, delays %v: want from FirstPollDelay up to MaxPollDelay", err, slept)
	}
}

func TestWaitTimeoutSaysWhatAndWhere(t *testing.T) {
	w := Waiter{First: time.Millisecond, Max: 5 * time.Millisecond, Timeout: 50 * time.Millisecond}
	err := w.Wait(context.Background(), "image ami-1 in eu-west-1", "available", func(context.Context) (string, bool, error) {
		return "pending", false, nil
	})
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *TimeoutError", err)
	}
	if te.State != "pending" || te.Want != "available" || !strings.Contains(err.Error(), "ami-1 in eu-west-1") {
		t.Errorf("timeout error = %q (%+v)", err, te)
	}
}

func TestWaitCancelledIsNotATimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := Waiter{First: time.Millisecond, Timeout: time.Hour}
	n := 0
	err := w.Wait(ctx, "instance i-1", "running", func(context.Context) (string, bool, error) {
		if n++; n == 3 {
			cancel()
		}
		return "pending", false, nil
	})
	var te *TimeoutError
	if errors.As(err, &te) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancellation", err)
	}
}

func TestWaitPollErrorEndsWait(t *testing.T) {
	boom := errors.New("image failed")
	err := Waiter{First: time.Millisecond}.Wait(context.Background(), "image ami-1", "available", func(context.Context) (string, bool, error) {
		return "", false, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitFixedDelay(t *testing.T) {
	n := 0
	var slept sleeps
	err := Waiter{Delay: 20 * time.Millisecond, Max: time.Second, Sleep: slept.sleep}.Wait(context.Background(), "x", "y", func(context.Context) (string, bool, error) {
		n++
		return "", n == 3, nil
	})
	if want := []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}; err != nil || !slices.Equal(slept, want) {
		t.Fatalf("err %v, delays %v; want %v", err, slept, want)
	}
}

func TestJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, "build-1")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.Intent("us-east-1", "key-pair", "kiln_build-1"))
	must(j.Created("us-east-1", "key-pair", "kiln_build-1", "kiln_build-1"))
	must(j.Intent("us-east-1", "instance", "tok-i"))
	must(j.Created("us-east-1", "instance", "tok-i", "i-1"))
	must(j.Intent("eu-west-1", "image", "tok"))
	must(j.Created("eu-west-1", "image", "tok", "ami-2"))
	must(j.Done("us-east-1", "instance", "i-1"))
	must(j.Intent("us-east-1", "security-group", "refused"))
	must(j.Refused("us-east-1", "security-group", "refused"))
	must(j.Intent("eu-west-1", "image", "in-flight")) // the process dies before the answer
	if j.Pending() != 2 {
		t.Fatalf("pending = %d, want 2", j.Pending())
	}
	// A process killed mid-write leaves a partial line.
	f, _ := os.OpenFile(j.Path(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"created","region":"us-e`)
	f.Close()

	js, err := ReadJournals(dir)
	if err != nil || len(js) != 1 {
		t.Fatalf("read: %v, %d journals", err, len(js))
	}
	jf := js[0]
	if jf.Build != "build-1" || jf.PID != os.Getpid() || !jf.Alive() {
		t.Errorf("header: %+v", jf)
	}
	if strings.Join(jf.Regions, ",") != "eu-west-1,us-east-1" {
		t.Errorf("regions = %v", jf.Regions)
	}
	var ids []string
	for _, e := range jf.Pending {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "kiln_build-1,ami-2" {
		t.Errorf("pending = %v, want the key pair and the image, oldest first", ids)
	}
	if len(jf.Intents) != 1 || jf.Intents[0].Token != "in-flight" || jf.Intents[0].Region != "eu-west-1" || jf.Intents[0].Kind != "image" {
		t.Errorf("intents = %+v, want only the one never answered", jf.Intents)
	}
	must(j.Close())
	if _, err := os.Stat(j.Path()); err != nil {
		t.Errorf("journal with pending entries was removed: %v", err)
	}
}

func TestJournalRemovedWhenEverythingIsDone(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, "b2")
	if err != nil {
		t.Fatal(err)
	}
	j.Intent("r", "instance", "tok")
	j.Created("r", "instance", "tok", "i-1")
	j.Done("r", "instance", "i-1")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b2.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("journal still there: %v", err)
	}
}

// TestJournalKeptForUnansweredIntent: a create call that never answered
// may have made its resource, so the journal stays for kiln clean.
func TestJournalKeptForUnansweredIntent(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir, "b3")
	if err != nil {
		t.Fatal(err)
	}
	j.Intent("r", "image", "kiln-web-1.0.0")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b3.jsonl")); err != nil {
		t.Fatalf("journal with an open intent was removed: %v", err)
	}
}

func TestJournalOfDeadProcess(t *testing.T) {
	dir := t.TempDir()
	host, _ := os.Hostname()
	// PID 0x7ffffffe does not exist.
	content := `{"build":"dead","pid":2147483646,"host":"` + host + `","start":"2026-01-01T00:00:00Z"}` + "\n" +
		`{"op":"created","region":"r","kind":"instance","id":"i-9"}` + "\n"
	os.WriteFile(filepath.Join(dir, "dead.jsonl"), []byte(content), 0o600)
	os.WriteFile(filepath.Join(dir, "junk.jsonl"), []byte("not json\n"), 0o600)
	js, err := ReadJournals(dir)
	if err == nil || !strings.Contains(err.Error(), "junk.jsonl") {
		t.Errorf("err = %v, want one naming the bad file", err)
	}
	if len(js) != 1 || js[0].Alive() || len(js[0].Pending) != 1 {
		t.Fatalf("journals = %+v", js)
	}
}

func TestOpenJournalRejectsPathsInBuildID(t *testing.T) {
	if _, err := OpenJournal(t.TempDir(), "../escape"); err == nil {
		t.Fatal("a build ID with a slash was accepted")
	}
}

func TestSharedRetryer(t *testing.T) {
	a, b := SharedRetryer("us-east-1", 5), SharedRetryer("us-east-1", 5)
	if a != b {
		t.Error("two retryers for the same region and budget")
	}
	if SharedRetryer("eu-west-1", 5) == a {
		t.Error("regions share a retryer")
	}
	if a.MaxAttempts() != 5 {
		t.Errorf("max attempts = %d", a.MaxAttempts())
	}
}

func TestAccessValidate(t *testing.T) {
	f, diags := hclsyntax.ParseConfig([]byte("access_key = \"AKIA\"\nmax_retries = -1\n"), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := AccessConfig{AccessKey: "AKIA", MaxRetries: -1}
	got := c.Validate(f.Body)
	if len(got) != 2 {
		t.Fatalf("diags = %v, want 2", got)
	}
	if got[0].Subject == nil || got[0].Subject.Start.Line != 1 {
		t.Errorf("access_key problem not located: %v", got[0].Subject)
	}
}

func TestWaitTimeoutFromPolling(t *testing.T) {
	c := AccessConfig{Polling: &Polling{DelaySeconds: 2, MaxAttempts: 30}}
	if c.PollDelay() != 2*time.Second || c.WaitTimeout(time.Hour) != time.Minute {
		t.Errorf("delay %s timeout %s", c.PollDelay(), c.WaitTimeout(time.Hour))
	}
	if (&AccessConfig{}).WaitTimeout(time.Hour) != time.Hour {
		t.Error("default timeout not kept")
	}
}
