package client

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/portknock/knock/sealed"
)

// Keygen draws a new key and returns its key-file text. With path set it
// writes the file too, mode 0600, and never over an existing file; its
// errors leave the path to the caller.
func Keygen(path string, rand io.Reader, now time.Time) (string, error) {
	k, err := sealed.GenerateKey(rand)
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("# knock sealed key, made by knockclient -keygen on %s\n# the same file goes to the daemon (keyfile); keep it secret\n%s\n",
		now.UTC().Format(time.RFC3339), sealed.FormatKey(k))
	if path == "" {
		return text, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", errors.New("the file exists, and a key file is never overwritten (remove it first to replace the key)")
	}
	if err != nil {
		return "", unwrapPath(err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return text, f.Close()
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message around it already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
