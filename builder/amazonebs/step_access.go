package amazonebs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// stepKeyPair generates the instance's host key and, unless
// ssh_keypair_name names an existing key pair, a login key that it imports
// as a temporary key pair. It prepares the user data that installs both.
func stepKeyPair(ctx context.Context, s *state, u *step.Undo) error {
	hostKey, hostPEM, err := newKey("ed25519")
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	s.hostKey = hostKey
	var loginPub string
	var loginPEM []byte
	if s.cfg.KeyPairName != "" {
		s.keyName = s.cfg.KeyPairName
	} else {
		typ := s.cfg.TempKeyPairType
		if typ == "" {
			typ = defaultKeyPairType
		}
		if s.login, loginPEM, err = newKey(typ); err != nil {
			return fmt.Errorf("generate login key: %w", err)
		}
		loginPub = authorizedKey(s.login.PublicKey())
		name := s.cfg.TempKeyPairName
		if name == "" {
			name = "kiln_" + s.build
		}
		_, err := create(ctx, s.journal, s.region, kindKeyPair, name, s.ec2.ImportKeyPair, &ec2.ImportKeyPairInput{
			KeyName:           aws.String(name),
			PublicKeyMaterial: []byte(loginPub),
			TagSpecifications: []types.TagSpecification{awsutil.TagSpec(types.ResourceTypeKeyPair, s.tempTags)},
		})
		if err != nil {
			return fmt.Errorf("import temporary key pair %s: %w", name, err)
		}
		s.keyName = name
		if err := s.created(u, s.region, kindKeyPair, name, name, false, func(ctx context.Context, c EC2) error {
			return s.remover().keyPair(ctx, c, name)
		}); err != nil {
			return err
		}
		s.say("temporary key pair %s (%s)", name, typ)
	}
	var user []byte
	switch {
	case s.cfg.UserDataFile != "":
		if user, err = os.ReadFile(s.cfg.UserDataFile); err != nil {
			return fmt.Errorf("read user_data_file: %w", err)
		}
	case s.cfg.UserData != "":
		user = []byte(s.cfg.UserData)
	}
	s.userData, err = userData(cloudConfig(hostPEM, authorizedKey(hostKey.PublicKey()), loginPub), user)
	if err != nil {
		return err
	}
	if len(s.userData) > 16*1024 {
		return fmt.Errorf("user data with kiln's keys is %d bytes; EC2 allows 16384", len(s.userData))
	}
	if s.env.Debug {
		for name, pemBytes := range map[string][]byte{"login": loginPEM, "host": hostPEM} {
			if pemBytes == nil {
				continue
			}
			path, err := writeDebugKey(fmt.Sprintf("kiln_%s_%s_key", s.build, name), pemBytes)
			if err != nil {
				return err
			}
			s.debugKeys = append(s.debugKeys, path)
			s.warn("debug: %s private key written to %s", name, path)
		}
	}
	return nil
}

