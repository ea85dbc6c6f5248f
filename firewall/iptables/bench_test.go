package iptables

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkOpen measures one Open in a network namespace: a new grant each
// time (the chain grows by one rule per op) or the same grant refreshed.
// "wrapped" runs the binaries through "ip netns exec", as the tests do;
// "direct" runs them from a thread inside the namespace, as a daemon
// running there would.
func BenchmarkOpen(b *testing.B) {
	e := newEnv(b)
	for _, wrapped := range []bool{true, false} {
		for _, refresh := range []bool{false, true} {
			name := map[bool]string{true: "wrapped", false: "direct"}[wrapped] + "/" +
				map[bool]string{true: "refresh", false: "new"}[refresh]
			b.Run(name, func(b *testing.B) {
				bk := e.backend(b, time.Now)
				if !wrapped {
					bk.wrapper = nil
				}
				loop := func() error {
					ctx := context.Background()
					if err := bk.Uninstall(ctx); err != nil {
						return err
					}
					if err := bk.Setup(ctx); err != nil {
						return err
					}
					i := 0
					for b.Loop() {
						a := netip.AddrFrom4([4]byte{10, 78, byte(i >> 8), byte(i)})
						if refresh {
							a = e.ClientV4
						}
						if err := bk.Open(ctx, grant(a, time.Hour)); err != nil {
							return err
						}
						i++
					}
					return nil
				}
				var err error
				if wrapped {
					err = loop()
				} else {
					err = e.Host.Do(func() error {
						if err := sameNetns(e.Host.Path()); err != nil {
							return err
						}
						return loop()
					})
				}
				if err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// sameNetns checks that a child started now lands in the namespace at path,
// so that a direct benchmark can never touch the machine's own firewall.
func sameNetns(path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	out, err := exec.Command("readlink", "/proc/self/ns/net").Output()
	if err != nil {
		return err
	}
	if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("net:[%d]", st.Ino); got != want {
		return fmt.Errorf("child process in namespace %s, want %s", got, want)
	}
	return nil
}
