package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/conffile"
	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/firewall/command"
	"github.com/portknock/knock/fleet"
	"github.com/portknock/knock/fwknop"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source/logfile"
	"github.com/portknock/knock/tracker"
	"github.com/portknock/knock/users"
)

// Config is knockdaemon's configuration, typed: the file and the command
// line are read into it once, by Load, and checked there with file:line.
// Nothing below reads a setting by name; a reload compares two Configs.
type Config struct {
	Engine   engine.Config
	Trackers tracker.Config
	Firewall FirewallConfig
	Source   SourceConfig
	Replay   ReplayConfig
	Log      LogConfig
	Metrics  string        // address of the metrics endpoint; "" for none
	Control  string        // the control socket's path; "" for none
	Fleet    *fleet.Config // nil: this gate is alone
	// Users are the names of the <user> blocks and whether each is
	// disabled, for a reload to end the grants of those it removes.
	Users map[string]bool
	Test  bool // -test: check, describe, change nothing

	// Warnings are what start-up should tell the operator about a
	// configuration that loads but is weak.
	Warnings []string
	// Ignored are the client's settings in the file, ignored here.
	Ignored []string
}

// FirewallKind is the firewall backend.
type FirewallKind string

// Firewall backends.
const (
	FirewallNFT      FirewallKind = "nft"
	FirewallIPTables FirewallKind = "iptables"
	FirewallCommand  FirewallKind = "command"
)

// FirewallConfig is where grants go.
type FirewallConfig struct {
	Kind      FirewallKind
	Protected []knock.Port
	// nft
	NFTExisting bool   // add to the administrator's table instead of owning one
	NFTFamily   string // inet, ip, ip6
	NFTTable    string
	// command
	Open, Close    string
	CommandTimeout time.Duration
	Fields         []string // the knock fields the templates may name
}

// RunMode says where knocks are read.
type RunMode string

// Run modes.
const (
	RunFile    RunMode = "file"
	RunNetwork RunMode = "network"
)

// Capture is how packets are read in network mode.
type Capture string

// Captures.
const (
	CaptureAuto     Capture = "auto" // ebpf where the kernel allows it, else afpacket or nflog
	CaptureEBPF     Capture = "ebpf"
	CaptureNFLOG    Capture = "nflog"
	CaptureAFPacket Capture = "afpacket"
)

// SourceConfig is where knocks come from.
type SourceConfig struct {
	Mode      RunMode
	LogFile   string
	Patterns  []string
	FromStart bool
	Capture   Capture
	Interface string
	// MinKnock is the fewest packets a knock of the span protocols has
	// (the eBPF first stage hands a source over at that many).
	MinKnock int
	Timeout  time.Duration // the knock timeout
	NFLOGGrp uint16
	NFLOGBat int  // packets per NFLOG batch
	Drop     bool // nflog: drop the knock packets it logs (silent)
	// Spans and Extra are the ports the source must report: every span
	// protocol's span, and the datagram ports outside them.
	Spans []*portspan.Span
	Extra []uint16
	// AnyFlags are TCP ports watched for segments with any flags:
	// knockd's doors (daemon/knockd.go).
	AnyFlags []uint16
	DoorUDP  []uint16 // knockd's doors' UDP ports
}

// ReplayConfig is the replay cache.
type ReplayConfig struct {
	On   bool
	File string
	// Window is the largest time window of the protocols served: how far
	// ahead of the clock a knock may be stamped. A lost cache refuses
	// knocks stamped before start plus it.
	Window time.Duration
}

// LogConfig is the daemon's own log.
type LogConfig struct {
	Level  int    // -1 quiet, 0 info, 1 debug
	Format string // text or json
	To     string // stderr or syslog
}

