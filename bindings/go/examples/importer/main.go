// Command importer imports the channel "numbers" from examples/exporter and prints each value.
// Stop it and start it again: it goes on where it stopped. A number printed right before the
// stop can appear again, because its acknowledgement may not have reached the exporter.
package main

import (
	"flag"
	"fmt"
	"log"

	"google.golang.org/protobuf/types/known/wrapperspb"

	netchan "netchan.dev/netchan/bindings/go"
)

func main() {
	endpoint := flag.String("connect", "tcp://127.0.0.1:5555", "ZeroMQ endpoint of the exporter")
	flag.Parse()

	imp, err := netchan.NewImporter(*endpoint)
	if err != nil {
		log.Fatal(err)
	}
	defer imp.Close()
	ch := make(chan *wrapperspb.Int64Value)
	if err := imp.Import("numbers", ch, netchan.Recv, 1); err != nil {
		log.Fatal(err)
	}
	for v := range ch {
		fmt.Println(v.Value)
	}
}
