package amazonebs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/uuid"
	"github.com/hashicorp/hcl/v2"
	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/step"
)

// Type is the source type label the builder is registered under.
const Type = "amazon-ebs"

// Builder is the amazon-ebs builder, decoded from a source block.
type Builder struct {
	cfg Config
	// clients, journalDir and publicIP are replaced by tests.
	clients    ClientFunc
	journalDir string
	publicIP   func(ctx context.Context) (string, error)
	waits      waitTimes
	// names holds ami_name unevaluated, to name a family's versions.
	names family.Names
}

// waitTimes bounds the waits. The deadlines are generous: the AMI waits
// are where Packer gives up too early.
type waitTimes struct {
	first, max        time.Duration // polling delays; zero means awsutil's
	instance, image   time.Duration
	removal, snapshot time.Duration
}

var defaultWaits = waitTimes{
	instance: 30 * time.Minute,
	image:    4 * time.Hour,
	removal:  20 * time.Minute,
	snapshot: 30 * time.Minute,
}

// New decodes a source "amazon-ebs" body. It has no side effects.
func New(body hcl.Body, ectx *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) {
	b := &Builder{waits: defaultWaits, names: family.NewNames(body, ectx, "ami_name")}
	var versionRefs hcl.Diagnostics
	diags := hclconf.Decode(family.GuardVersion(body, ectx, &versionRefs, "ami_name"), ectx, &b.cfg)
	diags = append(diags, versionRefs...)
	if diags.HasErrors() {
		return nil, diags
	}
	b.cfg.merge()
	diags = append(diags, b.cfg.validate(body, family.EngineNamed(ectx))...)
	if diags.HasErrors() {
		return nil, diags
	}
	return b, diags
}

// Config returns the decoded configuration.
func (b *Builder) Config() Config { return b.cfg }

// BuildDataNames lists the build.* values amazon-ebs reports beyond those
// every build has (builder.DataNamer): Packer's names for the region and the
// source image, and the instance's ID.
func (b *Builder) BuildDataNames() []string {
	return []string{
		"BuildRegion", "SourceAMI", "SourceAMIName", "SourceAMIOwner", "SourceAMIOwnerName",
		"SourceAMICreationDate", "InstanceID",
	}
}

// state is what the steps share. Each step fills the fields the next ones
// read.
type state struct {
	cfg     *Config
	env     *builder.Env
	hook    builder.Hook
	events  event.Sink
	region  string
	ec2     EC2
	clients ClientFunc
	journal *awsutil.Journal
	waits   waitTimes
	build   string
	now     time.Time
	// tempTags mark every temporary resource.
	tempTags []types.Tag
	tokens   atomic.Int64 // client tokens issued
	publicIP func(ctx context.Context) (string, error)

	// source-ami
	source types.Image
	// check-name
	amiName, amiDescription string
	// network
	vpcID, subnetID, az string
	vpcCIDR             string
	sgIDs               []string
	// key-pair
	keyName   string
	login     gossh.Signer // nil when ssh_keypair_name is used
	hostKey   gossh.Signer
	userData  string
	debugKeys []string
	// launch
	instance types.Instance
	// undo names, in what it reports left behind, the resources that go
	// with another (an instance's volumes); nil in unit tests.
	undo *undoLog
	// lineage tags of a family image (builder.Env.Image)
	lineage map[string]string
	// create-image, copy
	mu        sync.Mutex
	images    map[string]string   // region → AMI ID
	snapshots map[string][]string // region → snapshot IDs
}

// Run builds the AMI. See builder.Builder.
func (b *Builder) Run(ctx context.Context, env *builder.Env, hook builder.Hook) (artifact.Artifact, error) {
	s, err := b.run(ctx, env, hook, b.cfg, steps())
	if err != nil || s.cfg.SkipCreateAMI {
		return nil, err
	}
	return s.artifact(), nil
}

// run runs steps with cfg, every temporary resource journaled and removed
// at the end, and returns the steps' state.
func (b *Builder) run(ctx context.Context, env *builder.Env, hook builder.Hook, cfg Config, steps []step.Step[state]) (*state, error) {
	if cfg.Region == "" {
		// No region in the template: the SDK's (AWS_REGION, profile).
		awsCfg, err := cfg.AccessConfig.Load(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("amazon-ebs: %w", err)
		}
		cfg.Region = awsCfg.Region
	}
	events := env.Events
	if events == nil {
		events = event.Discard
	}
	clients := b.clients
	if clients == nil {
		clients = NewClients(&cfg.AccessConfig)
	}
	client, err := clients(ctx, cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("amazon-ebs: %w", err)
	}
	build := env.Info.ID
	if build == "" {
		build = uuid.NewString()
	}
	dir := b.journalDir
	if dir == "" {
		if dir, err = awsutil.DefaultJournalDir(); err != nil {
			return nil, fmt.Errorf("amazon-ebs: %w", err)
		}
	}
	j, err := awsutil.OpenJournal(dir, build)
	if err != nil {
		return nil, fmt.Errorf("amazon-ebs: %w", err)
	}
	now := env.Info.Started
	if now.IsZero() {
		now = time.Now()
	}
	ttl := cfg.TemporaryResourcesTTL
	if ttl == 0 {
		ttl = DefaultTemporaryResourcesTTL
	}
	s := &state{
		cfg: &cfg, env: env, hook: hook, events: events, region: cfg.Region, ec2: client, clients: clients,
		journal: j, waits: b.waits, build: build, now: now,
		tempTags: awsutil.TempTags(build, time.Now(), ttl),
		publicIP: b.publicIP,
		images:   map[string]string{}, snapshots: map[string][]string{},
	}
	if env.Image != nil {
		s.lineage = env.Image.Tags
	}
	if s.publicIP == nil {
		s.publicIP = checkIP
	}
	rec := &undoLog{sink: events}
	s.undo = rec
	runErr := step.Run(ctx, env.Runner(rec), s, steps...)
	if cerr := j.Close(); cerr != nil && runErr == nil {
		events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("amazon-ebs: close journal: %v", cerr)})
	}
	if runErr != nil {
		return nil, fmt.Errorf("amazon-ebs: %w%s", runErr, rec.summary())
	}
	return s, nil
}

