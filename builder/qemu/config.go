package qemu

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/communicator/ssh"
)

// Config is the body of a source "qemu" block, spelled as Packer's qemu
// builder spells it, for builds that start from a disk image.
//
// Where kiln differs from Packer, the field says so: disk_size left unset
// keeps the source image's size (Packer grows it to 40 GiB), boot_wait
// defaults to 0 (kiln types no boot command), and ssh_username defaults to
// root.
type Config struct {
	// ISOURL is the disk image to start from: a local path, a file:// URL
	// or an http(s) URL (downloaded into the cache, resumable). ISOURLs
	// lists mirrors, tried in order.
	ISOURL  string   `hcl:"iso_url,optional"`
	ISOURLs []string `hcl:"iso_urls,optional"`
	// ISOChecksum is "TYPE:HEX" (md5, sha1, sha256, sha512), a bare hex
	// digest, "file:PATH_OR_URL" of a checksum list, or "none".
	ISOChecksum string `hcl:"iso_checksum,optional"`
	// DiskImage must be true: kiln builds from disk images, not installers.
	DiskImage bool `hcl:"disk_image,optional"`
	// UseBackingFile makes the working disk a qcow2 overlay on the source
	// image instead of a copy. The output is still a standalone image
	// unless skip_compaction is set too.
	UseBackingFile bool `hcl:"use_backing_file,optional"`
	// Format of the output image: "qcow2" (default) or "raw".
	Format string `hcl:"format,optional"`
	// DiskSize grows the disk: "20G", "4096M", or a number of MiB. Unset
	// keeps the source image's size.
	DiskSize         string `hcl:"disk_size,optional"`
	SkipResizeDisk   bool   `hcl:"skip_resize_disk,optional"`
	DiskInterface    string `hcl:"disk_interface,optional"`     // virtio (default), virtio-scsi, ide
	DiskCache        string `hcl:"disk_cache,optional"`         // writeback (default)
	DiskDiscard      string `hcl:"disk_discard,optional"`       // ignore (default) or unmap
	DiskDetectZeroes string `hcl:"disk_detect_zeroes,optional"` // on, off or unmap; unset: qemu's default (off)
	DiskCompression  bool   `hcl:"disk_compression,optional"`
	SkipCompaction   bool   `hcl:"skip_compaction,optional"`

	// Accelerator is kvm, tcg, hvf, whpx, xen or none; unset detects: kvm
	// where the CPU has virtualisation and KVM really works, else tcg.
	Accelerator string `hcl:"accelerator,optional"`
	CPUs        int    `hcl:"cpus,optional"`   // default 1
	Memory      int    `hcl:"memory,optional"` // MiB, default 512
	CPUModel    string `hcl:"cpu_model,optional"`
	// Sockets, Cores and Threads describe the vCPU topology (-smp).
	Sockets     int        `hcl:"sockets,optional"`
	Cores       int        `hcl:"cores,optional"`
	Threads     int        `hcl:"threads,optional"`
	MachineType string     `hcl:"machine_type,optional"` // default pc
	QemuBinary  string     `hcl:"qemu_binary,optional"`  // default qemu-system-x86_64
	QemuArgs    [][]string `hcl:"qemuargs,optional"`
	NetDevice   string     `hcl:"net_device,optional"` // default virtio-net
	Headless    bool       `hcl:"headless,optional"`
	// Display is qemu's -display when headless is false (default none,
	// with the VNC server below); UseDefaultDisplay passes no -display.
	Display           string `hcl:"display,optional"`
	UseDefaultDisplay bool   `hcl:"use_default_display,optional"`

	// VNC options apply when headless is false: qemu then serves its
	// display over VNC on vnc_bind_address (default 127.0.0.1) at a free
	// port in vnc_port_min..vnc_port_max.
	VNCBindAddress string `hcl:"vnc_bind_address,optional"`
	VNCPortMin     int    `hcl:"vnc_port_min,optional"`
	VNCPortMax     int    `hcl:"vnc_port_max,optional"`

	// Firmware is a BIOS file (-bios). EFIBoot boots UEFI firmware from
	// pflash: EFIFirmwareCode and a copy of EFIFirmwareVars (default: the
	// OVMF files of Debian's ovmf package); the vars are kept in the output
	// as efivars.fd unless EFIDropEFIVars.
	Firmware        string `hcl:"firmware,optional"`
	EFIBoot         bool   `hcl:"efi_boot,optional"`
	EFIFirmwareCode string `hcl:"efi_firmware_code,optional"`
	EFIFirmwareVars string `hcl:"efi_firmware_vars,optional"`
	EFIDropEFIVars  bool   `hcl:"efi_drop_efivars,optional"`

	// Kernel, Initrd and KernelArgs boot a kernel directly (-kernel,
	// -initrd, -append), for images without a bootloader.
	Kernel     string `hcl:"kernel,optional"`
	Initrd     string `hcl:"initrd,optional"`
	KernelArgs string `hcl:"kernel_args,optional"`

	// CDFiles (paths or globs) and CDContent (name → content) go on a CD
	// labelled CDLabel (default "cidata"). kiln's own NoCloud seed is
	// merged into it; see seed.go.
	CDFiles   []string          `hcl:"cd_files,optional"`
	CDContent map[string]string `hcl:"cd_content,optional"`
	CDLabel   string            `hcl:"cd_label,optional"`

	BootWait        time.Duration `hcl:"boot_wait,optional"`
	ShutdownCommand string        `hcl:"shutdown_command,optional"`
	ShutdownTimeout time.Duration `hcl:"shutdown_timeout,optional"` // default 5m

	// OutputDirectory defaults to "output-SOURCE_NAME"; VMName to
	// "kiln-SOURCE_NAME". The image is OutputDirectory/VMName, with
	// ".FORMAT" appended when VMName has no extension.
	OutputDirectory string `hcl:"output_directory,optional"`
	VMName          string `hcl:"vm_name,optional"`

	// HostPortMin and HostPortMax bound the 127.0.0.1 port forwarded to
	// the guest's SSH port (ssh_port, default 22). Default 2222..4444.
	HostPortMin int `hcl:"host_port_min,optional"`
	HostPortMax int `hcl:"host_port_max,optional"`

	ssh.Config `hcl:",squash"`
}

