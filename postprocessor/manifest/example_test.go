package manifest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kilnhq/kiln/postprocessor/manifest"
)

// Append is what the post-processor does for each build: here two builds of
// one run record themselves in a manifest that CI scripts written for
// Packer can read.
func ExampleAppend() {
	dir, _ := os.MkdirTemp("", "manifest-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "packer-manifest.json")

	ctx := context.Background()
	manifest.Append(ctx, path, manifest.Build{Name: "web", BuilderType: "amazon-ebs", ArtifactID: "us-east-1:ami-0abc", PackerRunUUID: "run-1"}, "run-1", false)
	manifest.Append(ctx, path, manifest.Build{Name: "box", BuilderType: "null", ArtifactID: "Null", PackerRunUUID: "run-1"}, "run-1", false)

	out, _ := os.ReadFile(path)
	fmt.Print(string(out))
	// Output:
	// {
	//   "builds": [
	//     {
	//       "name": "web",
	//       "builder_type": "amazon-ebs",
	//       "files": null,
	//       "artifact_id": "us-east-1:ami-0abc",
	//       "packer_run_uuid": "run-1",
	//       "custom_data": null
	//     },
	//     {
	//       "name": "box",
	//       "builder_type": "null",
	//       "files": null,
	//       "artifact_id": "Null",
	//       "packer_run_uuid": "run-1",
	//       "custom_data": null
	//     }
	//   ],
	//   "last_run_uuid": "run-1"
	// }
}
