package qemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/step"
)

// Type is the source type label of this builder.
const Type = "qemu"

// Builder is a decoded source "qemu" block.
type Builder struct {
	cfg      Config
	warnings []string

	// Replaced by tests.
	host     host
	img      qemuImg
	cacheDir string // downloads; "" means $XDG_CACHE_HOME/kiln/downloads
	tmpRoot  string // temporary directories; "" means os.TempDir()
	// journalDir holds the journals of running builds; "" means
	// DefaultJournalDir().
	journalDir string
	client     *http.Client

	// names holds vm_name and output_directory unevaluated, to name a
	// family's versions.
	names family.Names
}

// New decodes a source "qemu" body. It has no side effects.
func New(body hcl.Body, ectx *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) {
	b := &Builder{host: realHost, client: http.DefaultClient, names: family.NewNames(body, ectx, familyNaming...)}
	var versionRefs hcl.Diagnostics
	diags := hclconf.Decode(family.GuardVersion(body, ectx, &versionRefs, familyNaming...), ectx, &b.cfg)
	diags = append(diags, versionRefs...)
	if diags.HasErrors() {
		return nil, diags
	}
	vdiags, warnings := b.cfg.validate(body, ectx)
	diags = append(diags, vdiags...)
	if diags.HasErrors() {
		return nil, diags
	}
	b.warnings = warnings
	return b, diags
}

// Config returns the decoded configuration.
func (b *Builder) Config() Config { return b.cfg }

// BuildDataNames lists the build.* values qemu reports beyond those every
// build has (builder.DataNamer): the machine's name and the accelerator it
// runs with.
func (b *Builder) BuildDataNames() []string { return []string{"VMName", "Accelerator"} }

// state is what the steps share; each step fills what the next ones read.
type state struct {
	env     *builder.Env
	hook    builder.Hook
	events  event.Sink
	journal *journal

	imageName string // file name of the image in the output directory
	outDir    string // the output directory, absolute
	stage     string // built here, renamed to outDir at the end
	tmp       string // sockets, CD trees, serial log

	source     string
	sourceInfo imageInfo
	disk       string // the working disk, inside stage
	diskFormat string
	efiCode    string
	efiVars    string

	keys     *buildKeys
	injected bool // kiln's login key is authorized in the guest
	cds      []string

	accel    string
	vm       *vm
	hostPort int
	runStart time.Time // Run was called
	started  time.Time // qemu was started
	sshReady time.Duration
	fromRun  time.Duration // from runStart to SSH ready
	comm     *ssh.Comm

	sumFile string
}

