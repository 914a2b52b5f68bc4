package main

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// useColor decides whether to colour output going to a terminal (tty):
// yes, unless -color=false, NO_COLOR or TERM=dumb says otherwise.
func useColor(flagOn, tty bool, io stdio) bool {
	return flagOn && tty && io.getenv("NO_COLOR") == "" && io.getenv("TERM") != "dumb"
}

// termWidth returns the width of the terminal f is, or 0 when unknown.
func termWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// ANSI colours.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiPurple = "\x1b[35m"
	ansiCyan   = "\x1b[36m"
)

// buildColors are given to builds in turn, so parallel builds' lines can be
// told apart.
var buildColors = []string{ansiGreen, ansiCyan, ansiPurple, ansiBlue, ansiYellow}
