package netchan_test

import (
	"fmt"
	"hash/fnv"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	netchan "netchan.dev/netchan/bindings/go"
	"netchan.dev/netchan/bindings/go/internal/ctypes"
	"netchan.dev/netchan/bindings/go/internal/testpb"
)

// The C library computes the fingerprints from protobuf-c descriptors generated from the same
// .proto files as the Go types.
func TestFingerprintMatchesC(t *testing.T) {
	want := ctypes.Fingerprints()
	if len(want) != 5 {
		t.Fatalf("got %d C fingerprints, want 5: %v", len(want), want)
	}
	for name, cFingerprint := range want {
		messageType, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("%s: no Go type: %v", name, err)
			continue
		}
		if got := netchan.Fingerprint(messageType.Descriptor()); got != cFingerprint {
			t.Errorf("%s: Go fingerprint %s, C fingerprint %s", name, got, cFingerprint)
		}
	}
}

// Spells out the hashed text for Point, so that a change to the algorithm on both sides at once
// still fails.
func TestFingerprintOfPoint(t *testing.T) {
	hash := fnv.New64a()
	hash.Write([]byte("netchan.test.Point" +
		";1 x optional int32 " +
		";2 y optional int32 " +
		";3 label optional string "))
	want := fmt.Sprintf("%016x", hash.Sum64())

	got := netchan.Fingerprint((&testpb.Point{}).ProtoReflect().Descriptor())
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestFingerprintsDiffer(t *testing.T) {
	point := netchan.Fingerprint((&testpb.Point{}).ProtoReflect().Descriptor())
	other := netchan.Fingerprint((&testpb.Other{}).ProtoReflect().Descriptor())
	if point == other {
		t.Fatalf("Point and Other share the fingerprint %s", point)
	}
}
