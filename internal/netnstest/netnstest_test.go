package netnstest_test

import (
	"net"
	"testing"
	"time"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
)

func TestPair(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	p := netnstest.NewPair(t)
	// A listener opened inside the host namespace, reached from the client.
	var ln net.Listener
	if err := p.Host.Do(func() (err error) {
		ln, err = net.Listen("tcp", "[::]:2222")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	var err error
	p.Client.Do(func() error {
		var c net.Conn
		c, err = net.DialTimeout("tcp", p.HostV4.String()+":2222", 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("client could not reach the host's listener: %v", err)
	}
}