// Load reads everything knockdaemon needs from set, checking each value
// against its setting. It opens nothing and changes nothing.
func Load(set *settings.Set) (*Config, error) {
	c := &Config{Ignored: set.Ignore, Test: set.Bool("test"), Metrics: set.String("metrics"), Control: ControlPath(set)}
	var err error
	if c.Engine, err = loadEngine(set); err != nil {
		return nil, err
	}
	if dir, ok := c.Engine.Policy.(*users.Directory); ok {
		c.Users = map[string]bool{}
		for _, u := range dir.Users() {
			c.Users[u.Name] = u.Disabled
		}
	}
	c.Trackers = tracker.Config{Probation: set.Int("maxsources"), Active: set.Int("maxactive"), Timeout: set.Duration("knocktimeout")}
	if c.Firewall, err = loadFirewall(set, c.Engine); err != nil {
		return nil, err
	}
	if c.Source, err = loadSource(set, c.Engine); err != nil {
		return nil, err
	}
	c.Replay = ReplayConfig{On: set.Bool("replay"), File: set.Path("replayfile"), Window: set.Duration("window")}
	if set.String("fwknopaccess") != "" {
		c.Replay.Window = max(c.Replay.Window, set.Duration("fwknopage"))
	}
	c.Engine.Replay = c.Replay.On
	if c.Fleet, err = loadFleet(set); err != nil {
		return nil, err
	}
	if c.Fleet != nil {
		c.Engine.Replay = true // claims go to the fleet whatever replay says
	}
	if c.Log, err = loadLog(set); err != nil {
		return nil, err
	}
	c.Warnings = append(warnings(set, c), knockdWarnings(c.Engine)...)
	secrets, err := set.CheckSecrets()
	if err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, secrets...)
	if c.Source.Mode == RunFile {
		c.Warnings = append(c.Warnings, logfile.Warnings(c.Source.Patterns)...)
	}
	return c, nil
}

func loadEngine(set *settings.Set) (engine.Config, error) {
	cfg := engine.Config{CheckClient: set.Bool("checkclient"), RefuseSource: !set.Bool("allowsource"), DryRun: set.Bool("test")}
	var err error
	if cfg.Protected, err = protected(set); err != nil {
		return cfg, err
	}
	us, err := loadUsers(set, cfg.Protected)
	if err != nil {
		return cfg, err
	}
	if len(us) > 0 {
		all := us
		if set.IsSet("key") || set.IsSet("keyfile") {
			// The top-level key stays: its user may open every protected
			// port, as before <user> blocks.
			all = append(append([]users.User{}, us...), users.User{Name: defaultUser, Pos: conffile.Pos{File: set.File}})
		}
		dir, err := users.NewDirectory(all)
		if err != nil {
			return cfg, err
		}
		cfg.Policy = dir
	}
	own := !strings.EqualFold(set.String("mode"), "none")
	if own {
		span, err := set.Span()
		if err != nil {
			return cfg, err
		}
		p, err := protocol(set, span, us)
		if err != nil {
			return cfg, err
		}
		cfg.Protocols = append(cfg.Protocols, p)
		if err := apart(set, cfg, span); err != nil {
			return cfg, err
		}
	}
	if set.String("fwknopaccess") != "" {
		p, err := fwknopProtocol(set, cfg.Protected)
		if err != nil {
			return cfg, err
		}
		cfg.Protocols = append(cfg.Protocols, p)
	}
	if k, err := knockdProtocol(set, cfg.Protected); err != nil {
		return cfg, err
	} else if k != nil {
		cfg.Protocols = append(cfg.Protocols, k)
	}
	if len(cfg.Protocols) == 0 {
		return cfg, set.Errorf("mode", "none serves no knock of the daemon's own, and neither fwknopaccess nor knockdconf is set: nothing could open a port")
	}
	cfg.Duration = set.Duration("duration")
	cfg.MaxDuration = set.Duration("maxduration")
	if cfg.Duration <= 0 {
		return cfg, set.Errorf("duration", "must be more than 0")
	}
	if cfg.Duration > cfg.MaxDuration {
		return cfg, set.Errorf("duration", "is longer than maxduration (%s)", cfg.MaxDuration)
	}
	return cfg, nil
}

