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

// Importer connects to an exporter and binds Go channels to its exported channels by name. Its
// session with the exporter lasts until Close, across reconnects. Its methods may be called from
// any goroutine.
type Importer struct {
	endpoint
	c             *C.netchan_importer_t
	importTimeout time.Duration
}

// NewImporter creates an importer that connects to the exporter at endpoint. Connecting does
// not fail when no exporter listens yet, because libzmq retries the connection, and Import waits
// for the exporter. Close releases the importer.
func NewImporter(endpoint string, opts ...Option) (*Importer, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}

	imp := &Importer{endpoint: newEndpoint(cfg), importTimeout: cfg.importTimeout}
	if err := C.netchan_importer_new(&imp.c); err != C.NETCHAN_OK {
		return nil, &Error{Code: Code(err), Op: "new importer"}
	}
	if cfg.heartbeatInterval > 0 || cfg.heartbeatTimeout > 0 {
		err := C.netchan_importer_set_heartbeat(imp.c,
			C.uint32_t(cfg.heartbeatInterval.Milliseconds()),
			C.uint32_t(cfg.heartbeatTimeout.Milliseconds()))
		if err != C.NETCHAN_OK {
			detail := importerDetail(imp.c)
			C.netchan_importer_destroy(&imp.c)
			return nil, &Error{Code: Code(err), Op: "set heartbeat", Detail: detail}
		}
	}

	cEndpoint := cString(endpoint)
	defer C.free(unsafe.Pointer(cEndpoint))
	if err := C.netchan_importer_connect(imp.c, cEndpoint); err != C.NETCHAN_OK {
		detail := importerDetail(imp.c)
		C.netchan_importer_destroy(&imp.c)
		return nil, &Error{Code: Code(err), Op: "connect " + endpoint, Detail: detail}
	}
	return imp, nil
}

// Import binds the Go channel chT to the exporter's channel name, waiting for the exporter to
// accept the bind (see WithImportTimeout). chT is a chan []byte or a channel of a generated
// protobuf message pointer type, of the same type as the exporter's. With dir Recv, values from
// the exporter arrive on chT, which is closed after the last one. size is then how many values
// the importer may receive ahead of the application (0 for the C library's default of 1024).
// With dir Send the application sends on chT and closing chT ends the stream. size is then how
// many values may wait for acknowledgement (0 for 1024). The errors name the channel and, for a
// type mismatch, both types.
func (imp *Importer) Import(name string, chT interface{}, dir Dir, size int, opts ...ChanOption) error {
	return imp.importChannel(name, chT, dir, size, 0, opts)
}

// ImportNValues is Import for a channel that receives only n values: after the application
// received the n-th value the channel is hung up and chT is closed. Values received ahead of the
// application go back to the exporter.
func (imp *Importer) ImportNValues(name string, chT interface{}, dir Dir, size, n int,
	opts ...ChanOption) error {
	if dir != Recv || n <= 0 {
		return &Error{Code: ErrInvalid, Op: "import", Channel: name,
			Detail: "ImportNValues needs dir Recv and n > 0"}
	}
	return imp.importChannel(name, chT, dir, size, n, opts)
}

func (imp *Importer) importChannel(name string, chT interface{}, dir Dir, size, limit int,
	opts []ChanOption) error {
	goCh, err := checkGoChannel(chT, dir)
	if err != nil {
		return &Error{Code: ErrInvalid, Op: "import", Channel: name, Detail: err.Error()}
	}
	codec, err := newCodec(goCh.Type().Elem())
	if err != nil {
		return &Error{Code: ErrInvalid, Op: "import", Channel: name, Detail: err.Error()}
	}
	if size < 0 {
		return &Error{Code: ErrInvalid, Op: "import", Channel: name,
			Detail: "size must not be negative"}
	}
	cfg := chanConfig{capacity: size}
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

	if err := imp.enter("import"); err != nil {
		return err
	}
	defer imp.leave()
	var c *C.netchan_chan_t
	code := C.netchan_import_bytes(imp.c, cName, cDir(dir), cType, cFingerprint, options,
		timeoutMillis(imp.importTimeout), &c)
	if code != C.NETCHAN_OK {
		return &Error{Code: Code(code), Op: "import", Channel: name, Detail: importerDetail(imp.c)}
	}
	ch := newChannel(name, dir, c, codec, goCh, limit, imp.errs, imp.ending)
	if !imp.register(ch) {
		return errClosed("import")
	}
	return nil
}

// Hangup stops the named channel. For a Recv channel the Go channel is closed and values
// received ahead of the application go back to the exporter. For a Send channel the importer
// takes no more values from the Go channel and ends the stream after those already taken. A
// value taken while the channel was full gets 100 ms more to find room, and is otherwise
// reported on Errors() as not sent.
func (imp *Importer) Hangup(name string) error {
	return imp.hangup(name)
}

// Drain waits up to timeout (a negative timeout waits without limit) until every value sent on
// the importer's Send channels, including those still buffered in their Go channels, has been
// acknowledged by the exporter's application. It returns nil, or an *Error whose Pending field
// counts the values not yet acknowledged.
func (imp *Importer) Drain(timeout time.Duration) error {
	return imp.drain(timeout)
}

// Close hangs up every channel and ends the session: acknowledgements are flushed, values not
// yet received by the application go back to the exporter for redelivery, and values still
// pending on Send channels are discarded (call Drain first). Close waits up to about a second
// for the exporter to confirm. It is safe to call more than once.
func (imp *Importer) Close() error {
	if !imp.shutdown() {
		return nil
	}
	C.netchan_importer_destroy(&imp.c)
	imp.calls.Unlock()
	return nil
}