// Defaults.
const (
	DefaultFormat          = "qcow2"
	DefaultMemory          = 512
	DefaultMachineType     = "pc"
	DefaultQemuBinary      = "qemu-system-x86_64"
	DefaultNetDevice       = "virtio-net"
	DefaultDiskInterface   = "virtio"
	DefaultDiskCache       = "writeback"
	DefaultDiskDiscard     = "ignore"
	DefaultCDLabel         = "cidata"
	DefaultShutdownTimeout = 5 * time.Minute
	DefaultHostPortMin     = 2222
	DefaultHostPortMax     = 4444
	DefaultVNCPortMin      = 5900
	DefaultVNCPortMax      = 6000
	DefaultUsername        = "root"
)

func (c *Config) format() string    { return or(c.Format, DefaultFormat) }
func (c *Config) memory() int       { return orInt(c.Memory, DefaultMemory) }
func (c *Config) cpus() int         { return orInt(c.CPUs, 1) }
func (c *Config) machine() string   { return or(c.MachineType, DefaultMachineType) }
func (c *Config) binary() string    { return or(c.QemuBinary, DefaultQemuBinary) }
func (c *Config) netDevice() string { return or(c.NetDevice, DefaultNetDevice) }
func (c *Config) diskInterface() string {
	return or(c.DiskInterface, DefaultDiskInterface)
}
func (c *Config) diskCache() string   { return or(c.DiskCache, DefaultDiskCache) }
func (c *Config) diskDiscard() string { return or(c.DiskDiscard, DefaultDiskDiscard) }
func (c *Config) cdLabel() string     { return or(c.CDLabel, DefaultCDLabel) }
func (c *Config) hostPorts() (int, int) {
	return orInt(c.HostPortMin, DefaultHostPortMin), orInt(c.HostPortMax, DefaultHostPortMax)
}
func (c *Config) vncPorts() (int, int) {
	return orInt(c.VNCPortMin, DefaultVNCPortMin), orInt(c.VNCPortMax, DefaultVNCPortMax)
}
func (c *Config) vncBind() string { return or(c.VNCBindAddress, "127.0.0.1") }
func (c *Config) shutdownTimeout() time.Duration {
	if c.ShutdownTimeout > 0 {
		return c.ShutdownTimeout
	}
	return DefaultShutdownTimeout
}
func (c *Config) username() string { return or(c.Username, DefaultUsername) }

// guestSSHPort is the port sshd listens on inside the guest.
func (c *Config) guestSSHPort() int { return orInt(c.Port, ssh.DefaultPort) }

// urls returns the source image locations in the order they are tried.
func (c *Config) urls() []string {
	if c.ISOURL != "" {
		return append([]string{c.ISOURL}, c.ISOURLs...)
	}
	return c.ISOURLs
}

