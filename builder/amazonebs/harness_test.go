package amazonebs

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/internal/testmoto"
)

// faults makes the Nth call of an EC2 operation fail once with an API
// error, for failure injection.
type faults struct {
	mu     sync.Mutex
	op     string
	nth    int
	calls  int
	failed bool
}

func (f *faults) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("kilnFault", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if f.hit(awsmiddleware.GetOperationName(ctx)) {
			return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "InjectedFailure", Message: "injected by the test"}
		}
		return next.HandleInitialize(ctx, in)
	}), middleware.Before)
}

func (f *faults) hit(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed || op != f.op {
		return false
	}
	f.calls++
	if f.calls == f.nth {
		f.failed = true
		return true
	}
	return false
}

// motoClients returns a ClientFunc for moto whose clients carry apiOptions
// (fault injection, request recording).
func motoClients(moto *testmoto.Server, apiOptions ...func(*middleware.Stack) error) ClientFunc {
	var mu sync.Mutex
	clients := map[string]EC2{}
	return func(_ context.Context, region string) (EC2, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[region]; ok {
			return c, nil
		}
		c := ec2.NewFromConfig(moto.Config(region), func(o *ec2.Options) {
			o.APIOptions = append(o.APIOptions, apiOptions...)
		})
		clients[region] = c
		return c, nil
	}
}

// parseBody parses HCL attributes into a body, as a source block's body.
func parseBody(t testing.TB, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags.Error())
	}
	return f.Body
}

// catalogAMI returns an EBS-backed Linux image from moto's catalog.
func catalogAMI(t testing.TB, c *ec2.Client) string {
	t.Helper()
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Filters: []types.Filter{
		{Name: aws.String("root-device-type"), Values: []string{"ebs"}},
		{Name: aws.String("name"), Values: []string{"*ubuntu*"}},
	}})
	if err != nil || len(out.Images) == 0 {
		t.Fatalf("find a catalog image in moto: %v (%d found)", err, len(out.Images))
	}
	return aws.ToString(out.Images[0].ImageId)
}

// leftovers describes everything kiln could have left in c's region.
func leftovers(t testing.TB, c *ec2.Client) []string {
	t.Helper()
	return testmoto.Leftovers(t, c)
}
