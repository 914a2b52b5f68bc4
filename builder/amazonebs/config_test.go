package amazonebs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/testboot"
)

func TestNewValid(t *testing.T) {
	b, diags := New(parseBody(t, `
region        = "us-east-1"
source_ami_filter {
  filters     = { name = "debian-12-*" }
  owners      = ["136693071363"]
  most_recent = true
}
instance_type = "t3.micro"
ami_name      = "web-{{ timestamp }}"
ssh_username  = "admin"
metadata_options {
  http_put_response_hop_limit = 2
}
launch_block_device_mappings {
  device_name = "/dev/xvda"
  volume_size = 20
  volume_type = "gp3"
}
tags = { Name = "web" }
`), nil)
	if diags.HasErrors() {
		t.Fatalf("diags: %s", diags.Error())
	}
	c := b.(*Builder).Config()
	if c.SourceAMIFilter == nil || !c.SourceAMIFilter.MostRecent || c.LaunchBlockDevices[0].VolumeSize != 20 || c.Comm.Username != "admin" {
		t.Errorf("config = %+v", c)
	}
}

func TestNewInvalid(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"no source":                    {`instance_type = "t3.micro"` + "\n" + `ami_name = "abc"`, "source_ami or a source_ami_filter"},
		"no instance type":             {`source_ami = "ami-1"` + "\n" + `ami_name = "abc"`, "instance_type"},
		"no ami_name":                  {`source_ami = "ami-1"` + "\n" + `instance_type = "t3.micro"`, "ami_name"},
		"bad ssh_interface":            {base + `ssh_interface = "ipv6"`, "ssh_interface must be one of"},
		"bad cidr":                     {base + `temporary_security_group_source_cidrs = ["10.0.0.300/8"]`, "not a CIDR"},
		"spot without price":           {base + `spot_instance_types = ["t3.micro"]`, "spot_price"},
		"unknown option":               {base + `ami_nmae = "x"`, "ami_nmae"},
		"key pair, no key":             {base + `ssh_keypair_name = "mine"`, "ssh_private_key_file"},
		"bad deprecate_at":             {base + `deprecate_at = "tomorrow"`, "RFC 3339"},
		"unused region key":            {base + `region_kms_key_ids = { "eu-west-1" = "k" }`, "neither region nor in ami_regions"},
		"bad key type":                 {base + `temporary_key_pair_type = "dsa"`, "temporary_key_pair_type"},
		"vpc, no subnet":               {base + `vpc_id = "vpc-1"`, "subnet_id or subnet_filter"},
		"bad hop limit":                {base + "metadata_options {\n http_put_response_hop_limit = 99\n}", "hop_limit"},
		"bad tenancy":                  {base + `tenancy = "shared"`, "tenancy must be one of"},
		"bad placement tenancy":        {base + "placement {\n tenancy = \"shared\"\n}", "placement.tenancy must be one of"},
		"two tenancies":                {base + "tenancy = \"dedicated\"\nplacement {\n tenancy = \"host\"\n}", "not both"},
		"host, not host tenancy":       {base + "placement {\n host_id = \"h-1\"\n tenancy = \"dedicated\"\n}", "tenancy = \"host\""},
		"host and group":               {base + "placement {\n host_id = \"h-1\"\n host_resource_group_arn = \"arn:x\"\n}", "not both"},
		"bad reservation preference":   {base + `capacity_reservation_preference = "always"`, `"none" or "open"`},
		"two reservations":             {base + "capacity_reservation_preference = \"open\"\ncapacity_reservation_id = \"cr-1\"", "mutually exclusive"},
		"t2 unlimited on t3":           {base + "enable_t2_unlimited = true", "t2 instance type"},
		"unlimited on m5":              {strings.Replace(base, "t3.micro", "m5.large", 1) + "enable_unlimited_credits = true", "burstable"},
		"unlimited, spot t2":           {strings.Replace(base, "t3.micro", "t2.micro", 1) + "spot_price = \"auto\"\nenable_unlimited_credits = true", "spot instances of a t2 type"},
		"enclave on spot":              {base + "spot_price = \"auto\"\nenable_nitro_enclave = true", "not supported for spot"},
		"license, no arn":              {base + "license_specifications {\n}", "license_configuration_arn"},
		"ena on spot":                  {base + "spot_price = \"auto\"\nena_support = true", "cannot be modified"},
		"spot tags, no spot":           {base + "spot_tag {\n key = \"a\"\n value = \"b\"\n}", "spot instances only"},
		"fleet tags, no spot":          {base + "fleet_tags = { a = \"b\" }", "spot instances only"},
		"bad strategy":                 {base + "spot_price = \"auto\"\nspot_allocation_strategy = \"cheapest\"", "spot_allocation_strategy must be one of"},
		"block duration":               {base + "spot_price = \"auto\"\nblock_duration_minutes = 60", "no longer offers"},
		"bad virt type":                {base + `ami_virtualization_type = "pv"`, `"paravirtual" or "hvm"`},
		"bad copy duration":            {base + "ami_regions = [\"eu-west-1\"]\nsnapshot_copy_duration_minutes = 20", "multiple of 15"},
		"skip build region, no copies": {base + "skip_save_build_region = true", "ami_regions names no other region"},
		"tag without key":              {base + "tag {\n value = \"a\"\n}", "key"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, diags := New(parseBody(t, tc.src), nil)
			var all strings.Builder
			for _, d := range diags {
				all.WriteString(d.Summary + ": " + d.Detail + "\n")
			}
			if !diags.HasErrors() || !strings.Contains(all.String(), tc.want) {
				t.Fatalf("diags = %v, want one about %q", diags, tc.want)
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Errorf("diagnostic without a location: %s", d.Summary)
				}
			}
		})
	}
}

