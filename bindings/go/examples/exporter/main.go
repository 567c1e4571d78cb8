// Command exporter exports a channel named "numbers" and sends 0, 1, 2, ... on it, one value a
// second, to whichever importer takes it. Run it, then examples/importer in another shell.
package main

import (
	"flag"
	"log"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	netchan "netchan.dev/netchan/bindings/go"
)

func main() {
	endpoint := flag.String("bind", "tcp://127.0.0.1:5555", "ZeroMQ endpoint to bind")
	flag.Parse()

	exp, err := netchan.NewExporter(*endpoint)
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Close()
	ch := make(chan *wrapperspb.Int64Value)
	if err := exp.Export("numbers", ch, netchan.Send); err != nil {
		log.Fatal(err)
	}
	go func() {
		for err := range exp.Errors() {
			log.Print(err)
		}
	}()
	log.Printf("exporting 'numbers' on %s", exp.Addr())

	for i := int64(0); ; i++ {
		ch <- wrapperspb.Int64(i)
		time.Sleep(time.Second)
	}
}
