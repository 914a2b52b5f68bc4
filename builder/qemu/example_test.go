package qemu_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/builder/qemu"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
)

const webSource = `
disk_image       = true
iso_url          = "/var/cache/kiln/base/bookworm/base.qcow2"
iso_checksum     = "none"
use_backing_file = true
disk_compression = true
headless         = true
kernel           = "/var/cache/kiln/base/bookworm/vmlinuz"
initrd           = "/var/cache/kiln/base/bookworm/initrd.img"
kernel_args      = "root=/dev/vda rw console=ttyS0"
shutdown_command = "systemctl poweroff"
`

// A source "qemu" body is decoded by New, as the build engine does.
func Example() {
	f, diags := hclparse.NewParser().ParseHCL([]byte(webSource), "web.pkr.hcl")
	if diags.HasErrors() {
		log.Fatal(diags)
	}
	b, diags := qemu.New(f.Body, nil)
	if diags.HasErrors() {
		log.Fatal(diags)
	}
	cfg := b.(*qemu.Builder).Config()
	fmt.Println(cfg.UseBackingFile, cfg.DiskCompression, cfg.ShutdownCommand)
	// Output: true true systemctl poweroff
}

// Running the builder boots a VM (a minute or two under TCG) and calls the
// hook with an SSH communicator once the guest answers.
func Example_run() {
	f, _ := hclparse.NewParser().ParseHCL([]byte(webSource), "web.pkr.hcl")
	b, diags := qemu.New(f.Body, nil)
	if diags.HasErrors() {
		log.Fatal(diags)
	}
	hook := builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
		return comm.Run(ctx, &communicator.Cmd{Command: "echo provisioned " + data["VMName"]})
	})
	env := &builder.Env{Info: builder.Info{Name: "qemu.web", SourceName: "web", ID: "b1"}, Events: event.Discard}
	art, err := b.Run(context.Background(), env, hook)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(art.ID(), art.Files()) // output-web/kiln-web.qcow2 and its .sha256
}