const base = "region = \"us-east-1\"\nsource_ami = \"ami-1\"\ninstance_type = \"t3.micro\"\nami_name = \"abc\"\n"

func TestMetadataDefaultsToIMDSv2(t *testing.T) {
	s := &state{cfg: &Config{}}
	if m := s.metadataOptions(); m.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("http_tokens = %q, want required", m.HttpTokens)
	}
	s.cfg.Metadata = &MetadataOptions{HTTPTokens: "optional"}
	if m := s.metadataOptions(); m.HttpTokens != types.HttpTokensStateOptional {
		t.Errorf("http_tokens = %q, want the configured optional", m.HttpTokens)
	}
}

func TestUserDataAlone(t *testing.T) {
	signer, pemBytes, err := newKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	cc := cloudConfig(pemBytes, authorizedKey(signer.PublicKey()), "ssh-ed25519 AAAA login")
	ud, err := userData(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, pub, auth, err := testboot.ParseUserData([]byte(ud))
	if err != nil {
		t.Fatal(err)
	}
	if key != string(pemBytes) || pub != authorizedKey(signer.PublicKey()) || auth != "ssh-ed25519 AAAA login" {
		t.Errorf("round trip lost something:\n%s", ud)
	}
}

func TestUserDataMergesUserParts(t *testing.T) {
	signer, pemBytes, _ := newKey("ed25519")
	cc := cloudConfig(pemBytes, authorizedKey(signer.PublicKey()), "ssh-ed25519 AAAA login")
	for user, wantType := range map[string]string{
		"#!/bin/bash\necho hi\n":                                             "text/x-shellscript",
		"#cloud-config\npackages: [nginx]\n":                                 "text/cloud-config",
		"Content-Type: text/x-shellscript\nMIME-Version: 1.0\n\necho mime\n": "text/x-shellscript",
	} {
		ud, err := userData(cc, []byte(user))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ud, "Content-Type: multipart/mixed") || !strings.Contains(ud, wantType) {
			t.Errorf("user data for %q:\n%s", user, ud)
		}
		if _, _, _, err := testboot.ParseUserData([]byte(ud)); err != nil {
			t.Errorf("kiln's part lost: %v", err)
		}
		body := user
		if i := strings.Index(user, "\n\n"); strings.HasPrefix(user, "Content-Type") {
			body = user[i+2:]
		}
		if !strings.Contains(ud, strings.TrimSpace(body)) {
			t.Errorf("the user's content is missing:\n%s", ud)
		}
	}
}

