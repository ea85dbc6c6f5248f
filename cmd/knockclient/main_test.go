package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// original is the prototype user's knockclient.conf; v1 is its knock.
const original = "../../settings/testdata/original-knockclient.conf"

var v1 = []uint16{966, 914, 795, 964, 831, 862, 807, 932}

// TestMain lets the test binary run as knockclient in scripts: in
// testdata/script/*.txtar, "exec knockclient ..." runs run, in-process
// code of this package, as its own process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"knockclient": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs one script per behaviour. Each gets a copy of the
// prototype user's knockclient.conf as original.conf, and a home of its
// own, so the search path finds only what the script puts there.
func TestScripts(t *testing.T) {
	conf, err := os.ReadFile(original)
	if err != nil {
		t.Fatal(err)
	}
	scripts, _ := filepath.Glob("testdata/script/*.txtar")
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata/script")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			return os.WriteFile(filepath.Join(env.WorkDir, "original.conf"), conf, 0o644)
		},
	})
}