// Run boots the source image, provisions it over SSH, shuts it down and
// writes the image with its checksum into the output directory. The output
// appears only when the build succeeds: it is built in a staging directory
// next to it and renamed into place at the end.
func (b *Builder) Run(ctx context.Context, env *builder.Env, hook builder.Hook) (artifact.Artifact, error) {
	events := env.Events
	if events == nil {
		events = event.Discard
	}
	for _, w := range b.warnings {
		events.Emit(&event.Message{Level: event.Warn, Text: w})
	}
	j, err := b.openJournal(env.Info)
	if err != nil {
		return nil, err
	}
	s := &state{env: env, hook: hook, events: events, journal: j, runStart: time.Now()}
	runner := env.Runner(events)
	err = step.Run(ctx, runner, s,
		step.Step[state]{Name: "prepare output", Run: b.prepare},
		step.Step[state]{Name: "fetch source image", Run: b.fetch},
		step.Step[state]{Name: "create disk", Run: b.createDisk},
		step.Step[state]{Name: "create seed", Run: b.createSeed},
		step.Step[state]{Name: "start qemu", Run: b.start},
		step.Step[state]{Name: "connect", Run: b.connect},
		step.Step[state]{Name: "provision", Run: b.provision},
		step.Step[state]{Name: "shut down", Run: b.shutdown},
		step.Step[state]{Name: "compact disk", Run: b.compact},
		step.Step[state]{Name: "write checksum", Run: b.checksum},
		step.Step[state]{Name: "finish output", Run: b.finish},
	)
	if cerr := j.close(); cerr != nil {
		events.Emit(&event.Message{Level: event.Warn, Text: "qemu: " + cerr.Error()})
	}
	if err != nil {
		return nil, err
	}
	a := &Artifact{
		dir:      s.outDir,
		image:    filepath.Join(s.outDir, s.imageName),
		accel:    s.accel,
		sshReady: s.sshReady,
		fromRun:  s.fromRun,
	}
	a.files = []string{a.image, filepath.Join(s.outDir, filepath.Base(s.sumFile))}
	if s.efiVars != "" && !b.cfg.EFIDropEFIVars {
		a.files = append(a.files, filepath.Join(s.outDir, filepath.Base(s.efiVars)))
	}
	if env.Image != nil {
		if err := writeSidecar(a, env.Image); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// openJournal starts the journal of the build, in which each step records a
// temporary resource before it makes it.
func (b *Builder) openJournal(info builder.Info) (*journal, error) {
	dir := b.journalDir
	if dir == "" {
		var err error
		if dir, err = DefaultJournalDir(); err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
	}
	id := info.ID
	if id == "" {
		id = randomName("local-")
	}
	j, err := openJournal(dir, id)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	return j, nil
}

// makeDir journals a directory of kind named prefix and random characters
// in parent, registers its removal, and then makes it, private to the user.
func (s *state) makeDir(u *step.Undo, kind, parent, prefix string) (string, error) {
	path := newTempName(parent, prefix)
	r := resource{Kind: kind, Path: path}
	if err := s.journal.add(r); err != nil {
		return "", err
	}
	u.Push(kind+" "+path, func(context.Context) error {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		return s.journal.done(r)
	})
	if err := os.Mkdir(path, 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	return path, nil
}

func sourceName(info builder.Info) string {
	if info.SourceName != "" {
		return info.SourceName
	}
	return info.Name
}

func (b *Builder) prepare(_ context.Context, s *state, u *step.Undo) error {
	name := sourceName(s.env.Info)
	s.imageName = b.cfg.imageName(name)
	dir := b.cfg.outputDir(name)
	if img := s.env.Image; img != nil {
		s.imageName = img.Name + "." + b.cfg.format()
		var err error
		if dir, err = b.familyOutputDir(img.Family, img.Version, img.Name); err != nil {
			return err
		}
	}
	out, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	s.outDir = out
	if _, err := os.Stat(out); err == nil && !s.env.Force {
		return fmt.Errorf("output directory %s already exists: remove it or build with -force", out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if s.stage, err = s.makeDir(u, kindStageDir, filepath.Dir(out), "."+filepath.Base(out)+stageMarker); err != nil {
		return err
	}
	root, err := filepath.Abs(cmp.Or(b.tmpRoot, os.TempDir()))
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	if !s.env.Debug {
		s.tmp, err = s.makeDir(u, kindTempDir, root, tempPrefix)
		return err
	}
	// Kept on purpose: neither journalled nor removed.
	s.tmp = newTempName(root, tempPrefix)
	if err := os.Mkdir(s.tmp, 0o700); err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	s.events.Emit(&event.Message{Level: event.Info, Text: "debug: keeping " + s.tmp + " (serial console log, login key, seed)"})
	return nil
}

func (b *Builder) fetch(ctx context.Context, s *state, _ *step.Undo) error {
	sum, err := parseChecksum(b.cfg.ISOChecksum)
	if err != nil {
		return fmt.Errorf("iso_checksum: %w", err)
	}
	if sum.none {
		s.events.Emit(&event.Message{Level: event.Warn, Text: `iso_checksum = "none": the source image is not verified`})
	}
	cache := b.cacheDir
	if cache == "" {
		if cache, err = defaultCacheDir(); err != nil {
			return err
		}
	}
	f := &fetcher{cacheDir: cache, client: b.client, events: s.events}
	if s.source, err = f.fetch(ctx, b.cfg.urls(), sum); err != nil {
		return err
	}
	s.sourceInfo, err = b.img.info(ctx, s.source)
	return err
}

func (b *Builder) createDisk(ctx context.Context, s *state, _ *step.Undo) error {
	s.disk = filepath.Join(s.stage, s.imageName)
	if b.cfg.UseBackingFile {
		s.diskFormat = "qcow2"
		if err := b.img.overlay(ctx, s.source, s.sourceInfo.Format, s.disk); err != nil {
			return err
		}
	} else {
		s.diskFormat = b.cfg.format()
		if err := b.img.convert(ctx, s.source, s.sourceInfo.Format, s.disk, s.diskFormat, false); err != nil {
			return err
		}
	}
	if b.cfg.DiskSize == "" || b.cfg.SkipResizeDisk {
		return nil
	}
	size, err := parseSize(b.cfg.DiskSize)
	if err != nil {
		return fmt.Errorf("disk_size: %w", err)
	}
	switch {
	case size < s.sourceInfo.VirtualSize:
		return fmt.Errorf("disk_size %s (%d bytes) is smaller than the source image (%d bytes); images are never shrunk",
			b.cfg.DiskSize, size, s.sourceInfo.VirtualSize)
	case size > s.sourceInfo.VirtualSize:
		return b.img.resize(ctx, s.disk, s.diskFormat, size)
	}
	return nil
}

func (b *Builder) createSeed(ctx context.Context, s *state, _ *step.Undo) error {
	if b.cfg.EFIBoot {
		if err := b.prepareEFI(s); err != nil {
			return err
		}
	}
	var seed *seedSpec
	if b.cfg.Enabled() {
		keys, err := generateKeys("kiln-" + s.env.Info.ID)
		if err != nil {
			return err
		}
		s.keys = keys
		if s.env.Debug {
			if err := os.WriteFile(filepath.Join(s.tmp, "login_ed25519"), []byte(keys.loginPEM), 0o600); err != nil {
				return fmt.Errorf("debug: write login key: %w", err)
			}
		}
		// A template that brings its own credentials gets no kiln key.
		s.injected = b.cfg.PrivateKeyFile == "" && b.cfg.Password == "" && !b.cfg.AgentAuth
		seed = &seedSpec{user: b.cfg.username(), hostPEM: keys.hostPEM, hostPub: keys.hostPub, instanceID: instanceID(s.env.Info)}
		if s.injected {
			seed.authorizedKey = keys.loginPub
		}
	}
	cds, err := layoutCDs(s.tmp, &b.cfg, seed)
	if err != nil {
		return err
	}
	for _, cd := range cds {
		if err := makeISO(ctx, cd); err != nil {
			return err
		}
		if err := os.Chmod(cd.iso, 0o600); err != nil {
			return fmt.Errorf("make CD %s: %w", cd.label, err)
		}
		// The tree holds the build's host private key in plain text;
		// only the ISO is needed from now on.
		if !s.env.Debug {
			if err := os.RemoveAll(cd.dir); err != nil {
				return fmt.Errorf("make CD %s: %w", cd.label, err)
			}
		}
		s.cds = append(s.cds, cd.iso)
	}
	return nil
}

func instanceID(info builder.Info) string {
	if info.ID != "" {
		return "kiln-" + info.ID
	}
	return fmt.Sprintf("kiln-%d", time.Now().UnixNano())
}

// ovmf are the firmware files of Debian's ovmf package, code and vars.
var ovmf = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
	{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
}

// prepareEFI checks the firmware files and copies the vars next to the
// image (or into the temporary directory when they are dropped).
func (b *Builder) prepareEFI(s *state) error {
	code, vars := b.cfg.EFIFirmwareCode, b.cfg.EFIFirmwareVars
	if code == "" && vars == "" {
		for _, pair := range ovmf {
			if _, err := os.Stat(pair[0]); err == nil {
				code, vars = pair[0], pair[1]
				break
			}
		}
		if code == "" {
			return errors.New("efi_boot: no UEFI firmware found in /usr/share/OVMF (apt-get install ovmf), and efi_firmware_code is not set")
		}
	}
	if code == "" || vars == "" {
		return errors.New("efi_boot: set both efi_firmware_code and efi_firmware_vars")
	}
	if _, err := os.Stat(code); err != nil {
		return fmt.Errorf("efi_firmware_code: %w", err)
	}
	data, err := os.ReadFile(vars)
	if err != nil {
		return fmt.Errorf("efi_firmware_vars: %w", err)
	}
	dir := s.stage
	if b.cfg.EFIDropEFIVars {
		dir = s.tmp
	}
	s.efiVars = filepath.Join(dir, "efivars.fd")
	if err := os.WriteFile(s.efiVars, data, 0o644); err != nil {
		return fmt.Errorf("copy EFI vars: %w", err)
	}
	s.efiCode = code
	return nil
}

// maxStartAttempts bounds the retries when a chosen port was taken between
// kiln releasing it and qemu binding it.
const maxStartAttempts = 5

func (b *Builder) start(ctx context.Context, s *state, u *step.Undo) error {
	for _, f := range []struct{ attr, path string }{{"kernel", b.cfg.Kernel}, {"initrd", b.cfg.Initrd}, {"firmware", b.cfg.Firmware}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.attr, err)
		}
	}
	s.accel = b.cfg.Accelerator
	if s.accel == "" {
		var why string
		s.accel, why = detectAccelerator(b.host)
		s.events.Emit(&event.Message{Level: event.Info, Text: why})
	}
	spec := launchSpec{
		name: strings.TrimSuffix(s.imageName, filepath.Ext(s.imageName)), accel: s.accel,
		disk: s.disk, diskFormat: s.diskFormat, cds: s.cds,
		qmp: filepath.Join(s.tmp, "qmp.sock"), serial: filepath.Join(s.tmp, "serial.log"),
		efiCode: s.efiCode, efiVars: s.efiVars, outputDir: s.outDir,
	}
	if s.injected && b.cfg.username() == "root" {
		spec.rootKey = s.keys.loginPub
	}
	for attempt := 1; ; attempt++ {
		v, err := b.launch(ctx, s, u, &spec)
		if errors.Is(err, errAddrInUse) && attempt < maxStartAttempts {
			s.events.Emit(&event.Message{Level: event.Info, Text: "a port kiln chose was taken before qemu bound it; choosing another"})
			continue
		}
		if err != nil {
			return err
		}
		s.vm, s.hostPort, s.started = v, spec.hostPort, time.Now()
		break
	}
	// qemu holds the CDs open and reads them through its own descriptors:
	// their files, with the host key in the seed, can go.
	if !s.env.Debug {
		for _, cd := range s.cds {
			if err := os.Remove(cd); err != nil {
				return fmt.Errorf("remove CD image: %w", err)
			}
		}
	}
	text := fmt.Sprintf("qemu started (pid %d, %s), guest SSH forwarded from 127.0.0.1:%d", s.vm.cmd.Process.Pid, s.accel, s.hostPort)
	if spec.vncPort > 0 {
		text += fmt.Sprintf(", display on VNC %s:%d", b.cfg.vncBind(), spec.vncPort)
	}
	s.events.Emit(&event.Message{Level: event.Info, Text: text})
	if b.cfg.BootWait > 0 {
		select {
		case <-time.After(b.cfg.BootWait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// launch reserves the ports, starts qemu and waits until it runs. The
// listeners holding the ports close just before qemu starts.
func (b *Builder) launch(ctx context.Context, s *state, u *step.Undo, spec *launchSpec) (*vm, error) {
	lo, hi := b.cfg.hostPorts()
	l, port, err := reservePort("127.0.0.1", lo, hi)
	if err != nil {
		return nil, fmt.Errorf("SSH port forward: %w", err)
	}
	listeners := []net.Listener{l}
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	spec.hostPort = port
	if !b.cfg.Headless {
		vlo, vhi := b.cfg.vncPorts()
		vl, vport, err := reservePort(b.cfg.vncBind(), vlo, vhi)
		if err != nil {
			return nil, fmt.Errorf("VNC: %w", err)
		}
		listeners = append(listeners, vl)
		spec.vncPort = vport
	}
	args, err := b.cfg.commandLine(*spec)
	if err != nil {
		return nil, err
	}
	os.Remove(spec.qmp)
	for _, l := range listeners {
		l.Close()
	}
	listeners = nil
	v, err := startVM(b.cfg.binary(), args, spec.qmp)
	if err != nil {
		return nil, err
	}
	stop, err := s.journalProcess(u, v)
	if err != nil {
		stop(ctx)
		return nil, err
	}
	if err := v.waitReady(ctx); err != nil {
		stop(ctx)
		return nil, err
	}
	return v, nil
}

// journalProcess registers the undo that kills the qemu process v, then
// records v in the journal: v runs already, as its identity is known only
// now (until then Pdeathsig ends it with kiln). It returns the undo.
func (s *state) journalProcess(u *step.Undo, v *vm) (func(context.Context) error, error) {
	pid := v.cmd.Process.Pid
	var rec *resource
	stop := func(ctx context.Context) error {
		if err := v.kill(ctx); err != nil {
			return err
		}
		if rec != nil {
			return s.journal.done(*rec)
		}
		return nil
	}
	u.Push(fmt.Sprintf("qemu process %d", pid), stop)
	// Without a process to read, qemu has exited already: waitReady says why.
	if p, err := processOf(pid); err == nil {
		r := resource{Kind: kindProcess, Proc: &p}
		if err := s.journal.add(r); err != nil {
			return stop, err
		}
		rec = &r
	}
	return stop, nil
}

func (b *Builder) connect(ctx context.Context, s *state, u *step.Undo) error {
	if !b.cfg.Enabled() {
		return nil
	}
	cfg := b.cfg.Config
	cfg.Port = 0 // ssh_port is the guest's port; kiln dials the forward
	opts := ssh.ConnectOptions{Host: "127.0.0.1", Port: s.hostPort, Username: b.cfg.username(), Events: s.events}
	if s.injected {
		opts.Signer = s.keys.login
	}
	// kiln's host key is the one to verify, unless the template says how
	// (an image without cloud-init cannot take kiln's host key).
	if cfg.HostPublicKey == "" && cfg.KnownHostsFile == "" && cfg.HostKeyCheck == nil {
		opts.HostKey = s.keys.host.PublicKey()
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-s.vm.exited():
			cancel(s.vm.exitError())
		case <-cctx.Done():
		}
	}()
	comm, err := ssh.Connect(cctx, &cfg, opts)
	if err != nil {
		if cause := context.Cause(cctx); cause != nil && ctx.Err() == nil {
			err = fmt.Errorf("the guest stopped before SSH was ready: %w", cause)
		}
		var hke *ssh.HostKeyError
		if errors.As(err, &hke) && opts.HostKey != nil {
			err = fmt.Errorf("%w (kiln hands the guest its host key through cloud-init; for an image without cloud-init set ssh_host_public_key, or ssh_host_key_check = false)", err)
		}
		return fmt.Errorf("connect: %w%s", err, serialTail(s.tmp))
	}
	u.Push("SSH connection", func(context.Context) error { return comm.Close() })
	s.comm = comm
	s.sshReady, s.fromRun = time.Since(s.started), time.Since(s.runStart)
	s.events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("SSH ready %.1fs after qemu started, %.1fs after the build started (%s)",
		s.sshReady.Seconds(), s.fromRun.Seconds(), s.accel)})
	return nil
}

// serialTail returns the end of the guest's serial console, for errors
// about a guest that did not come up.
func serialTail(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "serial.log"))
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\nlast lines of the guest's serial console:\n" + strings.Join(lines, "\n")
}

func (b *Builder) provision(ctx context.Context, s *state, _ *step.Undo) error {
	data := s.comm.BuildData()
	data["ID"] = strings.TrimSuffix(s.imageName, filepath.Ext(s.imageName))
	data["VMName"] = data["ID"]
	data["Accelerator"] = s.accel
	var comm communicator.Communicator
	if s.comm != nil {
		comm = s.comm
		if s.injected {
			data["SSHPublicKey"] = s.keys.loginPub
		}
	}
	if s.hook == nil {
		return nil
	}
	return s.hook.Provision(ctx, comm, data)
}

// powerdownWait bounds the wait for a guest to obey an ACPI power-down.
const powerdownWait = 2 * time.Minute

// shutdown stops the guest so its disk is consistent: shutdown_command over
// SSH and a wait for qemu to exit, else (or then) an ACPI power-down, and
// only if the guest ignores both, a kill, which fails the build.
func (b *Builder) shutdown(ctx context.Context, s *state, _ *step.Undo) error {
	say := func(level event.Level, text string) { s.events.Emit(&event.Message{Level: level, Text: text}) }
	if s.comm != nil && b.cfg.ClearAuthorizedKeys {
		if err := s.comm.ClearAuthorizedKeys(ctx); err != nil {
			return err
		}
	}
	if s.comm != nil && b.cfg.ShutdownCommand != "" {
		say(event.Info, "shutting down with shutdown_command")
		out := &tailBuffer{max: 4 << 10}
		err := s.comm.Run(ctx, &communicator.Cmd{Command: b.cfg.ShutdownCommand, Stdout: out, Stderr: out})
		var exit *communicator.ExitError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &exit):
			// The command may be cut off by the shutdown it started.
			say(event.Warn, fmt.Sprintf("shutdown_command: %v: %s", err, strings.TrimSpace(out.String())))
		case err != nil && !errors.Is(err, communicator.ErrDisconnected):
			say(event.Warn, fmt.Sprintf("shutdown_command: %v", err))
		}
		s.comm.Close()
		if s.vm.wait(ctx, b.cfg.shutdownTimeout()) {
			say(event.Info, "the guest powered off")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		say(event.Warn, fmt.Sprintf("qemu still runs %s after shutdown_command; sending an ACPI power-down", b.cfg.shutdownTimeout()))
	} else if s.comm != nil {
		s.comm.Close()
	}
	say(event.Info, "pressing the ACPI power button (QMP system_powerdown)")
	off, err := s.vm.powerdown(ctx, min(b.cfg.shutdownTimeout(), powerdownWait))
	switch {
	case err != nil:
		say(event.Warn, err.Error())
	case off:
		say(event.Info, "the guest powered off")
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	say(event.Error, "the guest did not power off; killing qemu")
	if err := s.vm.kill(ctx); err != nil {
		return err
	}
	return errors.New("shut down: the guest ignored shutdown_command and the ACPI power-down and was killed; its disk may be inconsistent, so no image was kept")
}

func (b *Builder) compact(ctx context.Context, s *state, _ *step.Undo) error {
	if b.cfg.SkipCompaction {
		if b.cfg.UseBackingFile {
			s.events.Emit(&event.Message{Level: event.Info, Text: fmt.Sprintf("skip_compaction: the image is an overlay that needs its backing file %s", s.source)})
		}
		return nil
	}
	tmp := s.disk + ".compact"
	if err := b.img.convert(ctx, s.disk, s.diskFormat, tmp, b.cfg.format(), b.cfg.DiskCompression); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, s.disk); err != nil {
		return fmt.Errorf("compact disk: %w", err)
	}
	return nil
}

func (b *Builder) checksum(_ context.Context, s *state, _ *step.Undo) error {
	sum, err := fileDigest(s.disk, "sha256")
	if err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	s.sumFile = s.disk + ".sha256"
	line := sum + "  " + s.imageName + "\n"
	if err := os.WriteFile(s.sumFile, []byte(line), 0o644); err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	return nil
}

func (b *Builder) finish(_ context.Context, s *state, _ *step.Undo) error {
	if _, err := os.Stat(s.outDir); err == nil {
		if !s.env.Force {
			return fmt.Errorf("output directory %s appeared during the build; not replacing it without -force", s.outDir)
		}
		if err := os.RemoveAll(s.outDir); err != nil {
			return fmt.Errorf("replace output directory: %w", err)
		}
	}
	if err := os.Rename(s.stage, s.outDir); err != nil {
		return fmt.Errorf("move output into place: %w", err)
	}
	return s.journal.done(resource{Kind: kindStageDir, Path: s.stage})
}
