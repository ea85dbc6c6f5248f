//go:build unix

package sender

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPrivilegeHint: a refusal for want of privilege says what works
// without it, and stays the same error underneath.
func TestPrivilegeHint(t *testing.T) {
	err := privilegeHint(fmt.Errorf("socket: %w", unix.EPERM))
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "protocol = udp, or -spa in mode = sealed, knock without privilege") {
		t.Fatalf("%v", err)
	}
	other := fmt.Errorf("connect: %w", unix.ENETUNREACH)
	if got := privilegeHint(other); got != other {
		t.Fatalf("%v", got)
	}
}
