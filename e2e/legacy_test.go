package e2e

import (
	"strings"
	"testing"
	"time"
)

const grant = 3 * time.Second // how long the tests' knocks open a port

// legacyConf is one file for both ends, as the prototype's users kept it.
func legacyConf(extra string) string {
	return `
mode       = legacy
knock      = CLIENT,PORT,FLAG0,CHECKSUM
key        = correct horse battery staple
cipher     = Blowfish
portspan   = 40000-40255
remote     = 10.77.0.1
client     = 10.77.0.2
port       = 22
flag0      = 0
timeout    = 0.02
protected  = tcp/22
timefield  = none
duration   = 3s
` + extra
}

// The prototype's knock on a host whose own ruleset drops everything:
// NFLOG sees the knock before the host's ruleset drops it, and the grant
// goes into the host's own table (existing-table mode).
func TestLegacyNFLOGOnDefaultDropHost(t *testing.T) {
	l := newLab(t)
	l.dropByDefault()
	conf := l.conf("knock.conf", legacyConf(`
runmode    = network
capture    = nflog
firewall   = nft
nftmode    = existing
nfttable   = inet filter
replayfile = `+l.dir+`/state/replay
`))
	host := l.pair.HostV4
	if l.canConnect(host, 22) {
		t.Fatal("port 22 is open before any knock")
	}
	d := l.daemon(conf, l.nflogReady)
	if l.canConnect(host, 22) {
		t.Fatal("port 22 is open before the knock, with the daemon running")
	}
	sent := time.Now()
	l.knock(conf)
	opened := l.waitConnect(host, 22, true, 3*time.Second)
	t.Logf("opened %v after the knock command returned (%v after it started)", opened, time.Since(sent)-opened)
	closed := l.waitConnect(host, 22, false, grant+5*time.Second)
	t.Logf("closed again %v later", closed+opened)

	// The same knock again is a replay: the legacy fixed-IV knock is the
	// same sequence every time.
	l.knock(conf)
	l.refused(d, "replay", "a replayed knock")
}

// A knock under the wrong key opens nothing.
func TestLegacyWrongKeyStaysClosed(t *testing.T) {
	l := newLab(t)
	conf := l.conf("knock.conf", legacyConf(`
runmode    = network
capture    = nflog
replayfile = `+l.dir+`/state/replay
`))
	wrong := l.conf("wrong.conf", strings.Replace(legacyConf(""), "correct horse", "incorrect horse", 1))
	d := l.daemon(conf, l.nflogReady)
	l.knock(wrong)
	l.refused(d, "decrypt", "a knock under the wrong key")
}

// The packet socket, for hosts where the daemon may not touch the ruleset
// to capture: it only manages its own table of grants.
func TestLegacyPacketSocket(t *testing.T) {
	l := newLab(t)
	conf := l.conf("knock.conf", legacyConf(`
runmode    = network
capture    = afpacket
interface  = eth0
replayfile = `+l.dir+`/state/replay
iv         = yes
`))
	l.daemon(conf, nil)
	if l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("port 22 is open before the knock: the daemon's own table does not guard it")
	}
	l.knock(conf)
	t.Logf("opened %v after the knock", l.waitConnect(l.pair.HostV4, 22, true, 3*time.Second))
	l.waitConnect(l.pair.HostV4, 22, false, grant+5*time.Second)
	// With iv = yes every knock differs: a second one opens again.
	l.knock(conf)
	l.waitConnect(l.pair.HostV4, 22, true, 3*time.Second)
}

// The log-file mode: the client writes its knock into the log the daemon
// follows (the prototype's way of testing without a firewall log), and
// the grant is real.
func TestLogFileMode(t *testing.T) {
	l := newLab(t)
	log := l.dir + "/kern.log"
	conf := l.conf("knock.conf", legacyConf(`
runmode    = file
logfile    = `+log+`
logtofile  = yes
replayfile = `+l.dir+`/state/replay
`))
	l.daemon(conf, nil)
	time.Sleep(300 * time.Millisecond) // the follower reaches the log's end
	if l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("port 22 is open before the knock")
	}
	// The client runs on the daemon's host and writes the log there.
	out, err := l.pair.Host.Command(bin+"/knockclient", "-conf", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("knockclient: %v\n%s", err, out)
	}
	t.Logf("opened %v after the log lines", l.waitConnect(l.pair.HostV4, 22, true, 3*time.Second))
	l.waitConnect(l.pair.HostV4, 22, false, grant+5*time.Second)
}
