// Package family is kiln's immutable-image workflow: an image belongs to a
// family (such as "web"), has a semver version, a name derived from both,
// and lineage tags; a Catalog lists a family's versions, points channels at
// them (promote, roll back) and removes old ones (prune).
//
// It sits beside the build engine (package build), which consumes it, and
// below the builders that implement Builder and provide a Catalog
// (amazon-ebs: EC2 images and SSM parameters, package family/awscatalog;
// qemu: a local output root, Local). It imports only the contracts.
//
// # Names
//
// The image name defaults to FAMILY-VERSION (web-1.0.3). A template that
// names images itself writes the version with ${family.version} in the
// builder's naming attributes: ami_name for amazon-ebs; vm_name and
// output_directory for qemu (whose images default to
// output-FAMILY/FAMILY-VERSION/FAMILY-VERSION.FORMAT, so that the versions
// share the output root output-FAMILY). The engine decodes a build's
// source once, in EvalContext: family.name is set, family.version is
// unknown. The builder keeps its naming attributes unevaluated (Names); the
// engine asks it for the name of each candidate version (Builder.ImageName)
// and hands Run the chosen image's name, family, version and lineage tags
// in builder.Env.Image. family.version anywhere else in a source is an
// error at its range (GuardVersion); family.name may be used anywhere.
// Provisioners, test provisioners and post-processors see family.version
// of the version being built, tested or reused.
//
// # Lineage tags
//
// Every image of a family, and each of its snapshots, carries:
//
//	kiln:family        the family's name
//	kiln:version       the semver version, such as 1.0.3
//	kiln:inputs        the inputs digest (below), "sha256:" and 64 hex digits
//	kiln:source-image  the resolved ID of the image it was built from
//	kiln:git-commit    HEAD of the git work tree holding the template (when it is in one)
//	kiln:git-dirty     "true" or "false", beside kiln:git-commit
//	kiln:built-at      RFC 3339 UTC time the build started
//	kiln:kiln-version  kiln's version
//	kiln:status        built, tested or failed-test
//
// # Inputs digest
//
// The digest says whether two builds would make the same image. It is the
// SHA-256 of a sequence of records, each written as the record's kind, a
// NUL byte, its name, a NUL byte, the decimal length of its data, a NUL byte,
// and the data, in this order:
//
//  1. "kiln-major": kiln's major version ("0" while kiln is 0.x).
//  2. "source-config": the builder's resolved source configuration without
//     names, descriptions, tags, sharing, regions, credentials and
//     connection settings, as the builder reports it (JSON for amazon-ebs
//     and qemu).
//  3. "source-image": the resolved source image ID: for amazon-ebs the AMI
//     ID source_ami or source_ami_filter resolves to; for qemu the
//     iso_checksum when one is given, else "sha256:" and the digest of the
//     local disk image (a remote one without a checksum: its URL).
//  4. For each provisioner that runs for the source, in order: "provisioner"
//     named by its type and position ("0:shell"), whose data is the JSON of
//     its attributes evaluated with build.* values unknown (an unknown value
//     is written as the string "(unknown)"); then, for each local path named
//     by its script, scripts, source or sources attributes, a "file" record
//     named by the path as written, whose data is the file's bytes (a
//     directory is walked in lexical order, one record per regular file,
//     named by its path below the directory).
//  5. The same for the provisioners of the family's test block, with the
//     kind "test-provisioner".
//
// Names, tags, git state, times and kiln's minor and patch versions are not
// part of the digest: a rebuild whose only change is one of them is a no-op.
//
// # Versions
//
// "auto" takes the next patch of the newest existing version (compared as
// semver), "minor" and "major" bump those parts, a literal version is used
// as given; the first version of a family is 1.0.0. The image name is the
// lock: when another build took a version's name first (the name exists
// before the build, or the builder reports ErrNameTaken), the build takes
// the next patch, or reuses the other build's image when its inputs digest
// is the same, so two runners building the same inputs end with one image.
//
// # Builds
//
// The engine runs a family build in stages. It resolves the inputs (the
// catalog, the source image, the inputs digest) and lists the family's
// images. Before anything is launched, a build whose family already has an
// image with the same inputs digest that did not fail its test reuses it:
// no machine, the artifact is the existing image (kiln build -force builds
// anyway). Otherwise it picks the next version whose name is free, bakes it
// (tagged built), settles a race with a build of the same inputs (the
// older version stays), runs the test block's provisioners on a fresh
// machine booted from it (status tested, or failed-test and the build
// fails), promotes it to the family's channel, and applies retention
// (keep): older versions go, never one a channel points at or one in use.
package family
