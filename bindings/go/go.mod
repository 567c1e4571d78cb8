module netchan.dev/netchan/bindings/go

go 1.19

require google.golang.org/protobuf v1.34.1
