// Package checksum is kiln's "checksum" post-processor: for an artifact
// made of local files it computes one or more digests of every file and
// appends them, one line per file in Packer's format ("HEX\tNAME\n", the
// file's base name), to a checksum file per checksum type. The returned
// artifact lists the input files and the checksum files, as Packer's does.
//
// It sits in kiln's components layer; kiln.DefaultRegistries registers New under
// the type label "checksum".
package checksum