// stepSecurityGroup creates a temporary security group that lets SSH in
// from the caller only, unless security groups were given.
func stepSecurityGroup(ctx context.Context, s *state, u *step.Undo) error {
	if len(s.sgIDs) > 0 {
		return nil
	}
	if s.vpcID == "" {
		out, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
		if err != nil {
			return fmt.Errorf("find the default VPC: %w", err)
		}
		if len(out.Vpcs) == 0 {
			return fmt.Errorf("%s has no default VPC: set vpc_id and subnet_id (or their filters)", s.region)
		}
		s.vpcID = aws.ToString(out.Vpcs[0].VpcId)
		s.vpcCIDR = aws.ToString(out.Vpcs[0].CidrBlock)
	}
	cidrs, err := s.ingressCIDRs(ctx)
	if err != nil {
		return err
	}
	name := "kiln_" + s.build
	out, err := create(ctx, s.journal, s.region, kindSecurityGroup, name, s.ec2.CreateSecurityGroup, &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(name),
		Description:       aws.String("Temporary SSH access for kiln build " + s.build),
		VpcId:             aws.String(s.vpcID),
		TagSpecifications: []types.TagSpecification{awsutil.TagSpec(types.ResourceTypeSecurityGroup, s.tempTags)},
	})
	if err != nil {
		return fmt.Errorf("create temporary security group: %w", err)
	}
	id := aws.ToString(out.GroupId)
	if err := s.created(u, s.region, kindSecurityGroup, name, id, false, func(ctx context.Context, c EC2) error {
		return s.remover().securityGroup(ctx, c, id)
	}); err != nil {
		return err
	}
	s.sgIDs = []string{id}
	port := int32(s.cfg.Comm.Port)
	if port == 0 {
		port = 22
	}
	perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	for _, c := range cidrs {
		if strings.Contains(c, ":") {
			perm.Ipv6Ranges = append(perm.Ipv6Ranges, types.Ipv6Range{CidrIpv6: aws.String(c), Description: aws.String("kiln")})
		} else {
			perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(c), Description: aws.String("kiln")})
		}
	}
	if _, err := s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(id), IpPermissions: []types.IpPermission{perm},
	}); err != nil {
		return fmt.Errorf("allow SSH into security group %s: %w", id, err)
	}
	s.say("temporary security group %s allows port %d from %s", id, port, strings.Join(cidrs, ", "))
	return nil
}

// ingressCIDRs returns the sources the temporary security group admits.
// Never 0.0.0.0/0 unless configured, and then with a warning.
func (s *state) ingressCIDRs(ctx context.Context) ([]string, error) {
	c := s.cfg
	if len(c.TempSGSourceCIDRs) > 0 {
		for _, cidr := range c.TempSGSourceCIDRs {
			if _, n, err := net.ParseCIDR(cidr); err == nil {
				if ones, _ := n.Mask.Size(); ones == 0 {
					s.warn("temporary_security_group_source_cidrs includes %s: SSH on the build instance is open to the whole internet", cidr)
				}
			}
		}
		return c.TempSGSourceCIDRs, nil
	}
	if ip := net.ParseIP(c.Comm.Host); ip != nil && ip.IsLoopback() {
		// SSH goes through a forward on this machine: admit nobody else.
		if ip.To4() == nil {
			return []string{"::1/128"}, nil
		}
		return []string{"127.0.0.1/32"}, nil
	}
	if !c.TempSGSourcePublicIP && (c.Comm.BastionHost != "" || strings.HasPrefix(c.SSHInterface, "private")) {
		// The connection comes from inside the VPC.
		cidr, err := s.vpcCIDRBlock(ctx)
		if err != nil {
			return nil, err
		}
		return []string{cidr}, nil
	}
	ip, err := s.publicIP(ctx)
	if err != nil {
		return nil, fmt.Errorf("find this machine's public address for the temporary security group (set temporary_security_group_source_cidrs instead): %w", err)
	}
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		return []string{ip + "/128"}, nil
	}
	return []string{ip + "/32"}, nil
}

func (s *state) vpcCIDRBlock(ctx context.Context) (string, error) {
	if s.vpcCIDR != "" {
		return s.vpcCIDR, nil
	}
	out, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{s.vpcID}})
	if err != nil {
		return "", fmt.Errorf("describe VPC %s: %w", s.vpcID, err)
	}
	if len(out.Vpcs) == 0 {
		return "", fmt.Errorf("VPC %s not found", s.vpcID)
	}
	s.vpcCIDR = aws.ToString(out.Vpcs[0].CidrBlock)
	return s.vpcCIDR, nil
}

// checkIPURL answers with the caller's public IPv4 address.
const checkIPURL = "https://checkip.amazonaws.com/"

// checkIP asks AWS's checkip service for this machine's public address.
func checkIP(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, checkIPURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	if err != nil {
		return "", err
	}
	ip := strings.TrimSpace(string(b))
	if net.ParseIP(ip) == nil {
		return "", fmt.Errorf("%s answered %q, not an address", checkIPURL, ip)
	}
	return ip, nil
}
