package qemu

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

const validBody = `
disk_image       = true
iso_url          = "base.qcow2"
iso_checksum     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
use_backing_file = true
format           = "qcow2"
disk_size        = "4G"
disk_compression = true
accelerator      = "tcg"
cpus             = 2
memory           = 1024
headless         = true
qemuargs         = [["-m", "2048M"], ["-device", "virtio-rng-pci"]]
cd_files         = ["files/*"]
cd_content       = { "meta-data" = "instance-id: x" }
cd_label         = "cidata"
kernel           = "vmlinuz"
initrd           = "initrd.img"
kernel_args      = "root=/dev/vda rw"
boot_wait        = "2s"
shutdown_command = "systemctl poweroff"
shutdown_timeout = "2m"
output_directory = "out"
vm_name          = "web.qcow2"
host_port_min    = 3000
host_port_max    = 3010
ssh_username     = "admin"
ssh_timeout      = "10m"
`

func decode(t *testing.T, src string, ectx *hcl.EvalContext) (*Builder, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "test.pkr.hcl")
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags)
	}
	b, diags := New(f.Body, ectx)
	if b == nil {
		return nil, diags
	}
	return b.(*Builder), diags
}

func TestDecodeValid(t *testing.T) {
	b, diags := decode(t, validBody, nil)
	if diags.HasErrors() {
		t.Fatalf("diags: %s", diags)
	}
	c := b.Config()
	if !c.DiskImage || !c.UseBackingFile || c.DiskSize != "4G" || c.CPUs != 2 || c.Memory != 1024 ||
		c.Username != "admin" || c.BootWait.Seconds() != 2 || c.ShutdownTimeout.Minutes() != 2 ||
		len(c.QemuArgs) != 2 || c.CDContent["meta-data"] != "instance-id: x" || c.KernelArgs != "root=/dev/vda rw" {
		t.Errorf("decoded %+v", c)
	}
	if got := c.imageName("src"); got != "web.qcow2" {
		t.Errorf("image name %q", got)
	}
	if lo, hi := c.hostPorts(); lo != 3000 || hi != 3010 {
		t.Errorf("ports %d..%d", lo, hi)
	}
}

func TestDecodeDefaults(t *testing.T) {
	b, diags := decode(t, `
disk_image   = true
iso_url      = "base.qcow2"
iso_checksum = "none"
`, nil)
	if diags.HasErrors() {
		t.Fatalf("diags: %s", diags)
	}
	c := b.Config()
	if c.format() != "qcow2" || c.memory() != 512 || c.cpus() != 1 || c.machine() != "pc" || c.username() != "root" ||
		c.cdLabel() != "cidata" || c.imageName("web") != "kiln-web.qcow2" || c.outputDir("web") != "output-web" ||
		c.guestSSHPort() != 22 || c.shutdownTimeout() != DefaultShutdownTimeout {
		t.Errorf("defaults wrong: %+v", c)
	}
	if lo, hi := c.hostPorts(); lo != 2222 || hi != 4444 {
		t.Errorf("ports %d..%d", lo, hi)
	}
}

