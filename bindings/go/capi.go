package netchan

/*
#cgo pkg-config: netchan
#include <stdio.h>
#include <stdlib.h>
#include <netchan.h>

// The netchan_*_error() functions return a buffer owned by the calling thread, and a goroutine
// may move to another thread between two cgo calls. These helpers copy the detail into a
// buffer of the caller in the same call that reads it.
static void go_exporter_error(netchan_exporter_t *exporter, char *buffer, size_t size)
{
    snprintf(buffer, size, "%s", netchan_exporter_error(exporter));
}

static void go_importer_error(netchan_importer_t *importer, char *buffer, size_t size)
{
    snprintf(buffer, size, "%s", netchan_importer_error(importer));
}

static void go_chan_error(netchan_chan_t *chan, char *buffer, size_t size)
{
    snprintf(buffer, size, "%s", netchan_chan_error(chan));
}

// Each cgo call costs time, so the receiving path takes a value with its bytes in one call and
// acknowledges and releases it in another.
static netchan_err go_recv_msg(netchan_chan_t *chan, int timeout_ms, netchan_msg_t **msg_p,
                               const uint8_t **data_p, size_t *size_p)
{
    netchan_err err = netchan_recv_msg(chan, timeout_ms, msg_p);
    if (err == NETCHAN_OK) {
        *data_p = netchan_msg_data(*msg_p);
        *size_p = netchan_msg_size(*msg_p);
    }
    return err;
}

static netchan_err go_ack_and_destroy(netchan_msg_t **msg_p)
{
    netchan_err err = netchan_msg_ack(*msg_p);
    netchan_msg_destroy(msg_p);
    return err;
}
*/
import "C"

import (
	"time"
	"unsafe"
)

// detailSize is the size of the buffers that receive error details; the C library keeps at most
// 512 bytes of detail per handle.
const detailSize = 512

// Special timeouts of the C API, in milliseconds.
const (
	cForever = C.int(-1)
	cNoWait  = C.int(0)
)

// cString converts s for a C call; the caller frees the result with C.free.
func cString(s string) *C.char {
	return C.CString(s)
}

// cOptionalString returns NULL for "", which the C API reads as "not given".
func cOptionalString(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func detailString(buffer []byte) string {
	for i, b := range buffer {
		if b == 0 {
			return string(buffer[:i])
		}
	}
	return string(buffer)
}

func exporterDetail(exporter *C.netchan_exporter_t) string {
	buffer := make([]byte, detailSize)
	C.go_exporter_error(exporter, (*C.char)(unsafe.Pointer(&buffer[0])), C.size_t(len(buffer)))
	return detailString(buffer)
}

func importerDetail(importer *C.netchan_importer_t) string {
	buffer := make([]byte, detailSize)
	C.go_importer_error(importer, (*C.char)(unsafe.Pointer(&buffer[0])), C.size_t(len(buffer)))
	return detailString(buffer)
}

func chanDetail(chan_ *C.netchan_chan_t) string {
	buffer := make([]byte, detailSize)
	C.go_chan_error(chan_, (*C.char)(unsafe.Pointer(&buffer[0])), C.size_t(len(buffer)))
	return detailString(buffer)
}

// timeoutMillis converts d to the C API's timeout: a negative d waits without limit, and a
// positive d of less than a millisecond still waits one.
func timeoutMillis(d time.Duration) C.int {
	if d < 0 {
		return cForever
	}
	ms := d.Milliseconds()
	if ms == 0 && d > 0 {
		ms = 1
	}
	if ms > int64(^uint32(0)>>1) {
		return cForever
	}
	return C.int(ms)
}

// Version returns the version of the C library in use, "MAJOR.MINOR.PATCH".
func Version() string {
	return C.GoString(C.netchan_version())
}

// cOptions builds the C options of a channel; the caller destroys them.
func cOptions(config chanConfig, explicitAck bool) (*C.netchan_options_t, error) {
	options := C.netchan_options_new()
	if options == nil {
		return nil, &Error{Code: ErrNoMemory, Op: "options"}
	}
	fail := func(code C.netchan_err, what string) error {
		C.netchan_options_destroy(&options)
		return &Error{Code: Code(code), Op: "options", Detail: what}
	}
	if config.capacity > 0 {
		if err := C.netchan_options_set_capacity(options, C.uint32_t(config.capacity)); err != C.NETCHAN_OK {
			return nil, fail(err, "invalid capacity")
		}
	}
	if config.maxValueSize > 0 {
		if err := C.netchan_options_set_max_value_size(options, C.uint32_t(config.maxValueSize)); err != C.NETCHAN_OK {
			return nil, fail(err, "invalid maximum value size")
		}
	}
	if explicitAck {
		if err := C.netchan_options_set_explicit_ack(options, C.bool(true)); err != C.NETCHAN_OK {
			return nil, fail(err, "explicit acknowledgement")
		}
	}
	return options, nil
}

// cDir converts a Dir to the C enum.
func cDir(dir Dir) C.netchan_dir {
	if dir == Send {
		return C.NETCHAN_SEND
	}
	return C.NETCHAN_RECV
}

// sendBytes queues data on a sending C channel, waiting up to timeout while it is full.
func sendBytes(chan_ *C.netchan_chan_t, data []byte, timeout C.int) C.netchan_err {
	if len(data) == 0 {
		return C.netchan_send_bytes(chan_, nil, 0, timeout)
	}
	// The C library copies the bytes before it returns, and they hold no Go pointers.
	return C.netchan_send_bytes(chan_, unsafe.Pointer(&data[0]), C.size_t(len(data)), timeout)
}

// message is one value taken from a C channel opened for explicit acknowledgement.
type message struct {
	msg  *C.netchan_msg_t
	data *C.uint8_t
	size C.size_t
}

// recvMessage takes the next value from chan_, waiting up to timeout.
func recvMessage(chan_ *C.netchan_chan_t, timeout C.int) (message, C.netchan_err) {
	var m message
	err := C.go_recv_msg(chan_, timeout, &m.msg, &m.data, &m.size)
	return m, err
}

// bytes copies the value's packed bytes into Go memory.
func (m message) bytes() []byte {
	if m.size == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(m.data), C.int(m.size))
}

// ack acknowledges the value and releases it.
func (m *message) ack() C.netchan_err {
	return C.go_ack_and_destroy(&m.msg)
}

// release hands the value back to its sender for redelivery and releases it.
func (m *message) release() {
	C.netchan_msg_release(m.msg)
	C.netchan_msg_destroy(&m.msg)
}

// abandon releases the value without settling it, so it stays pending at its sender until this
// importer ends or is lost.
func (m *message) abandon() {
	C.netchan_msg_destroy(&m.msg)
}
