package cbc_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/internal/testenv"
)

// perlCiphers are the ciphers Debian packages a Perl module for; IDEA has
// none, and is checked against its published vectors in package idea.
var perlCiphers = []string{"Blowfish", "DES", "Twofish", "Rijndael"}

// requirePerl skips the test when Perl's Crypt::CBC is missing (in CI,
// where .ci/run installs it, it fails instead).
func requirePerl(t *testing.T) {
	t.Helper()
	testenv.NeedPerl(t, "apt-get install libcrypt-cbc-perl libcrypt-blowfish-perl libcrypt-des-perl libcrypt-twofish-perl libcrypt-rijndael-perl",
		"Crypt::CBC", "Crypt::Blowfish", "Crypt::DES", "Crypt::Twofish", "Crypt::Rijndael")
}

// runPerl sends every request to one Perl process and returns its answers.
func runPerl(t *testing.T, reqs []string) []string {
	t.Helper()
	cmd := exec.Command("perl", "testdata/crypt_cbc.pl")
	cmd.Stdin = strings.NewReader(strings.Join(reqs, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("perl: %v\n%s", err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != len(reqs) {
		t.Fatalf("perl answered %d of %d requests\n%s", len(lines), len(reqs), stderr.String())
	}
	return lines
}

type diffCase struct {
	cipher      string
	pass        []byte
	iv          []byte
	plain       []byte
	goEncrypted []byte
}

// TestPerlDifferential encrypts random payloads under random passphrases
// and IVs with Go and with Perl's Crypt::CBC, and requires the same bytes;
// then each side decrypts what the other made.
func TestPerlDifferential(t *testing.T) {
	requirePerl(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []diffCase
	for i := 0; i < 400; i++ {
		name := perlCiphers[i%len(perlCiphers)]
		c0, _ := cbc.New(name, "x")
		tc := diffCase{
			cipher: name,
			pass:   randBytes(rng, 1+rng.IntN(40)),
			iv:     randBytes(rng, c0.BlockSize()),
			plain:  randBytes(rng, rng.IntN(40)),
		}
		c, err := cbc.New(name, string(tc.pass))
		if err != nil {
			t.Fatal(err)
		}
		tc.goEncrypted = c.EncryptBlocks(tc.plain, tc.iv)
		cases = append(cases, tc)
	}
	var reqs []string
	for _, tc := range cases {
		reqs = append(reqs, fmt.Sprintf("enc %s %x %x %x", tc.cipher, tc.pass, tc.iv, tc.plain))
	}
	for _, tc := range cases {
		reqs = append(reqs, fmt.Sprintf("dec %s %x %x %x", tc.cipher, tc.pass, tc.iv, tc.goEncrypted))
	}
	answers := runPerl(t, reqs)
	for i, tc := range cases {
		perlEnc, err := hex.DecodeString(answers[i])
		if err != nil {
			t.Fatalf("case %d: perl said %q", i, answers[i])
		}
		if !bytes.Equal(perlEnc, tc.goEncrypted) {
			t.Errorf("%s pass %x iv %x plain %x:\n  go   %x\n  perl %x", tc.cipher, tc.pass, tc.iv, tc.plain, tc.goEncrypted, perlEnc)
			continue
		}
		if got := answers[len(cases)+i]; got != hex.EncodeToString(tc.plain) {
			t.Errorf("%s: perl decrypted Go's ciphertext to %q, want %x", tc.cipher, got, tc.plain)
		}
		c, _ := cbc.New(tc.cipher, string(tc.pass))
		back, err := c.DecryptBlocks(perlEnc, tc.iv)
		if err != nil || !bytes.Equal(back, tc.plain) {
			t.Errorf("%s: Go decrypted Perl's ciphertext to %x (%v), want %x", tc.cipher, back, err, tc.plain)
		}
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