// TestDecodeErrors checks that each bad input gives its own error at the
// offending line.
func TestDecodeErrors(t *testing.T) {
	base := "disk_image = true\niso_url = \"a.qcow2\"\niso_checksum = \"none\"\n"
	tests := []struct {
		name, body, want string
		line             int // 0: any
	}{
		{"no disk_image", "iso_url = \"a\"\niso_checksum = \"none\"\n", "disk image", 0},
		{"disk_image false", "disk_image = false\niso_url = \"a\"\niso_checksum = \"none\"\n", "disk image", 1},
		{"no source", "disk_image = true\niso_checksum = \"none\"\n", "Missing source image", 0},
		{"both sources", base + "iso_urls = [\"b\"]\n", "Conflicting source image", 4},
		{"no checksum", "disk_image = true\niso_url = \"a\"\n", "Missing iso_checksum", 0},
		{"bad checksum", "disk_image = true\niso_url = \"a\"\niso_checksum = \"sha256:xyz\"\n", "not a sha256 digest", 3},
		{"bad checksum type", "disk_image = true\niso_url = \"a\"\niso_checksum = \"crc:00\"\n", "not supported", 3},
		{"format", base + "format = \"vmdk\"\n", "Invalid format", 4},
		{"backing raw", base + "format = \"raw\"\nuse_backing_file = true\n", "needs format = \"qcow2\"", 5},
		{"compress raw", base + "format = \"raw\"\ndisk_compression = true\n", "Compression needs qcow2", 5},
		{"compress skip", base + "disk_compression = true\nskip_compaction = true\n", "cannot be combined", 4},
		{"disk size", base + "disk_size = \"big\"\n", "not a size", 4},
		{"interface", base + "disk_interface = \"floppy\"\n", "disk_interface must be one of", 4},
		{"accelerator", base + "accelerator = \"hax9\"\n", "accelerator must be one of", 4},
		{"memory", base + "memory = -1\n", "memory must be positive", 4},
		{"port range", base + "host_port_min = 5000\nhost_port_max = 4000\n", "is below", 5},
		{"port", base + "host_port_min = 70000\n", "between 1 and 65535", 4},
		{"firmware and efi", base + "firmware = \"bios.bin\"\nefi_boot = true\n", "Conflicting firmware", 4},
		{"efi option", base + "efi_firmware_code = \"x\"\n", "no effect unless efi_boot", 4},
		{"initrd alone", base + "initrd = \"i\"\n", "needs kernel", 4},
		{"cd label", base + "cd_label = \"" + strings.Repeat("x", 33) + "\"\n", "32 characters", 4},
		{"cd content", base + "cd_content = { \"../x\" = \"y\" }\n", "relative path", 4},
		{"qemuargs flag", base + "qemuargs = [[\"m\", \"1G\"]]\n", "must start with a flag", 4},
		{"qemuargs legacy", base + "qemuargs = [[\"-x\", \"{{ .HTTPIP }}\"]]\n", "{{ .HTTPIP }} is not available", 4},
		{"unknown attribute", base + "boot_command = [\"<enter>\"]\n", "boot_command", 4},
		{"communicator", base + "communicator = \"winrm\"\n", "winrm", 4},
		{"duration", base + "shutdown_timeout = \"soon\"\n", "not a duration", 4},
		{"detect zeroes", base + "disk_detect_zeroes = \"maybe\"\n", "disk_detect_zeroes must be one of", 4},
		{"cores", base + "cores = -2\n", "cores must be positive", 4},
		{"display", base + "display = \"gtk\"\nuse_default_display = true\n", "Conflicting display", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, diags := decode(t, tt.body, nil)
			if b != nil || !diags.HasErrors() {
				t.Fatalf("no error; want %q", tt.want)
			}
			var found bool
			for _, d := range diags {
				if strings.Contains(d.Summary+" "+d.Detail, tt.want) {
					found = true
					if tt.line != 0 && (d.Subject == nil || d.Subject.Start.Line != tt.line) {
						t.Errorf("error %q at %v, want line %d", d.Summary, d.Subject, tt.line)
					}
				}
			}
			if !found {
				t.Errorf("diags %s\ndo not mention %q", diags, tt.want)
			}
		})
	}
}

// TestDecodeUnknownValues checks that values not known at validation time
// (build.* and the like) neither fail nor count as missing.
func TestDecodeUnknownValues(t *testing.T) {
	ectx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"img": cty.UnknownVal(cty.String), "yes": cty.UnknownVal(cty.Bool)}),
	}}
	b, diags := decode(t, "disk_image = var.yes\niso_url = var.img\niso_checksum = var.img\n", ectx)
	if diags.HasErrors() || b == nil {
		t.Fatalf("unknown values rejected: %s", diags)
	}
}

