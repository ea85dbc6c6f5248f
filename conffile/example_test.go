package conffile_test

import (
	"fmt"

	"github.com/portknock/knock/conffile"
)

func ExampleParse() {
	src := []byte(`# knockclient.conf
remote = 192.0.2.1
Port   = 22 # ssh
allow  10.0.0.1
allow  10.0.0.2
<profile ssh>
    key = "my secret phrase"
</profile>
`)
	b, err := conffile.Parse("knockclient.conf", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range b.Values("port") {
		fmt.Printf("%s: port %s\n", it.Pos, it.Value)
	}
	for _, it := range b.Values("allow") {
		fmt.Println("allow", it.Value)
	}
	for _, p := range b.Blocks("profile") {
		fmt.Printf("profile %s: key %q\n", p.Label, p.Values("key")[0].Value)
	}
	fmt.Println(b.Map()["allow"])

	_, err = conffile.Parse("knock.conf", []byte("<profile ssh>\nport = 22\n"))
	fmt.Println(err)
	// Output:
	// knockclient.conf:3: port 22
	// allow 10.0.0.1
	// allow 10.0.0.2
	// profile ssh: key "my secret phrase"
	// [10.0.0.1 10.0.0.2]
	// knock.conf:1: block "profile" opened here is never closed
}