func TestIngressCIDRs(t *testing.T) {
	sink := &eventtest.Recorder{}
	lookups := 0
	newState := func(c Config) *state {
		return &state{cfg: &c, events: sink, vpcCIDR: "172.31.0.0/16", publicIP: func(context.Context) (string, error) {
			lookups++
			return "203.0.113.7", nil
		}}
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"configured", Config{TempSGSourceCIDRs: []string{"198.51.100.0/24"}}, "198.51.100.0/24"},
		{"loopback host", Config{}, "127.0.0.1/32"},
		{"private interface", Config{SSHInterface: "private_ip"}, "172.31.0.0/16"},
		{"public", Config{SSHInterface: "public_ip"}, "203.0.113.7/32"},
	}
	for _, tc := range cases {
		if tc.name == "loopback host" {
			tc.cfg.Comm.Host = "127.0.0.1"
		}
		got, err := newState(tc.cfg).ingressCIDRs(context.Background())
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.name, got, err, tc.want)
		}
	}
	if warnings := sink.Messages(event.Warn); lookups != 1 || len(warnings) != 0 {
		t.Errorf("lookups %d, warnings %v", lookups, warnings)
	}
	got, _ := newState(Config{TempSGSourceCIDRs: []string{"0.0.0.0/0"}}).ingressCIDRs(context.Background())
	if warnings := sink.Messages(event.Warn); strings.Join(got, ",") != "0.0.0.0/0" || len(warnings) != 1 || !strings.Contains(warnings[0], "whole internet") {
		t.Errorf("open rule: %v, warnings %v", got, warnings)
	}
	s := newState(Config{})
	s.publicIP = func(context.Context) (string, error) { return "", errors.New("offline") }
	if _, err := s.ingressCIDRs(context.Background()); err == nil || !strings.Contains(err.Error(), "temporary_security_group_source_cidrs") {
		t.Errorf("failed lookup: %v, want advice", err)
	}
}

func TestArtifactID(t *testing.T) {
	a := &Artifact{Images: map[string]string{"us-east-1": "ami-1", "eu-west-1": "ami-2"}, SourceAMI: "ami-0"}
	if a.ID() != "eu-west-1:ami-2,us-east-1:ami-1" {
		t.Errorf("ID = %q", a.ID())
	}
	m := a.State("region_images").(map[string]string)
	m["x"] = "mutated"
	if len(a.Images) != 2 || a.State("source_image") != "ami-0" || a.State("nope") != nil {
		t.Error("State leaks or answers wrongly")
	}
}

func TestEncryptBootEncryptsRootAtLaunch(t *testing.T) {
	s := &state{cfg: &Config{EncryptBoot: aws.Bool(true), KMSKeyID: "alias/k"}, source: types.Image{RootDeviceName: aws.String("/dev/xvda")}}
	bdm := s.blockDevices()
	if len(bdm) != 1 || aws.ToString(bdm[0].DeviceName) != "/dev/xvda" || !aws.ToBool(bdm[0].Ebs.Encrypted) || aws.ToString(bdm[0].Ebs.KmsKeyId) != "alias/k" {
		t.Errorf("mappings = %+v", bdm)
	}
}

// TestFamilyImageName: decoded once for a build with a family block, the
// builder names any version from ami_name, or FAMILY-VERSION without one;
// outside a family build ami_name is still required.
func TestFamilyImageName(t *testing.T) {
	const src = `
region        = "us-east-1"
source_ami    = "ami-12345678"
instance_type = "t3.micro"
`
	ectx := family.EvalContext(nil, "web", "")
	for name, want := range map[string]string{
		``:                                     "web-1.0.2",
		`ami_name = "web-${family.version}-x"`: "web-1.0.2-x",
	} {
		b, diags := New(parseBody(t, src+name), ectx)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", name, diags)
		}
		if got, err := b.(*Builder).ImageName("web", "1.0.2"); err != nil || got != want {
			t.Errorf("%s: ImageName = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, diags := New(parseBody(t, src), nil); !strings.Contains(diags.Error(), "needs ami_name") {
		t.Errorf("without a family and ami_name: %v", diags)
	}
}
