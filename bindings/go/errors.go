package netchan

// #include <netchan.h>
import "C"

import (
	"fmt"
	"sync"
)

// Code is an error code of the C library. Codes are errors themselves, so that
// errors.Is(err, netchan.ErrTimedOut) tests the code of any *Error.
type Code int

// Error codes, with the numbers of the C library's netchan_err.
const (
	ErrInvalid   Code = C.NETCHAN_EINVAL     // an argument is invalid
	ErrNoMemory  Code = C.NETCHAN_ENOMEM     // out of memory
	ErrTimedOut  Code = C.NETCHAN_ETIMEDOUT  // the timeout ran out
	ErrAgain     Code = C.NETCHAN_EAGAIN     // the operation would block
	ErrClosed    Code = C.NETCHAN_ECLOSED    // the channel is closed
	ErrNotFound  Code = C.NETCHAN_ENOTFOUND  // the exporter has no channel of that name
	ErrType      Code = C.NETCHAN_ETYPE      // the value types of the two sides differ
	ErrDirection Code = C.NETCHAN_EDIRECTION // both sides send, or both receive
	ErrExist     Code = C.NETCHAN_EEXIST     // the name is already exported or imported
	ErrEndpoint  Code = C.NETCHAN_EENDPOINT  // an endpoint could not be bound or connected
	ErrProtocol  Code = C.NETCHAN_EPROTO     // the peer violated the wire protocol
	ErrTooBig    Code = C.NETCHAN_ETOOBIG    // a value exceeds the maximum value size
	ErrDecode    Code = C.NETCHAN_EDECODE    // a value could not be unpacked with its type
	ErrState     Code = C.NETCHAN_ESTATE     // the call does not fit the handle's state
	ErrSystem    Code = C.NETCHAN_ESYSTEM    // a call into the system or libzmq failed
	ErrRejected  Code = C.NETCHAN_EREJECTED  // the receiving side rejected a value
	ErrDiscarded Code = C.NETCHAN_EDISCARDED // a value passed its maximum delivery attempts
)

// Error returns the C library's description of the code.
func (c Code) Error() string {
	return C.GoString(C.netchan_strerror(C.netchan_err(c)))
}

// Error describes a failure of an operation on an exporter, an importer or one of their
// channels.
type Error struct {
	Code    Code
	Op      string // the operation: "export", "import", "send", "receive", "drain" and so on
	Channel string // the channel's name, or "" for the exporter or importer as a whole
	Detail  string // the C library's detail of the failure, or the binding's own
	Pending uint64 // for a drain that timed out: the values not yet acknowledged
}

func (e *Error) Error() string {
	text := "netchan: " + e.Op
	if e.Channel != "" {
		text += fmt.Sprintf(" %q", e.Channel)
	}
	text += ": " + e.Code.Error()
	if e.Detail != "" && e.Detail != e.Code.Error() {
		text += ": " + e.Detail
	}
	return text
}

// Is reports whether target is the error's code, for errors.Is.
func (e *Error) Is(target error) bool {
	code, ok := target.(Code)
	return ok && code == e.Code
}

// Unwrap returns the error's code.
func (e *Error) Unwrap() error {
	return e.Code
}

// errorQueue is the buffered channel behind Errors(). Reporting never blocks: when the buffer
// is full the oldest error is dropped and counted.
type errorQueue struct {
	mu      sync.Mutex
	ch      chan error
	dropped uint64
}

func newErrorQueue(size int) *errorQueue {
	if size < 1 {
		size = 1
	}
	return &errorQueue{ch: make(chan error, size)}
}

func (q *errorQueue) report(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		select {
		case q.ch <- err:
			return
		default:
		}
		// Full: drop the oldest, unless a reader took it in the meantime.
		select {
		case <-q.ch:
			q.dropped++
		default:
		}
	}
}

func (q *errorQueue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
