package netchan

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fingerprint returns the type fingerprint of a protobuf message type as 16 lowercase hex
// digits, the same value that the C library's netchan_type_fingerprint() computes for the same
// .proto: a 64-bit FNV-1a hash of the message's full name followed, for each field in
// increasing field number, by ";NUMBER NAME LABEL TYPE REFERENCE". LABEL is optional, required
// or repeated, and proto3 fields without a label count as optional. TYPE is the field type's
// name as in descriptor.proto without its prefix. REFERENCE is the full name of the field's
// message or enum type, or empty.
func Fingerprint(md protoreflect.MessageDescriptor) string {
	hash := fnv.New64a()
	hash.Write([]byte(md.FullName()))

	fields := md.Fields()
	ordered := make([]protoreflect.FieldDescriptor, fields.Len())
	for i := range ordered {
		ordered[i] = fields.Get(i)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Number() < ordered[j].Number() })

	for _, field := range ordered {
		reference := ""
		switch field.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			reference = string(field.Message().FullName())
		case protoreflect.EnumKind:
			reference = string(field.Enum().FullName())
		}
		// Kind and Cardinality print the names of descriptor.proto's TYPE_ and LABEL_
		// values in lower case ("sfixed64", "repeated").
		fmt.Fprintf(hash, ";%d %s %s %s %s", field.Number(), field.Name(),
			field.Cardinality().String(), field.Kind().String(), reference)
	}
	return fmt.Sprintf("%016x", hash.Sum64())
}

var bytesType = reflect.TypeOf([]byte(nil))

var protoMessageType = reflect.TypeOf((*proto.Message)(nil)).Elem()

// codec packs and unpacks the values of one Go channel type: []byte, or a pointer to a
// generated protobuf message struct.
type codec struct {
	elem        reflect.Type // the Go channel's element type
	typeName    string       // the message's full name; "" for bytes
	fingerprint string       // "" for bytes
}

// newCodec checks that the channel's elements are []byte or protobuf messages.
func newCodec(elem reflect.Type) (*codec, error) {
	if elem == bytesType {
		return &codec{elem: elem}, nil
	}
	if elem.Kind() == reflect.Ptr && elem.Implements(protoMessageType) {
		message := reflect.New(elem.Elem()).Interface().(proto.Message)
		descriptor := message.ProtoReflect().Descriptor()
		return &codec{
			elem:        elem,
			typeName:    string(descriptor.FullName()),
			fingerprint: Fingerprint(descriptor),
		}, nil
	}
	return nil, fmt.Errorf("channel element type %v is neither []byte nor a pointer to a "+
		"protobuf message type", elem)
}

func (c *codec) isBytes() bool {
	return c.typeName == ""
}

// encode packs one value taken from a Go channel.
func (c *codec) encode(value reflect.Value) ([]byte, error) {
	if c.isBytes() {
		return value.Bytes(), nil
	}
	// A nil message pointer packs as an empty message, like proto.Marshal.
	return proto.Marshal(value.Interface().(proto.Message))
}

// decode unpacks one value into a new element of the Go channel's type.
func (c *codec) decode(data []byte) (reflect.Value, error) {
	if c.isBytes() {
		return reflect.ValueOf(data), nil
	}
	value := reflect.New(c.elem.Elem())
	if err := proto.Unmarshal(data, value.Interface().(proto.Message)); err != nil {
		return reflect.Value{}, err
	}
	return value, nil
}

// describe names the type for messages: the message's full name, or "bytes".
func (c *codec) describe() string {
	if c.isBytes() {
		return "bytes"
	}
	return c.typeName
}
