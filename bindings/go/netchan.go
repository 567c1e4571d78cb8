// Package netchan carries Go channels between processes over the netchan C library. An
// Exporter binds a ZeroMQ endpoint and publishes named channels, and an Importer connects to it
// and binds its own Go channels to them by name. The API follows the old
// golang.org/x/exp/old/netchan package (Export, Import, Hangup, Drain, Errors) and adds the C
// library's delivery guarantees. A value stays pending at its sender until the receiving
// application has received it from its Go channel, so values survive disconnects, reconnects
// and killed importers.
//
// Values are protobuf messages (a Go channel of a generated message pointer type such as
// chan *pb.Point) or raw bytes (chan []byte). Both sides must use the same type; the C library
// compares the message's full name and its Fingerprint when an importer binds.
//
// # Sending
//
// For a channel that this side sends on, the application sends on its Go channel and the
// binding hands each value to the C library, which keeps it until a receiver acknowledges it.
// Closing the Go channel closes the network channel: receivers get every value sent before the
// close, and then their Go channels are closed. Drain waits until every value is acknowledged.
//
// # Receiving and acknowledgement
//
// For a channel that this side receives on, the binding takes each value from the C library
// and sends it on the application's Go channel, which it closes after the last value. A value
// is acknowledged to its sender only after the application has received it from the Go
// channel:
//
//   - On an unbuffered Go channel, the binding acknowledges a value when its send completes,
//     which is when the application received it.
//   - On a buffered Go channel, a completed send only means that the value is in the buffer.
//     The binding keeps such values unacknowledged and counts the values the application
//     received from len(ch): after the binding sent k values into the buffer, k-len(ch) of
//     them have been received, and those are acknowledged, in order. This assumes that only
//     the binding sends on the channel (another sender would delay acknowledgements, never
//     hasten them). Values received while no new value arrives are acknowledged within about
//     2 ms.
//
// So a killed receiving process loses nothing: values it had not received go to another
// receiver. The only values that can arrive twice are those the application had received
// right before it was killed, whose acknowledgement had not reached the sender yet.
//
// A receiving channel also holds up to its capacity of values received ahead of the
// application, unacknowledged; Import's size sets that capacity.
package netchan

import "time"

// Dir is the direction of a channel, from the point of view of the side that opens it. An
// exporter's Send channel pairs with importers' Recv channels and the other way round.
type Dir int

const (
	// Send: the application sends on its Go channel and the values go to the other side.
	Send Dir = 1
	// Recv: values from the other side arrive on the application's Go channel.
	Recv Dir = 2
)

func (d Dir) String() string {
	switch d {
	case Send:
		return "Send"
	case Recv:
		return "Recv"
	}
	return "Dir(invalid)"
}

// Defaults of the binding.
const (
	// DefaultImportTimeout is how long Import waits for the exporter to accept a bind.
	DefaultImportTimeout = 10 * time.Second
	// DefaultErrorBuffer is how many errors Errors() holds before the oldest is dropped.
	DefaultErrorBuffer = 64
)

// sendRetryInterval is how long a sending channel waits for room at a time before it checks
// whether it was hung up.
const sendRetryInterval = 100 * time.Millisecond

// ackPollInterval is how often a receiving channel checks how many values the application
// received from a buffered Go channel while no new value arrives.
const ackPollInterval = 2 * time.Millisecond

type config struct {
	heartbeatInterval time.Duration
	heartbeatTimeout  time.Duration
	importTimeout     time.Duration
	errorBuffer       int
}

func defaultConfig() config {
	return config{importTimeout: DefaultImportTimeout, errorBuffer: DefaultErrorBuffer}
}

// Option configures an Exporter or an Importer.
type Option func(*config)

// WithHeartbeat sets how often the two sides check that the other is alive and how long a
// silent peer is given before it counts as lost. The C library's defaults are 250 ms and 1 s.
// A lost importer's unacknowledged values go to other importers.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(c *config) {
		c.heartbeatInterval = interval
		c.heartbeatTimeout = timeout
	}
}

// WithImportTimeout sets how long Import waits for the exporter to accept a bind
// (DefaultImportTimeout by default). Importers only.
func WithImportTimeout(timeout time.Duration) Option {
	return func(c *config) { c.importTimeout = timeout }
}

// WithErrorBuffer sets how many errors Errors() holds before the oldest is dropped
// (DefaultErrorBuffer by default).
func WithErrorBuffer(size int) Option {
	return func(c *config) { c.errorBuffer = size }
}

type chanConfig struct {
	capacity     int
	maxValueSize int
	limit        int // receiving channels: hang up after this many values; 0 for no limit
}

// ChanOption configures one exported or imported channel.
type ChanOption func(*chanConfig)

// WithCapacity sets the channel's capacity in the C library (1024 by default, at most
// 1048576). A sending side holds at most that many values not yet acknowledged, so a full
// channel makes the binding wait before it takes the next value from the Go channel. A
// receiving side holds at most that many values received and not yet acknowledged.
func WithCapacity(values int) ChanOption {
	return func(c *chanConfig) { c.capacity = values }
}

// WithMaxValueSize sets the largest packed value the channel accepts, in bytes (1 MiB by
// default, at most 16 MiB).
func WithMaxValueSize(bytes int) ChanOption {
	return func(c *chanConfig) { c.maxValueSize = bytes }
}
