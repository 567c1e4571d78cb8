package netchan

// #include <netchan.h>
import "C"

import (
	"strings"
	"sync"
	"time"
)

// endpoint is the state that an Exporter and an Importer share: their channels, their error
// queue and their shutdown.
type endpoint struct {
	errs   *errorQueue
	ending chan struct{} // closed by Close

	// calls is held for reading by every method that uses the C handle and for writing by Close
	// while it destroys the handle.
	calls sync.RWMutex

	mu     sync.Mutex
	chans  map[string]*channel
	closed bool
}

func newEndpoint(cfg config) endpoint {
	return endpoint{
		errs:   newErrorQueue(cfg.errorBuffer),
		ending: make(chan struct{}),
		chans:  make(map[string]*channel),
	}
}

// errClosed is returned by calls on a closed exporter or importer.
func errClosed(op string) error {
	return &Error{Code: ErrState, Op: op, Detail: "the exporter or importer is closed"}
}

// enter starts a method that uses the C handle; the method calls leave when it is done.
func (e *endpoint) enter(op string) error {
	e.calls.RLock()
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		e.calls.RUnlock()
		return errClosed(op)
	}
	return nil
}

func (e *endpoint) leave() {
	e.calls.RUnlock()
}

// register starts the pump of a newly opened channel, unless the endpoint closed meanwhile.
func (e *endpoint) register(ch *channel) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.chans[ch.name] = ch
	ch.start()
	return true
}

func (e *endpoint) lookup(op, name string) (*channel, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed(op)
	}
	ch, ok := e.chans[name]
	if !ok {
		return nil, &Error{Code: ErrNotFound, Op: op, Channel: name,
			Detail: "no channel of that name was exported or imported here"}
	}
	return ch, nil
}

// hangup stops moving values on the named channel and closes it. On a receiving channel the
// Go channel is closed, and values received but not yet sent on it go back to their sender.
// On a sending channel the binding takes no more values from the Go channel, and the values
// already handed over are still delivered before end of stream.
func (e *endpoint) hangup(name string) error {
	if err := e.enter("hangup"); err != nil {
		return err
	}
	defer e.leave()
	ch, err := e.lookup("hangup", name)
	if err != nil {
		return err
	}
	ch.hangup()
	<-ch.detached
	return nil
}

// drain waits until every value sent on the endpoint's sending channels has been
// acknowledged, including the values still in a Go channel's buffer when drain was called.
func (e *endpoint) drain(timeout time.Duration) error {
	if err := e.enter("drain"); err != nil {
		return err
	}
	defer e.leave()
	e.mu.Lock()
	var sending []*channel
	for _, ch := range e.chans {
		if ch.dir == Send {
			sending = append(sending, ch)
		}
	}
	e.mu.Unlock()

	var deadline <-chan time.Time
	if timeout >= 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	start := time.Now()
	remaining := func() C.int {
		if timeout < 0 {
			return cForever
		}
		left := timeout - time.Since(start)
		if left <= 0 {
			return cNoWait
		}
		return timeoutMillis(left)
	}

	var errs []error
	var pending uint64
	for _, ch := range sending {
		if !ch.handOverBuffered(deadline) {
			waiting := uint64(C.netchan_pending(ch.c)) + uint64(ch.goCh.Len()) + 1
			pending += waiting
			errs = append(errs, &Error{Code: ErrTimedOut, Op: "drain", Channel: ch.name,
				Pending: waiting,
				Detail:  "values in the Go channel were not handed over before the timeout"})
			continue
		}
		var left C.uint64_t
		err := C.netchan_drain(ch.c, remaining(), &left)
		if err != C.NETCHAN_OK {
			pending += uint64(left)
			errs = append(errs, &Error{Code: Code(err), Op: "drain", Channel: ch.name,
				Pending: uint64(left), Detail: chanDetail(ch.c)})
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	details := make([]string, len(errs))
	for i, err := range errs {
		details[i] = err.Error()
	}
	return &Error{Code: errs[0].(*Error).Code, Op: "drain", Pending: pending,
		Detail: strings.Join(details, "; ")}
}

// shutdown hangs up every channel and waits for their pumps and for the methods running on
// other goroutines, so that the C handle can be destroyed. When it returns true the caller
// destroys the handle and then calls e.calls.Unlock. It returns false when the endpoint was
// already closed.
func (e *endpoint) shutdown() bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	e.closed = true
	close(e.ending)
	chans := make([]*channel, 0, len(e.chans))
	for _, ch := range e.chans {
		chans = append(chans, ch)
	}
	e.mu.Unlock()

	for _, ch := range chans {
		ch.abort()
	}
	for _, ch := range chans {
		<-ch.done
	}
	e.calls.Lock()
	return true
}

// Errors returns the channel on which the binding reports failures that no call returns:
// values that could not be sent or received, and failures of the C library while moving
// values. Reading it is optional. It never blocks the binding: when it is full, the oldest
// error is dropped and counted in ErrorsDropped.
func (e *endpoint) Errors() <-chan error {
	return e.errs.ch
}

// ErrorsDropped returns how many errors were dropped from a full Errors() channel.
func (e *endpoint) ErrorsDropped() uint64 {
	return e.errs.droppedCount()
}

// Pending returns how many values of the named channel the C library holds. On a sending
// channel these are the values handed over and not yet acknowledged. On a receiving channel
// they are the values that arrived and are not yet sent on the Go channel.
func (e *endpoint) Pending(name string) (uint64, error) {
	if err := e.enter("pending"); err != nil {
		return 0, err
	}
	defer e.leave()
	ch, err := e.lookup("pending", name)
	if err != nil {
		return 0, err
	}
	return uint64(C.netchan_pending(ch.c)), nil
}
