package qemu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// launchSpec is what one qemu start needs besides the Config.
type launchSpec struct {
	name       string
	accel      string // kvm, tcg, ... or none
	disk       string
	diskFormat string
	cds        []string
	hostPort   int // 127.0.0.1 port forwarded to the guest's SSH port
	vncPort    int // 0: no VNC
	qmp        string
	serial     string // file receiving the serial console
	// rootKey is authorized for root through a systemd credential, for
	// images without cloud-init ("" for none).
	rootKey string
	// efiCode and efiVars are the pflash files of an EFI boot.
	efiCode, efiVars string
	outputDir        string
}

// qarg is one qemu flag with its value ("" for a bare flag).
type qarg struct {
	flag  string
	value string
}

// commandLine returns qemu's arguments: kiln's defaults, then the template's
// qemuargs. As in Packer, a qemuargs entry whose flag kiln also sets
// replaces all of kiln's entries with that flag (so one "-device" entry
// replaces every default -device); other entries are added. Each entry is a
// flag followed by its values; `{{ .SSHHostPort }}`, `{{ .Name }}` and
// `{{ .OutputDir }}` in them are replaced.
func (c *Config) commandLine(s launchSpec) ([]string, error) {
	defaults := c.defaultArgs(s)
	user := map[string]bool{}
	var extra []string
	vars := map[string]string{"SSHHostPort": strconv.Itoa(s.hostPort), "Name": s.name, "OutputDir": s.outputDir}
	for _, entry := range c.QemuArgs {
		if len(entry) == 0 {
			continue
		}
		user[entry[0]] = true
		for _, a := range entry {
			v, err := expandLegacy(a, vars)
			if err != nil {
				return nil, err
			}
			extra = append(extra, v)
		}
	}
	var args []string
	for _, a := range defaults {
		if user[a.flag] {
			continue
		}
		args = append(args, a.flag)
		if a.value != "" {
			args = append(args, a.value)
		}
	}
	return append(args, extra...), nil
}

func (c *Config) defaultArgs(s launchSpec) []qarg {
	machine := "type=" + c.machine()
	if s.accel != "none" {
		machine += ",accel=" + s.accel
	}
	args := []qarg{
		{"-name", s.name},
		{"-machine", machine},
	}
	switch {
	case c.CPUModel != "":
		args = append(args, qarg{"-cpu", c.CPUModel})
	case s.accel == "kvm":
		args = append(args, qarg{"-cpu", "host"})
	}
	args = append(args,
		qarg{"-smp", c.smp()},
		qarg{"-m", strconv.Itoa(c.memory()) + "M"},
	)
	switch {
	case c.Headless || c.Display == "" && !c.UseDefaultDisplay:
		args = append(args, qarg{"-display", "none"})
	case c.Display != "":
		args = append(args, qarg{"-display", c.Display})
	}
	if s.vncPort > 0 {
		args = append(args, qarg{"-vnc", fmt.Sprintf("%s:%d", c.vncBind(), s.vncPort-5900)})
	}
	args = append(args,
		qarg{"-netdev", fmt.Sprintf("user,id=user.0,hostfwd=tcp:127.0.0.1:%d-:%d", s.hostPort, c.guestSSHPort())},
		qarg{"-device", c.netDevice() + ",netdev=user.0"},
	)
	drive := fmt.Sprintf("file=%s,format=%s,cache=%s,discard=%s", qemuEscape(s.disk), s.diskFormat, c.diskCache(), c.diskDiscard())
	if c.DiskDetectZeroes != "" {
		drive += ",detect-zeroes=" + c.DiskDetectZeroes
	}
	switch c.diskInterface() {
	case "virtio-scsi":
		args = append(args,
			qarg{"-device", "virtio-scsi-pci,id=scsi0"},
			qarg{"-device", "scsi-hd,bus=scsi0.0,drive=drive0"},
			qarg{"-drive", drive + ",if=none,id=drive0"},
		)
	default:
		args = append(args, qarg{"-drive", drive + ",if=" + c.diskInterface()})
	}
	for _, cd := range s.cds {
		args = append(args, qarg{"-drive", "file=" + qemuEscape(cd) + ",media=cdrom,readonly=on"})
	}
	switch {
	case c.Firmware != "":
		args = append(args, qarg{"-bios", c.Firmware})
	case s.efiCode != "":
		args = append(args,
			qarg{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + qemuEscape(s.efiCode)},
			qarg{"-drive", "if=pflash,format=raw,unit=1,file=" + qemuEscape(s.efiVars)},
		)
	}
	if c.Kernel != "" {
		args = append(args, qarg{"-kernel", c.Kernel})
		if c.Initrd != "" {
			args = append(args, qarg{"-initrd", c.Initrd})
		}
		if c.KernelArgs != "" {
			args = append(args, qarg{"-append", c.KernelArgs})
		}
	}
	if s.rootKey != "" {
		args = append(args, qarg{"-smbios", "type=11,value=io.systemd.credential:ssh.authorized_keys.root=" + qemuEscape(s.rootKey)})
	}
	args = append(args,
		qarg{"-qmp", "unix:" + s.qmp + ",server=on,wait=off"},
		qarg{"-serial", "file:" + s.serial},
	)
	return args
}

// smp is -smp's value: the vCPU count and any topology.
func (c *Config) smp() string {
	v := strconv.Itoa(c.cpus())
	for _, t := range []struct {
		name string
		n    int
	}{{"sockets", c.Sockets}, {"cores", c.Cores}, {"threads", c.Threads}} {
		if t.n > 0 {
			v += fmt.Sprintf(",%s=%d", t.name, t.n)
		}
	}
	return v
}

// qemuEscape doubles commas, which qemu's option parser reads as separators.
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

var legacyRE = regexp.MustCompile(`\{\{\s*\.?(\w+)\s*\}\}`)

// legacyNames are the Packer template variables qemuargs may use.
var legacyNames = map[string]bool{"SSHHostPort": true, "Name": true, "OutputDir": true}

// checkLegacy reports template variables in s that kiln cannot fill.
func checkLegacy(s string) error {
	for _, m := range legacyRE.FindAllStringSubmatch(s, -1) {
		if !legacyNames[m[1]] {
			return fmt.Errorf("qemuargs: {{ .%s }} is not available; use {{ .SSHHostPort }}, {{ .Name }} or {{ .OutputDir }}", m[1])
		}
	}
	return nil
}

func expandLegacy(s string, vars map[string]string) (string, error) {
	if err := checkLegacy(s); err != nil {
		return "", err
	}
	return legacyRE.ReplaceAllStringFunc(s, func(m string) string {
		return vars[legacyRE.FindStringSubmatch(m)[1]]
	}), nil
}
