package qemu

// The VM tests boot real guests under qemu: one build of the Debian base
// image (scripts/base-image.sh) provisioned with the shell and file
// provisioners, then one boot of the produced image that proves the
// provisioned file and service are there. They need qemu-system-x86_64,
// qemu-img and xorriso, and the base image in ~/.cache/kiln/base/bookworm.
// When the base image is missing it is built (as root, about 1–4 minutes)
// if KILN_REQUIRE_INTEGRATION=1 or KILN_BUILD_BASE_IMAGE=1; otherwise the
// test is skipped.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/provisioner"
	"github.com/kilnhq/kiln/provisioner/file"
	"github.com/kilnhq/kiln/provisioner/shell"
)

// baseImage returns the directory of the base image, building it when
// that is allowed.
func baseImage(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "kiln", "base", "bookworm")
	have := func() bool {
		for _, f := range []string{"base.qcow2", "vmlinuz", "initrd.img"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return false
			}
		}
		return true
	}
	if have() {
		return dir
	}
	if !testenv.Required() && os.Getenv("KILN_BUILD_BASE_IMAGE") != "1" {
		testenv.Missing(t, "no base image in "+dir+": run scripts/base-image.sh as root (or set KILN_BUILD_BASE_IMAGE=1)")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "no base image in "+dir+", and building it needs root")
	}
	baseImageOnce.Do(func() {
		out, err := exec.Command("bash", "../../scripts/base-image.sh").CombinedOutput()
		if err != nil {
			baseImageErr = fmt.Errorf("scripts/base-image.sh: %v\n%s", err, out)
		}
	})
	if baseImageErr != nil {
		t.Fatal(baseImageErr)
	}
	if !have() {
		t.Fatalf("scripts/base-image.sh succeeded but %s is incomplete", dir)
	}
	return dir
}

var (
	baseImageOnce sync.Once
	baseImageErr  error
)

// vmTools checks the programs the VM tests run.
func vmTools(t *testing.T) {
	t.Helper()
	testenv.Tool(t, "qemu-system-x86_64")
	testenv.Tool(t, "qemu-img")
	testenv.Tool(t, "xorriso")
}

// sourceBody returns a source body that boots an overlay of image, headless,
// into outDir, with extra attributes.
func sourceBody(image, outDir, extra string) string {
	return fmt.Sprintf("disk_image = true\niso_url = %q\nuse_backing_file = true\nheadless = true\noutput_directory = %q\n%s\n",
		image, outDir, extra)
}

// bootBase returns the attributes that boot the base image's kernel, with
// more kernel arguments.
func bootBase(base, args string) string {
	return fmt.Sprintf("memory = 1024\nssh_timeout = \"10m\"\nkernel = %q\ninitrd = %q\nkernel_args = \"root=/dev/vda rw console=ttyS0%s\"\n",
		filepath.Join(base, "vmlinuz"), filepath.Join(base, "initrd.img"), args)
}

func parseBody(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "test.pkr.hcl")
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags)
	}
	return f.Body
}

func newBuilder(t *testing.T, src string) *Builder {
	t.Helper()
	b, diags := New(parseBody(t, src), nil)
	if diags.HasErrors() {
		t.Fatalf("decode: %s", diags)
	}
	qb := b.(*Builder)
	qb.tmpRoot = t.TempDir()
	qb.journalDir = t.TempDir()
	return qb
}

// qemuProcesses lists the qemu processes whose command line mentions
// marker.
func qemuProcesses(t *testing.T, marker string) []string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range dirs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(data), "\x00", " ")
		if strings.Contains(cmd, "qemu-system") && strings.Contains(cmd, marker) {
			out = append(out, p+": "+cmd)
		}
	}
	return out
}

// assertClean checks that a build left no qemu process, no temporary files
// and, when it failed, no output.
func assertClean(t *testing.T, b *Builder, outParent string, wantOutput bool) {
	t.Helper()
	if procs := qemuProcesses(t, b.tmpRoot); len(procs) > 0 {
		t.Errorf("qemu still running: %v", procs)
	}
	if left, _ := os.ReadDir(b.tmpRoot); len(left) > 0 {
		t.Errorf("temporary files left in %s: %v", b.tmpRoot, left)
	}
	if left, _ := os.ReadDir(b.journalDir); len(left) > 0 {
		t.Errorf("journal left in %s: %v", b.journalDir, left)
	}
	entries, _ := os.ReadDir(outParent)
	for _, e := range entries {
		switch {
		case strings.Contains(e.Name(), ".kiln-"):
			t.Errorf("staging directory left: %s", e.Name())
		case e.Name() == "out" && !wantOutput:
			t.Errorf("failed build left its output directory")
		}
	}
}

