package registry_test

import (
	"fmt"
	"math"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/registry"
)

// PriceSet is at schema version 2: version 1 stored the price in euros as
// "euros"; version 2 stores cents.
type PriceSet struct {
	Cents int64 `json:"cents"`
}

func Example() {
	reg := registry.New(nil)
	registry.MustRegister[PriceSet](reg, "PriceSet", registry.Version(2), registry.Aliases("PriceChanged"),
		registry.Upcast(1, registry.UpcastJSON(func(o map[string]any) error {
			euros, _ := o["euros"].(float64)
			o["cents"] = math.Round(euros * 100)
			delete(o, "euros")
			return nil
		})))

	// Writing: a Go value becomes event data, with its schema version.
	ed, _ := reg.Encode(PriceSet{Cents: 1999})
	fmt.Println(ed.Type, string(ed.Data), string(ed.Metadata))

	// Reading an event written years ago, under the old name and shape.
	old := chronicle.Event{Type: "PriceChanged", Data: []byte(`{"euros":12.5}`)}
	v, _ := reg.Decode(old)
	fmt.Printf("%#v\n", v)
	// Output:
	// PriceSet {"cents":1999} {"schema_version":2}
	// registry_test.PriceSet{Cents:1250}
}