// fwknopProtocol reads an fwknopd access.conf, every stanza a user.
func fwknopProtocol(set *settings.Set, prot []knock.Port) (engine.Protocol, error) {
	port := set.Int("fwknopport")
	if port < 1 || port > 65535 {
		return nil, set.Errorf("fwknopport", "expected a port from 1 to 65535")
	}
	if containsPort(prot, uint16(port)) {
		return nil, set.Errorf("fwknopport", "is a protected port: choose another port for fwknop's SPA packets")
	}
	age := set.Duration("fwknopage")
	if age < time.Second || age > time.Hour {
		return nil, set.Errorf("fwknopage", "expected 1s to 1h")
	}
	stanzas, err := fwknop.ReadAccess(set.Path("fwknopaccess"))
	if err != nil {
		return nil, set.Errorf("fwknopaccess", "%w", err)
	}
	m, err := fwknop.NewMatcher(stanzas, fwknop.Options{MaxAge: age})
	if err != nil {
		return nil, set.Errorf("fwknopaccess", "%w", err)
	}
	return &fwknop.Protocol{Matcher: m, Port: uint16(port)}, nil
}

// defaultUser names the top-level key's user when <user> blocks exist
// beside it: the knocks of clients that name no user (version 1, the
// prototype's) are hers.
const defaultUser = "default"

func protocol(set *settings.Set, span *portspan.Span, us []users.User) (engine.Protocol, error) {
	mode, err := set.Mode()
	if err != nil {
		return nil, err
	}
	window := set.Duration("window")
	if mode == settings.ModeSealed {
		spa, err := set.SPAPort()
		if err != nil {
			return nil, err
		}
		if window > sealed.MaxWindow {
			return nil, set.Errorf("window", "the sealed knock allows at most 8h")
		}
		if len(us) == 0 && set.String("server") == "" {
			key, err := set.SealedKey()
			if err != nil {
				return nil, err
			}
			return &sealed.Protocol{Key: key, Span: span, Window: window, SPA: spa}, nil
		}
		return keyring(set, span, window, spa, us)
	}
	cfg, err := set.LegacyConfig()
	if err != nil && !(len(us) > 0 && cfg.Key == "" && cfg.Cipher != "") {
		return nil, err
	}
	codec, err := legacyCodec(set, cfg, cfg.Key, us)
	if err != nil {
		return nil, err
	}
	loc, _ := set.Location()
	l := &legacy.Protocol{Codec: codec, Window: window, ReplayTTL: set.Duration("replayttl"), Location: loc}
	if len(us) > 0 {
		if cfg.Key != "" {
			l.Users = append(l.Users, legacy.UserCodec{User: defaultUser, Codec: codec})
		}
		for _, u := range us {
			if u.LegacyKey == "" {
				continue
			}
			c := cfg
			c.Key = u.LegacyKey
			uc, err := legacy.New(c)
			if err != nil {
				return nil, fmt.Errorf("%s: user %q: legacykey: %w", u.Pos, u.Name, err)
			}
			l.Users = append(l.Users, legacy.UserCodec{User: u.Name, Codec: uc})
		}
		if len(l.Users) == 0 {
			return nil, set.Errorf("mode", "legacy, but no user has a legacykey and no top-level key is set")
		}
	}
	if tf := set.String("timefield"); !strings.EqualFold(tf, "none") && legacy.HasField(codec.Format(), tf) {
		l.TimeField = tf
	} else if !strings.EqualFold(tf, "none") && set.IsSet("timefield") {
		// Named by the operator but not in the format: an error below.
		l.TimeField = tf
	}
	l.CloseField = set.String("closefield")
	if err := l.CheckFields(); err != nil {
		setting := "knock"
		if fe, ok := errors.AsType[*legacy.FieldError](err); ok {
			setting = fe.Setting
		}
		return nil, set.Errorf(setting, "%w", err)
	}
	return l, nil
}