// imageName is the output image's file name.
func (c *Config) imageName(sourceName string) string {
	name := or(c.VMName, "kiln-"+sourceName)
	if filepath.Ext(name) == "" {
		name += "." + c.format()
	}
	return name
}

// outputDir is the output directory as configured or defaulted.
func (c *Config) outputDir(sourceName string) string {
	return or(c.OutputDirectory, "output-"+sourceName)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// validate checks what needs no I/O and returns every problem, each at its
// attribute. Values that were unknown at decode time are zero here, so
// required attributes are checked by presence, not by value.
func (c *Config) validate(body hcl.Body, ectx *hcl.EvalContext) (hcl.Diagnostics, []string) {
	var diags hcl.Diagnostics
	var warnings []string
	attrs := presentAttrs(body, ectx)
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rangeOf(body, attrs, attr)})
	}
	if _, ok := attrs["disk_image"]; !ok || (!c.DiskImage && attrs["disk_image"].known) {
		bad("disk_image", "qemu builds start from a disk image",
			"kiln's qemu builder boots an existing disk image and does not run installers from an ISO (no boot_command): set disk_image = true and point iso_url at a qcow2 or raw image.")
	}
	_, hasURL := attrs["iso_url"]
	_, hasURLs := attrs["iso_urls"]
	switch {
	case !hasURL && !hasURLs:
		bad("iso_url", "Missing source image", "Set iso_url (a local path or an http(s) URL of a disk image) or iso_urls.")
	case hasURL && hasURLs:
		bad("iso_urls", "Conflicting source image", "Set either iso_url or iso_urls, not both.")
	}
	if _, ok := attrs["iso_checksum"]; !ok {
		bad("iso_checksum", "Missing iso_checksum",
			`Set iso_checksum to "sha256:HEX", "file:PATH_OR_URL" of a checksum list, or "none" to skip verification.`)
	} else if c.ISOChecksum != "" {
		if _, err := parseChecksum(c.ISOChecksum); err != nil {
			bad("iso_checksum", "Invalid iso_checksum", err.Error())
		}
	}
	switch c.format() {
	case "qcow2", "raw":
	default:
		bad("format", "Invalid format", fmt.Sprintf(`format must be "qcow2" or "raw", not %q.`, c.Format))
	}
	if c.UseBackingFile && c.format() != "qcow2" {
		bad("use_backing_file", "Backing file needs qcow2", `use_backing_file makes a qcow2 overlay: it needs format = "qcow2".`)
	}
	if c.DiskCompression && c.format() != "qcow2" {
		bad("disk_compression", "Compression needs qcow2", `disk_compression compresses qcow2 clusters: it needs format = "qcow2".`)
	}
	if c.DiskCompression && c.SkipCompaction {
		bad("disk_compression", "Compression needs compaction", "disk_compression rewrites the image; it cannot be combined with skip_compaction.")
	}
	if c.DiskSize != "" {
		if _, err := parseSize(c.DiskSize); err != nil {
			bad("disk_size", "Invalid disk_size", err.Error())
		}
	}
	checkEnum := func(attr, v string, allowed ...string) {
		if v != "" && !slices.Contains(allowed, v) {
			bad(attr, "Invalid "+attr, fmt.Sprintf("%s must be one of %s, not %q.", attr, strings.Join(allowed, ", "), v))
		}
	}
	checkEnum("disk_interface", c.DiskInterface, "virtio", "virtio-scsi", "ide")
	checkEnum("disk_cache", c.DiskCache, "writeback", "writethrough", "none", "unsafe", "directsync")
	checkEnum("disk_discard", c.DiskDiscard, "ignore", "unmap")
	checkEnum("disk_detect_zeroes", c.DiskDetectZeroes, "on", "off", "unmap")
	checkEnum("accelerator", c.Accelerator, "kvm", "tcg", "hvf", "whpx", "xen", "none")
	for _, n := range []struct {
		attr string
		v    int
	}{{"cpus", c.CPUs}, {"memory", c.Memory}, {"sockets", c.Sockets}, {"cores", c.Cores}, {"threads", c.Threads}} {
		if n.v < 0 {
			bad(n.attr, "Invalid "+n.attr, n.attr+" must be positive.")
		}
	}
	checkRange := func(minAttr, maxAttr string, lo, hi int) {
		switch {
		case lo < 1 || lo > 65535:
			bad(minAttr, "Invalid port", fmt.Sprintf("%s must be between 1 and 65535, not %d.", minAttr, lo))
		case hi < 1 || hi > 65535:
			bad(maxAttr, "Invalid port", fmt.Sprintf("%s must be between 1 and 65535, not %d.", maxAttr, hi))
		case lo > hi:
			bad(maxAttr, "Invalid port range", fmt.Sprintf("%s (%d) is below %s (%d).", maxAttr, hi, minAttr, lo))
		}
	}
	lo, hi := c.hostPorts()
	checkRange("host_port_min", "host_port_max", lo, hi)
	if c.Display != "" && c.UseDefaultDisplay {
		bad("display", "Conflicting display", "Set either display or use_default_display, not both.")
	}
	if c.Headless {
		for _, a := range []string{"vnc_bind_address", "vnc_port_min", "vnc_port_max", "display", "use_default_display"} {
			if _, ok := attrs[a]; ok {
				warnings = append(warnings, a+" is ignored: headless = true shows no display and starts no VNC server")
			}
		}
	} else {
		lo, hi := c.vncPorts()
		checkRange("vnc_port_min", "vnc_port_max", lo, hi)
		if lo < 5900 {
			bad("vnc_port_min", "Invalid VNC port", "VNC ports start at 5900 (display :0).")
		}
	}
	if c.Firmware != "" && c.EFIBoot {
		bad("firmware", "Conflicting firmware", "Set either firmware (a BIOS file) or efi_boot, not both.")
	}
	if !c.EFIBoot {
		for _, a := range []string{"efi_firmware_code", "efi_firmware_vars", "efi_drop_efivars"} {
			if _, ok := attrs[a]; ok {
				bad(a, "EFI option without efi_boot", a+" has no effect unless efi_boot = true.")
			}
		}
	}
	if _, ok := attrs["kernel"]; !ok {
		for _, a := range []string{"initrd", "kernel_args"} {
			if _, ok := attrs[a]; ok {
				bad(a, "Kernel option without kernel", a+" needs kernel: they boot a kernel directly.")
			}
		}
	}
	if len(c.cdLabel()) > 32 {
		bad("cd_label", "Invalid cd_label", "An ISO 9660 volume label has at most 32 characters.")
	}
	for name := range c.CDContent {
		if name == "" || filepath.IsAbs(name) || strings.Contains(name, "..") {
			bad("cd_content", "Invalid cd_content name", fmt.Sprintf("%q must be a relative path inside the CD.", name))
		}
	}
	for i, a := range c.QemuArgs {
		if len(a) == 0 || !strings.HasPrefix(a[0], "-") {
			bad("qemuargs", "Invalid qemuargs", fmt.Sprintf("qemuargs[%d] must start with a flag such as \"-m\".", i))
		}
		for _, s := range a {
			if err := checkLegacy(s); err != nil {
				bad("qemuargs", "Invalid qemuargs", err.Error())
			}
		}
	}
	if c.BootWait < 0 || c.ShutdownTimeout < 0 {
		bad("boot_wait", "Invalid duration", "boot_wait and shutdown_timeout must not be negative.")
	}
	diags = append(diags, c.Config.Validate(body)...)
	return diags, warnings
}

