// Package testenv decides what a test does when the machine lacks a tool it
// needs (Perl modules, nftables, root, Chromium): on a developer's machine
// it skips with the command that installs the tool; in CI, where .ci/run
// sets KNOCK_CI=1 after installing everything, it fails, so that a missing
// install step cannot hide behind a green run.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under .ci/run.
func InCI() bool { return os.Getenv("KNOCK_CI") == "1" }

// Missing skips the test, or fails it in CI, because of what.
func Missing(tb testing.TB, what string, err error, install string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s: %v (CI installs it with: %s)", what, err, install)
	}
	tb.Skipf("%s: %v; install it with: %s", what, err, install)
}

// NeedPerl skips or fails unless perl can load every module given.
func NeedPerl(tb testing.TB, install string, modules ...string) {
	tb.Helper()
	args := []string{}
	for _, m := range modules {
		args = append(args, "-M"+m)
	}
	args = append(args, "-e1")
	if out, err := exec.Command("perl", args...).CombinedOutput(); err != nil {
		Missing(tb, "Perl modules "+join(modules), errorText(err, out), install)
	}
}

// NeedRoot skips or fails unless the test runs as root.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "root", errString("this test builds network namespaces and firewall rules"), "sudo .ci/run")
	}
}

// NeedCommand skips or fails unless name is on PATH.
func NeedCommand(tb testing.TB, name, install string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, name, err, install)
	}
	return path
}

type errString string

func (e errString) Error() string { return string(e) }

func errorText(err error, out []byte) error {
	if len(out) > 200 {
		out = out[:200]
	}
	return errString(err.Error() + ": " + string(out))
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