// legacyCodec is the codec of the top-level key, or, without one, of the
// first user's legacy key: it gives the knock's shape (format, lengths).
func legacyCodec(set *settings.Set, cfg legacy.Config, key string, us []users.User) (*legacy.Codec, error) {
	for i := 0; key == "" && i < len(us); i++ {
		key = us[i].LegacyKey
	}
	cfg.Key = key
	codec, err := legacy.New(cfg)
	if err != nil {
		return nil, set.Errorf("knock", "%w", err)
	}
	return codec, nil
}

// keyring builds the sealed keyring of the users' keys, with the
// top-level key (if any) as the default user's, which version 1 knocks
// open.
func keyring(set *settings.Set, span *portspan.Span, window time.Duration, spa uint16, us []users.User) (engine.Protocol, error) {
	cfg := sealed.KeyringConfig{Server: set.String("server"), Window: window}
	if window > sealed.MaxWindowV2 {
		return nil, set.Errorf("window", "with <user> blocks (version 2 knocks) the window is at most %s", sealed.MaxWindowV2)
	}
	if set.IsSet("key") || set.IsSet("keyfile") {
		key, err := set.SealedKey()
		if err != nil {
			return nil, err
		}
		cfg.Users = append(cfg.Users, sealed.User{Name: defaultUser, Keys: []*sealed.Key{key}})
		cfg.V1User = defaultUser
	}
	for _, u := range us {
		if len(u.SealedKeys) > 0 {
			cfg.Users = append(cfg.Users, sealed.User{Name: u.Name, Keys: u.SealedKeys})
		}
	}
	if len(cfg.Users) == 0 {
		return nil, set.Errorf("mode", "sealed, but no user has a keyfile and no top-level key is set")
	}
	kr, err := sealed.NewKeyring(cfg, time.Now())
	if err != nil {
		return nil, set.Errorf("server", "%w", err)
	}
	return &sealed.Protocol{Keyring: kr, Span: span, Window: window, SPA: spa}, nil
}

// loadUsers types the file's <user NAME> blocks.
func loadUsers(set *settings.Set, prot []knock.Port) ([]users.User, error) {
	if len(set.Users) == 0 {
		return nil, nil
	}
	loc, _ := set.Location()
	o := users.Options{Protected: prot, Location: loc, Derive: func(pass string) (*sealed.Key, error) {
		kdf, err := set.KDF()
		if err != nil {
			return nil, err
		}
		return kdf.Derive(pass)
	}}
	return users.Parse(set.Users, o)
}

