package amazonebs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/awsutil"
)

// raceFake plays an instance whose cancelled StopInstances reached EC2
// after the TerminateInstances: it reports each state of after in turn for
// the polls that follow a termination request, then its last state.
type raceFake struct {
	fakeEC2
	mu         sync.Mutex
	after      [][]types.InstanceStateName // per termination request
	terminates int
	polls      int
}

func (f *raceFake) TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminates++
	f.polls = 0
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *raceFake) DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	states := f.after[min(f.terminates, len(f.after))-1]
	st := states[min(f.polls, len(states)-1)]
	f.polls++
	in := types.Instance{InstanceId: aws.String("i-1"), State: &types.InstanceState{Name: st}}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: []types.Instance{in}}}}, nil
}

// TestRemoveInstanceTerminatesAgain: an instance that shows up stopped
// after the termination (the stop arrived last) is terminated again instead
// of waited on until the removal deadline.
func TestRemoveInstanceTerminatesAgain(t *testing.T) {
	f := &raceFake{after: [][]types.InstanceStateName{
		{types.InstanceStateNameShuttingDown, types.InstanceStateNameStopping, types.InstanceStateNameStopped},
		{types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated},
	}}
	s := unitState(t, Config{}, map[string]*fakeEC2{})
	if err := s.remover().instance(context.Background(), f, "i-1", ""); err != nil {
		t.Fatalf("remove instance: %v", err)
	}
	if f.terminates != 2 {
		t.Errorf("%d TerminateInstances calls, want 2", f.terminates)
	}
}

// TestRemoveInstanceTerminationsBounded: an instance that stays stopped
// whatever kiln asks fails the removal after maxTerminations requests.
func TestRemoveInstanceTerminationsBounded(t *testing.T) {
	f := &raceFake{after: [][]types.InstanceStateName{{types.InstanceStateNameStopped}}}
	s := unitState(t, Config{}, map[string]*fakeEC2{})
	err := s.remover().instance(context.Background(), f, "i-1", "")
	var timeout *awsutil.TimeoutError
	if err == nil || errors.As(err, &timeout) || !strings.Contains(err.Error(), "still stopped") {
		t.Fatalf("remove instance: %v, want an error naming the stopped state before the deadline", err)
	}
	if f.terminates != maxTerminations {
		t.Errorf("%d TerminateInstances calls, want %d", f.terminates, maxTerminations)
	}
}

// TestIntegrationDoubleInterruptListsVolumes interrupts a build twice in
// quick succession while it provisions: cleanup stops before it removes
// anything, and what kiln reports left behind must name every resource
// moto still holds, the instance's root volume included.
func TestIntegrationDoubleInterruptListsVolumes(t *testing.T) {
	r := newRig(t)
	r.copies = false
	b := r.builder(r.hcl(""), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	rec := &eventtest.Recorder{Logf: t.Logf}
	env := r.env(event.SinkFunc(func(e event.Event) {
		rec.Emit(e)
		if s, ok := e.(*event.StepStarted); ok && s.Step == "provision" {
			close(stop) // the second interrupt comes before undo starts
			cancel()
		}
	}))
	env.CleanupStop = stop
	if _, err := b.Run(ctx, env, &provisionHook{cmd: "true"}); err == nil {
		t.Fatal("the interrupted build succeeded")
	}
	var listed []string
	for _, lb := range eventtest.Of[*event.LeftBehind](rec) {
		listed = append(listed, lb.What)
	}
	left := r.left(r.home)
	var volumes int
	for _, l := range left {
		if strings.HasPrefix(l, "volume ") {
			volumes++
		}
		id := leftID(l)
		if !slices.ContainsFunc(listed, func(w string) bool { return mentions(w, id) }) {
			t.Errorf("moto holds %s, which kiln does not list as left behind; it lists %q", l, listed)
		}
	}
	if volumes == 0 {
		t.Fatalf("no volume left (moto holds %q): the test proves nothing", left)
	}
}

// leftID returns the ID, or the key pair's name, in a line of
// testmoto.Leftovers ("volume vol-0abc (in-use)", "key pair kiln_b1").
func leftID(line string) string {
	f := strings.Fields(line)
	for _, w := range f {
		for _, p := range []string{"i-", "vol-", "sg-", "lt-", "ami-", "snap-"} {
			if strings.HasPrefix(w, p) {
				return w
			}
		}
	}
	return f[len(f)-1]
}
