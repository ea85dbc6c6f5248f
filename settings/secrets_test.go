package settings_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

const aPassphrase = "correct horse battery staple"

// TestKeyFileModes: a key file group or others may read or write is
// refused, naming the mode it has and the one it needs.
func TestKeyFileModes(t *testing.T) {
	dir := t.TempDir()
	key, _ := sealed.GenerateKey(strings.NewReader(strings.Repeat("k", 32)))
	path := filepath.Join(dir, "knock.key")
	if err := os.WriteFile(path, []byte(sealed.FormatKey(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		want string // "" for accepted
	}{
		{0o600, ""},
		{0o400, ""},
		{0o640, "mode 0640 lets group or others at the key it holds: it needs 0600 or stricter (chmod 600 " + path + ")"},
		{0o644, "mode 0644"},
		{0o604, "mode 0604"},
		{0o620, "mode 0620"},
		{0o602, "mode 0602"},
		{0o666, "mode 0666"},
	} {
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		s, err := settings.Load(settings.Daemon, []string{"-mode", "sealed", "-keyfile", path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.SealedKey()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("mode %04o: %v", tc.mode, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `-keyfile "`)):
			t.Errorf("mode %04o: %v, want an error naming -keyfile and containing %q", tc.mode, err, tc.want)
		case err != nil && strings.Contains(err.Error(), sealed.FormatKey(key)[10:30]):
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

// TestKeyFileOwner: a key file of another user (not root) is refused.
func TestKeyFileOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	path := filepath.Join(t.TempDir(), "knock.key")
	key, _ := sealed.GenerateKey(strings.NewReader(strings.Repeat("k", 32)))
	os.WriteFile(path, []byte(sealed.FormatKey(key)+"\n"), 0o600)
	if err := os.Chown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	// Root reading another user's key file: refused, naming the owner.
	err := settings.CheckSecretFile(path)
	if err == nil || !strings.Contains(err.Error(), "belongs to user id 4242") {
		t.Fatalf("%v, want the owner named", err)
	}
}

// TestPassphraseFileModes: a configuration file holding the passphrase
// that others may read is warned about; one they may write is refused.
func TestPassphraseFileModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "knockdaemon.conf")
	if err := os.WriteFile(path, []byte("portspan 745-1000\nkey = "+aPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode      os.FileMode
		warn, err string
	}{
		{0o600, "", ""},
		{0o400, "", ""},
		{0o640, path + " holds the passphrase (key, " + path + ":2), and its mode 0640 lets group or others read it: chmod 600 " + path, ""},
		{0o644, "mode 0644 lets group or others read it", ""},
		{0o660, "", path + ":2: key: the file holds a passphrase, and its mode 0660 lets group or others write it: it needs 0600 or stricter (chmod 600 " + path + ")"},
		{0o602, "", "mode 0602 lets group or others write it"},
		{0o666, "", "mode 0666"},
	} {
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		s, err := settings.Load(settings.Daemon, []string{"-conf", path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		warns, err := s.CheckSecrets()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("mode %04o: error %v, want %q", tc.mode, err, tc.err)
		}
		got := strings.Join(warns, "\n")
		if tc.warn == "" && got != "" || !strings.Contains(got, tc.warn) {
			t.Errorf("mode %04o: warnings %q, want %q", tc.mode, got, tc.warn)
		}
		if strings.Contains(got, aPassphrase) || err != nil && strings.Contains(err.Error(), aPassphrase) {
			t.Errorf("mode %04o: the passphrase is quoted", tc.mode)
		}
	}
}

// TestWeakSealedPassphrase: a short sealed passphrase and the default
// kdfsalt are warned about, naming the fix and never the key.
func TestWeakSealedPassphrase(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-mode", "sealed", "-key", "hunter2", "-kdfsalt", "our own salt"}, []string{"command line", "shorter than 12 characters: whoever records one knock can guess it offline; write a random key with knockclient -keygen -keyfile FILE"}},
		{[]string{"-mode", "sealed", "-key", aPassphrase}, []string{"command line", "kdfsalt is the default (knock sealed v1), shared by every installation"}},
		{[]string{"-mode", "sealed", "-key", "hunter2"}, []string{"ps", "shorter than 12", "kdfsalt is the default"}},
		{[]string{"-mode", "sealed", "-key", aPassphrase, "-kdfsalt", "our own salt"}, []string{"command line"}},
		// A legacy passphrase is weak by design; a keyfile has no passphrase.
		{[]string{"-mode", "legacy", "-key", "hunter2"}, []string{"command line"}},
		{[]string{"-mode", "sealed", "-keyfile", "/nonexistent", "-key", "x"}, []string{"command line"}},
	} {
		s, err := settings.Load(settings.Daemon, tc.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		warns, err := s.CheckSecrets()
		if err != nil {
			t.Fatal(err)
		}
		if len(warns) != len(tc.want) {
			t.Errorf("%v: warnings %q, want %d", tc.args, warns, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(warns[i], w) {
				t.Errorf("%v: warning %q, want %q", tc.args, warns[i], w)
			}
			if strings.Contains(warns[i], "hunter2") || strings.Contains(warns[i], aPassphrase) {
				t.Errorf("%v: warning quotes the key: %q", tc.args, warns[i])
			}
		}
	}
}
