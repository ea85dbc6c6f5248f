package daemon

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// engineConfig builds what the decision engine decides with.
func engineConfig(set *settings.Set) (engine.Config, *portspan.Span, error) {
	var cfg engine.Config
	span, err := set.Span()
	if err != nil {
		return cfg, nil, err
	}
	if cfg.Decoder, err = decoder(set, span); err != nil {
		return cfg, nil, err
	}
	if cfg.Protected, err = protected(set); err != nil {
		return cfg, nil, err
	}
	if err := apart(set, cfg, span); err != nil {
		return cfg, nil, err
	}
	cfg.Duration = set.Duration("duration")
	cfg.MaxDuration = set.Duration("maxduration")
	if cfg.Duration <= 0 {
		return cfg, nil, set.Errorf("duration", "must be more than 0")
	}
	if cfg.Duration > cfg.MaxDuration {
		return cfg, nil, set.Errorf("duration", "is longer than maxduration (%s)", cfg.MaxDuration)
	}
	cfg.CheckClient = set.Bool("checkclient")
	cfg.Replay = set.Bool("replay")
	cfg.DryRun = set.Bool("test")
	return cfg, span, nil
}

func decoder(set *settings.Set, span *portspan.Span) (engine.Decoder, error) {
	mode, err := set.Mode()
	if err != nil {
		return nil, err
	}
	window := set.Duration("window")
	if mode == settings.ModeSealed {
		key, err := set.SealedKey()
		if err != nil {
			return nil, err
		}
		spa, err := set.SPAPort()
		if err != nil {
			return nil, err
		}
		if window > sealed.MaxWindow {
			return nil, set.Errorf("window", "the sealed knock allows at most 8h")
		}
		return &engine.Sealed{Key: key, Span: span, Window: window, SPA: spa}, nil
	}
	codec, err := set.LegacyCodec()
	if err != nil {
		return nil, err
	}
	loc, _ := set.Location()
	l := &engine.Legacy{Codec: codec, Window: window, ReplayTTL: set.Duration("replayttl"), Location: loc}
	if tf := set.String("timefield"); !strings.EqualFold(tf, "none") {
		l.TimeField = tf
	}
	l.CloseField = set.String("closefield")
	if err := l.CheckFields(); err != nil {
		setting := "knock"
		if fe, ok := errors.AsType[*engine.FieldError](err); ok {
			setting = fe.Setting
		}
		return nil, set.Errorf(setting, "%v", err)
	}
	return l, nil
}

// protected reads "tcp/22, udp/1194" lists.
func protected(set *settings.Set) ([]engine.Port, error) {
	var out []engine.Port
	seen := map[engine.Port]bool{}
	for _, item := range set.List("protected", true) {
		proto, num, ok := strings.Cut(strings.ToLower(item), "/")
		if !ok {
			proto, num = "tcp", item
		}
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
			return nil, set.Errorf("protected", "%q is not a protected port: expected tcp/PORT or udp/PORT, PORT from 1 to 65535", item)
		}
		p := engine.Port{Proto: proto, Port: uint16(n)}
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
		if s, ok := cfg.Decoder.(engine.SPADecoder); ok && s.SPAPort() == p.Port {
			return set.Errorf("spaport", "is the protected port %s: choose another port for single-packet authorization", p)
		}
	}
	return nil
}

// describe is one line about the knock the daemon expects, for the log.
func describe(cfg engine.Config, span *portspan.Span) string {
	ports := make([]string, len(cfg.Protected))
	for i, p := range cfg.Protected {
		ports[i] = p.String()
	}
	kind := "legacy"
	if _, ok := cfg.Decoder.(*engine.Sealed); ok {
		kind = "sealed"
	}
	return fmt.Sprintf("%s knocks of %v ports on %s (%d ports) may open %s", kind, cfg.Decoder.Lengths(), span, span.Size(), strings.Join(ports, ", "))
}
