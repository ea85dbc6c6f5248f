package lab

import "strconv"

// service is a well-known port the form offers in its list.
type service struct {
	Name string
	Port int
}

// Value is the option's value in the form: the port number.
func (s service) Value() string { return strconv.Itoa(s.Port) }

// services are the ports people knock for most. The ones above 255 show
// the PORT16 field at work.
var services = []service{
	{"ftp", 21}, {"ssh", 22}, {"telnet", 23}, {"smtp", 25}, {"domain", 53},
	{"http", 80}, {"pop3", 110}, {"imap", 143}, {"https", 443},
	{"submissions", 465}, {"submission", 587}, {"imaps", 993}, {"pop3s", 995},
	{"openvpn", 1194}, {"mysql", 3306}, {"rdp", 3389}, {"postgresql", 5432},
	{"vnc", 5900}, {"http-alt", 8080}, {"https-alt", 8443},
}

// serviceName returns the name of a well-known port, or "".
func serviceName(port int) string {
	for _, s := range services {
		if s.Port == port {
			return s.Name
		}
	}
	return ""
}

// sample is what "fill with sample values" puts in the form: the worked
// example of the prototype's manual (vector V1 of docs/compat.md), so the
// knock on screen is one that Perl's knockclient makes too:
// 966 914 795 964 831 862 807 932. The original lab page's own sample
// (689 545 679 ...) comes out of no key derivation Crypt::CBC has, so it is
// not offered.
var sample = Form{
	Mode:     "legacy",
	IP:       "142.103.205.1",
	Service:  "22",
	Time:     "15",
	MinPort:  "745",
	Cipher:   "Blowfish",
	Password: "knock",
}

// SampleSequence is the knock the sample values encrypt to.
const SampleSequence = "966 914 795 964 831 862 807 932"

// sealedSample is the sealed knock's sample: the request of the sealed
// test vectors (sealed/testdata/vectors/ok-ipv4.txt), under their key, on
// the README's span, sealed at the lab's clock. The key is public: it is
// for learning, never for a host.
var sealedSample = Form{
	Mode:     "sealed",
	IP:       "203.0.113.7",
	Service:  "22",
	Proto:    "tcp",
	Duration: "5",
	Unit:     "minutes",
	Key:      "knock1-fnE9tQgTN9CvceJBUglAPcf9GEFOBe54-K_H0dcs2gIhS0cs",
	Span:     "40000-40255",
	Nonce:    "4660",
}

// samples are the samples by mode.
var samples = map[string]Form{"legacy": sample, "sealed": sealedSample}
