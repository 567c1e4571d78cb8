// Package testpb holds the protobuf types that the Go binding's tests send. The Go code here
// and the protobuf-c code in ../ctypes are generated and committed, so running the tests needs
// no code generator. Run go generate after changing a .proto file, with protoc 3.21,
// protoc-gen-go v1.34.1 and protoc-c 1.4.
package testpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative test.proto legacy.proto
//go:generate protoc-c --c_out=../ctypes test.proto legacy.proto
