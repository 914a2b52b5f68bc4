// Package manifest is kiln's "manifest" post-processor: it records each
// build's artifact in a JSON file with the shape of Packer's
// packer-manifest.json, so scripts written for Packer keep working:
//
//	{
//	  "builds": [
//	    {
//	      "name": "ubuntu",
//	      "builder_type": "amazon-ebs",
//	      "build_time": 1764133200,
//	      "files": null,
//	      "artifact_id": "us-east-1:ami-0abc",
//	      "packer_run_uuid": "6b0a…",
//	      "custom_data": {"team": "web"}
//	    }
//	  ],
//	  "last_run_uuid": "6b0a…"
//	}
//
// Sensitive values (postprocessor.Env.Secrets: the template's sensitive
// variables and locals, the passwords and keys builders report) are written as
// "<sensitive>" wherever they appear in a record, custom_data included.
//
// Every run appends its builds; with -force a run that finds another run's
// manifest starts it afresh. Parallel builds writing one file are serialised
// by a lock held in the process (keyed by absolute path) and an flock on a
// lock file beside it (for other kiln processes), and the file is replaced
// atomically: written to a temporary file, then renamed.
//
// It sits in kiln's components layer; kiln.DefaultRegistries registers New under
// the type label "manifest".
package manifest