const shellScript = `
set -e
mkdir -p /srv/www
echo "built by kiln" > /srv/www/built.txt
cat > /etc/systemd/system/kiln-web.service <<'EOF'
[Unit]
Description=kiln test web server
After=network.target

[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www

[Install]
WantedBy=multi-user.target
EOF
systemctl enable kiln-web.service
`

// provisionHook runs a shell provisioner and a file provisioner, as the
// engine would.
func provisionHook(t *testing.T, events event.Sink, token string, gotData *map[string]string) builder.Hook {
	sh, diags := shell.New(parseBody(t, fmt.Sprintf("inline = [%q]\n", shellScript)), nil)
	if diags.HasErrors() {
		t.Fatalf("shell provisioner: %s", diags)
	}
	fp, diags := file.New(parseBody(t, fmt.Sprintf("content = %q\ndestination = \"/srv/www/proof.txt\"\n", token)), nil)
	if diags.HasErrors() {
		t.Fatalf("file provisioner: %s", diags)
	}
	return builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
		*gotData = data
		// The base image's cloud-init must finish cleanly with kiln's seed.
		var status strings.Builder
		err := comm.Run(ctx, &communicator.Cmd{Command: "cloud-init status --wait --long", Stdout: &status, Stderr: &status})
		if err != nil || !strings.Contains(status.String(), "status: done") {
			t.Errorf("cloud-init status: %v\n%s", err, status.String())
		}
		for i, p := range []provisioner.Provisioner{sh, fp} {
			env := &provisioner.Env{Events: events, Source: fmt.Sprintf("provisioner %d", i), Data: data}
			if err := p.Provision(ctx, env, comm); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestVMBuildAndBoot builds an image from the base image under qemu, then
// boots the result and checks that what was provisioned is there.
func TestVMBuildAndBoot(t *testing.T) {
	t.Parallel()
	vmTools(t)
	base := baseImage(t)
	sum, err := fileDigest(filepath.Join(base, "base.qcow2"), "sha256")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	outDir := filepath.Join(work, "out")
	b := newBuilder(t, sourceBody(filepath.Join(base, "base.qcow2"), outDir, bootBase(base, "")+fmt.Sprintf(`
iso_checksum     = "sha256:%s"
disk_compression = true
vm_name          = "web"
shutdown_command = "systemctl poweroff"
ssh_username     = "root"
cd_content       = { "kiln-test.txt" = "on the seed CD" }
`, sum)))

	events := &eventtest.Recorder{Logf: t.Logf}
	token := fmt.Sprintf("kiln proof %d", time.Now().UnixNano())
	var data map[string]string
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	art, err := b.Run(ctx, &builder.Env{Info: builder.Info{Name: "qemu.web", SourceName: "web", ID: "t1"}, Events: events},
		provisionHook(t, events, token, &data))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	total := time.Since(start)
	ready := art.(*Artifact).State("ssh_ready").(time.Duration)
	t.Logf("build took %.1fs, SSH ready %.1fs after qemu started", total.Seconds(), ready.Seconds())
	assertClean(t, b, work, true)

	if data["Host"] != "127.0.0.1" || data["User"] != "root" || data["ConnType"] != "ssh" || data["Port"] == "" ||
		!strings.HasPrefix(data["SSHPublicKey"], "ssh-ed25519 ") || data["VMName"] != "web" {
		t.Errorf("hook data = %v", data)
	}
	image := filepath.Join(outDir, "web.qcow2")
	if art.ID() != image || art.BuilderType() != "qemu" || !strings.Contains(art.String(), "SSH ready") {
		t.Errorf("artifact ID %q type %q: %s", art.ID(), art.BuilderType(), art)
	}
	if fromRun := art.(*Artifact).State("build_to_ssh").(time.Duration); fromRun < ready || fromRun > total {
		t.Errorf("build-to-SSH %s outside [%s, %s]", fromRun, ready, total)
	}
	if want := []string{image, image + ".sha256"}; strings.Join(art.Files(), " ") != strings.Join(want, " ") {
		t.Errorf("artifact files = %v, want %v", art.Files(), want)
	}
	gotSum, err := fileDigest(image, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	if line, _ := os.ReadFile(image + ".sha256"); string(line) != gotSum+"  web.qcow2\n" {
		t.Errorf("checksum file %q, image sha256 %s", line, gotSum)
	}
	info, err := exec.Command("qemu-img", "info", "--output=json", image).Output()
	if err != nil {
		t.Fatal(err)
	}
	var qi struct {
		Format  string `json:"format"`
		Backing string `json:"backing-filename"`
		Spec    struct {
			Data struct {
				Compression string `json:"compression-type"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal(info, &qi); err != nil {
		t.Fatal(err)
	}
	if qi.Format != "qcow2" || qi.Backing != "" || qi.Spec.Data.Compression != "zstd" {
		t.Errorf("output image: %s", info)
	}
	if !anyContains(events.Messages(), "SSH ready") || !anyContains(events.Messages(), "accelerator") {
		t.Errorf("missing SSH-ready or accelerator message in %v", events.Messages())
	}

	verifyBoot(t, ctx, base, image, token)
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// verifyBoot boots an overlay of image without any seed and fetches the
// provisioned files from the provisioned web server through a port forward.
// It stops the guest with an ACPI power-down, which must work.
func verifyBoot(t *testing.T, ctx context.Context, base, image, token string) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "verify.qcow2")
	if err := (qemuImg{}).overlay(ctx, image, "qcow2", disk); err != nil {
		t.Fatal(err)
	}
	l, port, err := reservePort("127.0.0.1", 20000, 40000)
	if err != nil {
		t.Fatal(err)
	}
	// A seed with a fresh host key, as a user's deployment would bring,
	// spares cloud-init generating keys on this new instance.
	keys, err := generateKeys("verify")
	if err != nil {
		t.Fatal(err)
	}
	cds, err := layoutCDs(dir, &Config{}, &seedSpec{user: "root", hostPEM: keys.hostPEM, hostPub: keys.hostPub, instanceID: "verify"})
	if err != nil || len(cds) != 1 {
		t.Fatalf("seed: %v", err)
	}
	if err := makeISO(ctx, cds[0]); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Memory: 1024, Headless: true,
		Kernel: filepath.Join(base, "vmlinuz"), Initrd: filepath.Join(base, "initrd.img"),
		KernelArgs: "root=/dev/vda rw console=ttyS0",
		QemuArgs:   [][]string{{"-netdev", fmt.Sprintf("user,id=user.0,hostfwd=tcp:127.0.0.1:%d-:8080", port)}},
	}
	accel, _ := detectAccelerator(realHost)
	args, err := cfg.commandLine(launchSpec{name: "verify", accel: accel, disk: disk, diskFormat: "qcow2", cds: []string{cds[0].iso},
		qmp: filepath.Join(dir, "qmp.sock"), serial: filepath.Join(dir, "serial.log")})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	start := time.Now()
	v, err := startVM("qemu-system-x86_64", args, filepath.Join(dir, "qmp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.kill(context.Background())
	if err := v.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	get := func(name string) (string, error) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/%s", port, name))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", name, resp.Status)
		}
		return string(body), err
	}
	deadline := time.Now().Add(8 * time.Minute)
	var proof string
	for {
		if proof, err = get("proof.txt"); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the provisioned web server never answered: %v%s", err, serialTail(dir))
		}
		select {
		case <-v.exited():
			t.Fatalf("the guest stopped: %v", v.exitError())
		case <-time.After(time.Second):
		}
	}
	t.Logf("second boot: web server answered %.1fs after qemu started", time.Since(start).Seconds())
	if proof != token {
		t.Errorf("proof.txt = %q, want %q", proof, token)
	}
	if built, err := get("built.txt"); err != nil || built != "built by kiln\n" {
		t.Errorf("built.txt = %q, %v", built, err)
	}
	off, err := v.powerdown(ctx, 3*time.Minute)
	if err != nil || !off {
		t.Errorf("the guest ignored the ACPI power-down: %v", err)
	}
}

// TestVMInterruptProvision boots the base image with cloud-init disabled, as
// an image without cloud-init: the login key reaches root through the
// systemd credential ssh.authorized_keys.root, and the host key cannot be
// handed over, so the template turns host key checking off. It then
// interrupts the build while it provisions: qemu must be gone and nothing
// left behind.
func TestVMInterruptProvision(t *testing.T) {
	t.Parallel()
	vmTools(t)
	base := baseImage(t)
	work := t.TempDir()
	b := newBuilder(t, sourceBody(filepath.Join(base, "base.qcow2"), filepath.Join(work, "out"),
		bootBase(base, " cloud-init=disabled")+"iso_checksum = \"none\"\nssh_host_key_check = false"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var ran bool
	hook := builder.HookFunc(func(hctx context.Context, comm communicator.Communicator, _ map[string]string) error {
		var out strings.Builder
		if err := comm.Run(hctx, &communicator.Cmd{Command: "cloud-init status || true", Stdout: &out}); err != nil {
			return err
		}
		if !strings.Contains(out.String(), "disabled") {
			t.Errorf("cloud-init ran: %q", out.String())
		}
		ran = true
		cancel() // as a Ctrl-C in the middle of provisioning
		<-hctx.Done()
		return hctx.Err()
	})
	_, err := b.Run(ctx, &builder.Env{Info: builder.Info{SourceName: "x"}, Events: &eventtest.Recorder{}}, hook)
	if err == nil || !ran {
		t.Fatalf("build: err %v, provisioning ran: %v", err, ran)
	}
	assertClean(t, b, work, false)
}
