package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/kilnhq/kiln"
)

func runVersion(_ context.Context, args []string, io stdio) int {
	fs := newFlagSet("version", "", "Prints kiln's version.", io)
	if code := parseFlags(fs, args, io); code >= 0 {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(fs, "version takes no arguments")
	}
	fmt.Fprintf(io.out, "kiln %s (%s, %s/%s)\n", kiln.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
