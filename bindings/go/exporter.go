package netchan

/*
#include <stdlib.h>
#include <netchan.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// Exporter publishes named Go channels on a ZeroMQ endpoint. Its methods may be called from
// any goroutine.
type Exporter struct {
	endpoint
	c    *C.netchan_exporter_t
	addr string
}

// NewExporter creates an exporter and binds it to endpoint ("tcp://127.0.0.1:5555",
// "tcp://127.0.0.1:*" for a port the system picks, "ipc:///tmp/name"). Addr returns the
// endpoint as bound. Close releases it.
func NewExporter(endpoint string, opts ...Option) (*Exporter, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}

	exp := &Exporter{endpoint: newEndpoint(cfg)}
	if err := C.netchan_exporter_new(&exp.c); err != C.NETCHAN_OK {
		return nil, &Error{Code: Code(err), Op: "new exporter"}
	}
	if cfg.heartbeatInterval > 0 || cfg.heartbeatTimeout > 0 {
		err := C.netchan_exporter_set_heartbeat(exp.c,
			C.uint32_t(cfg.heartbeatInterval.Milliseconds()),
			C.uint32_t(cfg.heartbeatTimeout.Milliseconds()))
		if err != C.NETCHAN_OK {
			detail := exporterDetail(exp.c)
			C.netchan_exporter_destroy(&exp.c)
			return nil, &Error{Code: Code(err), Op: "set heartbeat", Detail: detail}
		}
	}

	cEndpoint := cString(endpoint)
	defer C.free(unsafe.Pointer(cEndpoint))
	if err := C.netchan_exporter_bind(exp.c, cEndpoint); err != C.NETCHAN_OK {
		detail := exporterDetail(exp.c)
		C.netchan_exporter_destroy(&exp.c)
		return nil, &Error{Code: Code(err), Op: "bind " + endpoint, Detail: detail}
	}

	buffer := make([]byte, 1024)
	err := C.netchan_exporter_endpoint(exp.c, (*C.char)(unsafe.Pointer(&buffer[0])),
		C.size_t(len(buffer)))
	if err != C.NETCHAN_OK {
		detail := exporterDetail(exp.c)
		C.netchan_exporter_destroy(&exp.c)
		return nil, &Error{Code: Code(err), Op: "read bound endpoint", Detail: detail}
	}
	exp.addr = detailString(buffer)
	return exp, nil
}

// Addr returns the endpoint the exporter is bound to, with the port the system picked for
// "tcp://host:*".
func (exp *Exporter) Addr() string {
	return exp.addr
}

// Export publishes the Go channel chT under name. chT is a chan []byte or a channel of a
// generated protobuf message pointer type (chan *pb.Point). With dir Send the application
// sends on chT and importers receive; closing chT ends the stream after the values sent
// before. With dir Recv the values importers send arrive on chT, which is closed once every
// importer bound to the channel has ended its stream.
func (exp *Exporter) Export(name string, chT interface{}, dir Dir, opts ...ChanOption) error {
	goCh, err := checkGoChannel(chT, dir)
	if err != nil {
		return &Error{Code: ErrInvalid, Op: "export", Channel: name, Detail: err.Error()}
	}
	codec, err := newCodec(goCh.Type().Elem())
	if err != nil {
		return &Error{Code: ErrInvalid, Op: "export", Channel: name, Detail: err.Error()}
	}
	var cfg chanConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	options, err := cOptions(cfg, dir == Recv)
	if err != nil {
		return err
	}
	defer C.netchan_options_destroy(&options)

	cName := cString(name)
	defer C.free(unsafe.Pointer(cName))
	cType := cOptionalString(codec.typeName)
	defer C.free(unsafe.Pointer(cType))
	cFingerprint := cOptionalString(codec.fingerprint)
	defer C.free(unsafe.Pointer(cFingerprint))

	if err := exp.enter("export"); err != nil {
		return err
	}
	defer exp.leave()
	var c *C.netchan_chan_t
	if code := C.netchan_export_bytes(exp.c, cName, cDir(dir), cType, cFingerprint, options,
		&c); code != C.NETCHAN_OK {
		return &Error{Code: Code(code), Op: "export", Channel: name, Detail: exporterDetail(exp.c)}
	}
	ch := newChannel(name, dir, c, codec, goCh, 0, exp.errs, exp.ending)
	if !exp.register(ch) {
		return errClosed("export")
	}
	return nil
}

// Hangup stops the named channel. For a Send channel the exporter takes no more values from
// the Go channel, delivers those already taken and then ends the stream. A value taken while
// the channel was full gets 100 ms more to find room, and is otherwise reported on Errors() as
// not sent. For a Recv channel the Go channel is closed and values not yet received go back to
// their importers. The name stays taken until the exporter is closed.
func (exp *Exporter) Hangup(name string) error {
	return exp.hangup(name)
}

// Drain waits up to timeout (a negative timeout waits without limit) until every value sent on
// the exporter's Send channels, including those still buffered in their Go channels, has been
// received by an importer's application. It returns nil, or an *Error whose Pending field
// counts the values not yet acknowledged.
func (exp *Exporter) Drain(timeout time.Duration) error {
	return exp.drain(timeout)
}

// Close hangs up every channel and releases the exporter. Values not yet acknowledged are
// discarded; call Drain first to deliver them. Close waits until no goroutine of the binding
// uses the exporter any more. It is safe to call more than once.
func (exp *Exporter) Close() error {
	if !exp.shutdown() {
		return nil
	}
	C.netchan_exporter_destroy(&exp.c)
	exp.calls.Unlock()
	return nil
}
