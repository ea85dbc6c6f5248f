// Package version says which build of the project a command is: one
// string, the same for every command.
//
// A package build sets it at link time:
//
//	go build -ldflags "-X github.com/portknock/knock/internal/version.Version=0.9.0" ./cmd/...
//
// Without it, the string comes from what the Go toolchain recorded in the
// binary: the module's version under go install module@version, or the
// VCS revision of a build in a checkout.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set by -ldflags -X at build time; empty otherwise.
var Version string

// String returns the version: the link-time one, else the module version,
// else the VCS revision (12 digits, "+dirty" when the tree had changes),
// else "devel".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "devel-" + rev + dirty
}

// Line is what -version prints: "knockdaemon 0.9.0 (go1.26.8)".
func Line(command string) string {
	return fmt.Sprintf("%s %s (%s)", command, String(), runtime.Version())
}