func TestHeadlessVNCWarning(t *testing.T) {
	b, diags := decode(t, "disk_image = true\niso_url = \"a\"\niso_checksum = \"none\"\nheadless = true\nvnc_port_min = 5901\n", nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(b.warnings) != 1 || !strings.Contains(b.warnings[0], "vnc_port_min is ignored") {
		t.Errorf("warnings = %v", b.warnings)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4 << 30, "4096M": 4 << 30, "20G": 20 << 30, "1T": 1 << 40, "512K": 512 << 10, "2GiB": 2 << 30} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "1.5G", "0", "99999999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

func TestCommandLine(t *testing.T) {
	c := &Config{Memory: 1024, CPUs: 2, Kernel: "/k", Initrd: "/i", KernelArgs: "root=/dev/vda", Headless: true}
	spec := launchSpec{name: "web", accel: "tcg", disk: "/out/web,1.qcow2", diskFormat: "qcow2", cds: []string{"/t/cd.iso"},
		hostPort: 3333, qmp: "/t/qmp.sock", serial: "/t/serial.log", rootKey: "ssh-ed25519 AAAA kiln"}
	args, err := c.commandLine(spec)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-name web", "-machine type=pc,accel=tcg", "-smp 2", "-m 1024M", "-display none",
		"-netdev user,id=user.0,hostfwd=tcp:127.0.0.1:3333-:22", "-device virtio-net,netdev=user.0",
		"-drive file=/out/web,,1.qcow2,format=qcow2,cache=writeback,discard=ignore,if=virtio",
		"-drive file=/t/cd.iso,media=cdrom,readonly=on", "-kernel /k", "-initrd /i", "-append root=/dev/vda",
		"-smbios type=11,value=io.systemd.credential:ssh.authorized_keys.root=ssh-ed25519 AAAA kiln",
		"-qmp unix:/t/qmp.sock,server=on,wait=off", "-serial file:/t/serial.log",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "-cpu") || strings.Contains(line, "-vnc") {
		t.Errorf("unexpected -cpu or -vnc under tcg, headless: %s", line)
	}

	// Packer's override rule: a qemuargs flag replaces every default entry
	// with that flag; other entries are added; legacy variables expand.
	c.QemuArgs = [][]string{{"-m", "2G"}, {"-device", "e1000,netdev=user.0"}, {"-netdev", "user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:2222"}, {"-no-reboot"}}
	args, err = c.commandLine(spec)
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(args, " ")
	if strings.Contains(line, "1024M") || strings.Count(line, "-device ") != 1 || strings.Count(line, "-netdev ") != 1 ||
		!strings.Contains(line, "-m 2G") || !strings.Contains(line, "hostfwd=tcp:127.0.0.1:3333-:2222") || !strings.HasSuffix(line, "-no-reboot") {
		t.Errorf("overrides not applied: %s", line)
	}

	// KVM gets the host CPU; not headless gets VNC on loopback; virtio-scsi
	// puts the disk behind a controller; topology and detect-zeroes pass on.
	c = &Config{DiskInterface: "virtio-scsi", CPUs: 4, Sockets: 1, Cores: 2, Threads: 2, DiskDetectZeroes: "unmap"}
	spec.accel, spec.vncPort = "kvm", 5907
	args, _ = c.commandLine(spec)
	line = strings.Join(args, " ")
	for _, want := range []string{"-cpu host", "accel=kvm", "-vnc 127.0.0.1:7", "-device virtio-scsi-pci,id=scsi0", "detect-zeroes=unmap,if=none,id=drive0",
		"-smp 4,sockets=1,cores=2,threads=2", "-display none"} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	spec.accel = "none"
	args, _ = c.commandLine(spec)
	if i := slices.Index(args, "-machine"); args[i+1] != "type=pc" {
		t.Errorf("accelerator none: -machine %s", args[i+1])
	}
	// display when not headless; use_default_display passes none.
	c = &Config{Display: "gtk"}
	if args, _ = c.commandLine(spec); args[slices.Index(args, "-display")+1] != "gtk" {
		t.Errorf("display: %v", args)
	}
	c = &Config{UseDefaultDisplay: true}
	if args, _ = c.commandLine(spec); slices.Contains(args, "-display") {
		t.Errorf("use_default_display: %v", args)
	}
	c = &Config{Display: "gtk", Headless: true}
	if args, _ = c.commandLine(spec); args[slices.Index(args, "-display")+1] != "none" {
		t.Errorf("headless with display: %v", args)
	}
}