// attrInfo says that an attribute is present and whether its value is known.
type attrInfo struct {
	known bool
	rng   hcl.Range
}

// presentAttrs lists the attributes set in body, evaluated in ectx.
func presentAttrs(body hcl.Body, ectx *hcl.EvalContext) map[string]attrInfo {
	out := map[string]attrInfo{}
	if body == nil {
		return out
	}
	attrs, _ := body.JustAttributes()
	for name, a := range attrs {
		v, diags := a.Expr.Value(ectx)
		known := !diags.HasErrors() && v.IsWhollyKnown()
		out[name] = attrInfo{known: known, rng: a.Expr.Range()}
	}
	return out
}

func rangeOf(body hcl.Body, attrs map[string]attrInfo, attr string) *hcl.Range {
	if a, ok := attrs[attr]; ok {
		return a.rng.Ptr()
	}
	if body == nil {
		return nil
	}
	return body.MissingItemRange().Ptr()
}

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMGT]?)I?B?\s*$`)

// parseSize parses Packer's disk_size: a number of MiB, or a number with a
// K, M, G or T suffix (binary units). It returns bytes.
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: write a number of MiB or a number with a unit, such as \"20G\" or \"4096M\"", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size", s)
	}
	shift := map[string]uint{"K": 10, "": 20, "M": 20, "G": 30, "T": 40}[m[2]]
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << shift, nil
}