func steps() []step.Step[state] {
	return slices.Concat([]step.Step[state]{
		{Name: "source-ami", Run: stepSourceAMI},
		{Name: "check-ami-name", Run: stepCheckName},
	}, machineSteps(), []step.Step[state]{
		{Name: "stop", Run: stepStop},
		{Name: "create-image", Run: stepCreateImage},
		{Name: "copy-image", Run: stepCopyImages},
		{Name: "share", Run: stepShare},
		{Name: "tag", Run: stepTag},
	})
}

// StepNames returns the names of the steps an amazon-ebs build runs, in
// order, as its step events name them.
func StepNames() []string {
	var out []string
	for _, st := range steps() {
		out = append(out, st.Name)
	}
	return out
}

// machineSteps launch the temporary instance from the source image and
// provision it: the part of a build a family's test repeats.
func machineSteps() []step.Step[state] {
	return []step.Step[state]{
		{Name: "network", Run: stepNetwork},
		{Name: "key-pair", Run: stepKeyPair},
		{Name: "security-group", Run: stepSecurityGroup},
		{Name: "launch", Run: stepLaunch},
		{Name: "provision", Run: stepProvision},
	}
}

// undoLog passes events on and remembers what undo removed and what it
// left, so a failed build's error says what was cleaned. A resource left
// behind brings the resources that go with it (attach): an instance left
// running keeps its volumes, which are reported too.
type undoLog struct {
	sink          event.Sink
	mu            sync.Mutex
	removed, left []string
	with          map[string][]string // undo's what → what goes with it
}

// attach records that parts go with the resource undo names what.
func (l *undoLog) attach(what string, parts ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.with == nil {
		l.with = map[string][]string{}
	}
	l.with[what] = append(l.with[what], parts...)
}

func (l *undoLog) Emit(e event.Event) {
	var also []string
	l.mu.Lock()
	switch e := e.(type) {
	case *event.UndoFinished:
		if e.Error == "" {
			l.removed = append(l.removed, e.What)
		}
	case *event.LeftBehind:
		also = l.with[e.What]
		l.left = append(append(l.left, e.What), also...)
	}
	l.mu.Unlock()
	l.sink.Emit(e)
	if lb, ok := e.(*event.LeftBehind); ok {
		for _, what := range also {
			l.sink.Emit(&event.LeftBehind{Meta: lb.Meta, Step: lb.Step, What: what})
		}
	}
}

func (l *undoLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	if len(l.removed) > 0 {
		b.WriteString("; cleaned up: " + strings.Join(l.removed, ", "))
	}
	if len(l.left) > 0 {
		b.WriteString("; LEFT BEHIND (run kiln clean): " + strings.Join(l.left, ", "))
	}
	return b.String()
}

// waiter returns the Waiter for a wait bounded by def, honouring
// aws_polling.
func (s *state) waiter(def time.Duration) awsutil.Waiter {
	return awsutil.Waiter{
		Delay:   s.cfg.PollDelay(),
		First:   s.waits.first,
		Max:     s.waits.max,
		Timeout: s.cfg.WaitTimeout(def),
		OnState: func(what, state string, waited time.Duration) {
			s.say("%s: %s (%s)", what, state, waited.Round(time.Second))
		},
	}
}

// regions returns the build region followed by the ami_regions copies.
func (s *state) regions() []string {
	out := []string{s.region}
	for _, r := range s.cfg.AMIRegions {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// kept returns the regions whose image is the build's result: regions()
// without the build region with skip_save_build_region, whose image is
// only the source of the copies.
func (s *state) kept() []string {
	if !s.cfg.SkipSaveBuildRegion {
		return s.regions()
	}
	return s.regions()[1:]
}

// emit sends an informational message.
func (s *state) say(format string, args ...any) {
	s.events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf(format, args...)})
}

func (s *state) warn(format string, args ...any) {
	s.events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf(format, args...)})
}