// protected reads "tcp/22, udp/1194" lists.
func protected(set *settings.Set) ([]knock.Port, error) {
	var out []knock.Port
	seen := map[knock.Port]bool{}
	for _, item := range set.List("protected", true) {
		p, err := knock.ParsePort(item)
		if err != nil {
			return nil, set.Errorf("protected", "%q is not a protected port: expected tcp/PORT or udp/PORT, PORT from 1 to 65535", item)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, set.Errorf("protected", "no protected ports: list the ports knocks may open, such as tcp/22")
	}
	return out, nil
}

// apart checks that knocks and protected services never share a port:
// knock packets are logged and dropped, and a protected port in the span
// would see its own connections taken for knocks.
func apart(set *settings.Set, cfg engine.Config, span *portspan.Span) error {
	for _, p := range cfg.Protected {
		if span.Contains(p.Port) {
			return set.Errorf("portspan", "includes the protected port %s: keep the knock span apart from the services it guards", p)
		}
		for _, pr := range cfg.Protocols {
			if d, ok := pr.(engine.DatagramProtocol); ok && d.DatagramPort() == p.Port {
				return set.Errorf("spaport", "is the protected port %s: choose another port for single-packet authorization", p)
			}
		}
	}
	return nil
}

func loadFirewall(set *settings.Set, ec engine.Config) (FirewallConfig, error) {
	fc := FirewallConfig{Protected: ec.Protected, Fields: fieldNames(ec)}
	switch kind := FirewallKind(strings.ToLower(set.String("firewall"))); kind {
	case FirewallNFT, "nftables":
		fc.Kind = FirewallNFT
	case FirewallIPTables:
		fc.Kind = kind
	case FirewallCommand:
		fc.Kind = kind
		fc.Open, fc.Close, fc.CommandTimeout = set.String("opencommand"), set.String("closecommand"), set.Duration("commandtimeout")
		if _, err := command.New(command.Config{Start: fc.Open, Stop: fc.Close, Fields: fc.Fields, Timeout: fc.CommandTimeout}); err != nil {
			name := "opencommand"
			if ce, ok := errors.AsType[*command.ConfigError](err); ok && ce.Template == "stop" {
				name = "closecommand"
			}
			return fc, set.Errorf(name, "%w", err)
		}
	default:
		return fc, set.Errorf("firewall", "expected nft, iptables or command")
	}
	switch m := strings.ToLower(set.String("nftmode")); m {
	case "own", "own-table":
	case "existing", "existing-table":
		fc.NFTExisting = true
	default:
		return fc, set.Errorf("nftmode", "expected own or existing")
	}
	fam, table, ok := strings.Cut(set.String("nfttable"), " ")
	if !ok {
		fam, table = "inet", fam
	}
	fc.NFTFamily, fc.NFTTable = fam, strings.TrimSpace(table)
	if fc.Kind == FirewallNFT && !fc.NFTExisting && set.IsSet("nfttable") && fc.NFTFamily != "inet" {
		return fc, set.Errorf("nfttable", "the daemon's own table is always inet")
	}
	return fc, nil
}

// fieldNames are the knock's fields a command template may name.
func fieldNames(ec engine.Config) []string {
	var out []string
	for _, p := range ec.Protocols {
		if l, ok := p.(*legacy.Protocol); ok {
			for _, f := range l.Codec.Format().Fields() {
				out = append(out, strings.ToLower(f.String()))
			}
			continue
		}
		out = append(out, "client", "port", "proto", "duration", "close", "time", "nonce")
	}
	return out
}

// watched lists the ports the sources must report for ec's protocols.
func watched(ec engine.Config) (spans []*portspan.Span, extra []uint16) {
	for _, p := range ec.Protocols {
		if sp, ok := p.(engine.SpanProtocol); ok {
			spans = append(spans, sp.KnockSpan())
		}
	}
	for _, p := range ec.Protocols {
		if d, ok := p.(engine.DatagramProtocol); ok && d.DatagramPort() != 0 {
			inSpan := false
			for _, s := range spans {
				inSpan = inSpan || s.Contains(d.DatagramPort())
			}
			if !inSpan {
				extra = append(extra, d.DatagramPort())
			}
		}
	}
	return spans, extra
}

func loadLog(set *settings.Set) (LogConfig, error) {
	lc := LogConfig{}
	switch {
	case set.Int("debug") > 0:
		lc.Level = 1
	case set.Bool("quiet"):
		lc.Level = -1
	}
	switch to := strings.ToLower(set.String("logto")); to {
	case "stderr", "", "syslog":
		lc.To = to
	default:
		return lc, set.Errorf("logto", "expected stderr or syslog")
	}
	switch f := strings.ToLower(set.String("logformat")); f {
	case "text", "", "json":
		lc.Format = f
	default:
		return lc, set.Errorf("logformat", "expected text or json")
	}
	return lc, nil
}

// warnings are what a loadable but weak configuration deserves.
func warnings(set *settings.Set, c *Config) []string {
	var out []string
	for _, p := range c.Engine.Protocols {
		l, ok := p.(*legacy.Protocol)
		if !ok {
			continue
		}
		f := l.Codec.Format()
		if !c.Engine.CheckClient || !strings.Contains(f.String(), "CLIENT") {
			out = append(out, "the legacy knock is not tied to the sender: under a flood, a random sequence that happens to decode may open a protected port to its source; set checkclient = yes with CLIENT in the knock, or use mode = sealed")
		}
		if c.Replay.On && !f.HasTime() && !strings.Contains(f.String(), "RAND") && !set.Bool("iv") {
			out = append(out, "every knock of this configuration is the same sequence, so replay protection refuses it again for replayttl ("+set.Duration("replayttl").String()+") after each use; set iv = yes (or add RAND or THIS* fields) on both ends, or use mode = sealed")
		}
		if !set.Bool("encrypt") && !legacy.HasField(f, "CHECKSUM") {
			out = append(out, "encrypt = no without CHECKSUM in the knock: any sequence of the right length decodes, so garbage reaches the later checks; add CHECKSUM to the knock on both ends")
		}
	}
	if port, ok := set.Other("port"); ok && port.Text != "" {
		p, err := knock.ParsePort(port.Text)
		if err == nil && !containsPort(c.Engine.Protected, p.Port) {
			out = append(out, "port = "+port.Text+" (the client's port, "+port.Origin+") is not among protected: a knock for it will be refused")
		}
	}
	return out
}

func containsPort(ps []knock.Port, n uint16) bool {
	for _, p := range ps {
		if p.Port == n {
			return true
		}
	}
	return false
}

// changed reports whether a and b differ, for reload's comparisons.
func changed(a, b any) bool { return !reflect.DeepEqual(a, b) }

func loadSource(set *settings.Set, ec engine.Config) (SourceConfig, error) {
	sc := SourceConfig{FromStart: set.Bool("fromstart"), Interface: set.String("interface"), LogFile: set.Path("logfile"), Timeout: set.Duration("knocktimeout")}
	for _, p := range ec.Protocols {
		if sp, ok := p.(engine.SpanProtocol); ok {
			if n := sp.Lengths()[0]; sc.MinKnock == 0 || n < sc.MinKnock {
				sc.MinKnock = n
			}
		}
	}
	sc.Spans, sc.Extra = watched(ec)
	if err := knockdSource(set, ec, &sc); err != nil {
		return sc, err
	}
	switch mode := RunMode(strings.ToLower(set.String("runmode"))); mode {
	case RunFile:
		sc.Mode = mode
		sc.Patterns = set.List("pattern", false)
		if _, err := logfile.NewParser(sc.Patterns); len(sc.Patterns) > 0 && err != nil {
			return sc, set.Errorf("pattern", "%w", err)
		}
		if ff := set.String("fileformat"); ff != "" {
			p, err := logline.PatternFor(ff)
			if err != nil {
				return sc, set.Errorf("fileformat", "%w", err)
			}
			if len(sc.Patterns) == 0 {
				sc.Patterns = append(sc.Patterns, logfile.DefaultPatterns...)
			}
			sc.Patterns = append(sc.Patterns, p)
		}
		if sc.LogFile == "" {
			return sc, set.Missing("logfile", "runmode = file follows a firewall log: name it")
		}
		for _, p := range ec.Protocols {
			_, span := p.(engine.SpanProtocol)
			_, stateful := p.(engine.StatefulProtocol)
			if !span && !stateful {
				return sc, set.Errorf("runmode", "file: a log line carries no payload, so %s packets cannot be read from it: use runmode = network", p.Name())
			}
		}
	case RunNetwork:
		sc.Mode = mode
	default:
		return sc, set.Errorf("runmode", "expected file or network")
	}
	switch c := Capture(strings.ToLower(set.String("capture"))); c {
	case CaptureNFLOG:
		sc.Capture = c
		g := set.Int("nfloggroup")
		if g < 1 || g > 65535 {
			return sc, set.Errorf("nfloggroup", "expected a group from 1 to 65535")
		}
		sc.NFLOGGrp = uint16(g)
		sc.NFLOGBat = set.Int("nflogbatch")
		sc.Drop = set.Bool("silent") && !set.Bool("test")
	case CaptureAuto, CaptureEBPF:
		sc.Capture = c
		sc.NFLOGGrp, sc.Drop = nflogFallback(set)
		sc.NFLOGBat = set.Int("nflogbatch")
	case CaptureAFPacket:
		sc.Capture = c
		if sc.Mode == RunNetwork && sc.Interface == "" {
			return sc, set.Missing("interface", "capture = afpacket listens on one interface: name it")
		}
	default:
		return sc, set.Errorf("capture", "expected auto, ebpf, afpacket or nflog")
	}
	return sc, nil
}

// describe is one line about the knocks the daemon expects, for the log.
func describe(ec engine.Config) string {
	ports := make([]string, len(ec.Protected))
	for i, p := range ec.Protected {
		ports[i] = p.String()
	}
	var kinds []string
	for _, p := range ec.Protocols {
		k := string(p.Name())
		if sp, ok := p.(engine.SpanProtocol); ok {
			s := sp.KnockSpan()
			k += fmt.Sprintf(" knocks of %v ports on %s (%d ports)", sp.Lengths(), s, s.Size())
		}
		if dp, ok := p.(engine.DatagramProtocol); ok && dp.DatagramPort() != 0 {
			k += fmt.Sprintf(", datagrams on udp/%d", dp.DatagramPort())
		}
		if sp, ok := p.(engine.StatefulProtocol); ok {
			k += fmt.Sprintf(" sequences on %d ports", len(sp.Ports()))
		}
		kinds = append(kinds, k)
	}
	return strings.Join(kinds, "; ") + " may open " + strings.Join(ports, ", ")
}

// nflogFallback is the NFLOG group and drop setting that capture = auto
// falls back to when neither eBPF nor a named interface can be used.
func nflogFallback(set *settings.Set) (uint16, bool) {
	g := set.Int("nfloggroup")
	if g < 1 || g > 65535 {
		g = 7
	}
	return uint16(g), set.Bool("silent") && !set.Bool("test")
}

// ControlPath is where the control socket of the daemon set describes
// lives: controlsocket, or beside the replay cache, so that two daemons
// with their own state never share one.
func ControlPath(set *settings.Set) string {
	if p := set.Path("controlsocket"); p != "" {
		return p
	}
	if set.Bool("replay") && set.Path("replayfile") != "" {
		return filepath.Join(filepath.Dir(set.Path("replayfile")), "control.sock")
	}
	return "/run/knockdaemon/control.sock"
}

// loadFleet reads the fleet settings; nil when fleet is unset.
func loadFleet(set *settings.Set) (*fleet.Config, error) {
	url := set.String("fleet")
	if url == "" {
		return nil, nil
	}
	if _, err := fleet.ParseURL(url); err != nil {
		return nil, set.Errorf("fleet", "%w", err)
	}
	fc := &fleet.Config{URL: url, Fleet: set.String("fleetname"), Gate: set.String("fleetgate"), Group: set.String("fleetgroup"), Replicas: set.Int("fleetreplicas")}
	if fc.Gate == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, set.Errorf("fleetgate", "no gate name and no host name: %w", err)
		}
		fc.Gate = h
	}
	mode, err := fleet.ParseMode(set.String("fleetfailure"))
	if err != nil {
		return nil, set.Errorf("fleetfailure", "%w", err)
	}
	fc.OnFailure = mode
	if set.Path("fleetkey") == "" {
		return nil, set.Missing("fleetkey", "a fleet's gates sign their grants with a shared key: write one (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \\n' > FILE) and give every gate the same")
	}
	if fc.Key, err = fleet.ReadKey(set.Path("fleetkey")); err != nil {
		return nil, set.Errorf("fleetkey", "%w", err)
	}
	if p := set.Path("fleetcredentials"); p != "" {
		if fc.Credentials, err = fleet.ReadCredentials(p); err != nil {
			return nil, set.Errorf("fleetcredentials", "%w", err)
		}
	}
	return fc, nil
}
