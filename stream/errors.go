package stream

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Callers branch on them with errors.Is;
// a refusal sent over the wire is an *Error, read with CodeOf.
var (
	// ErrProtocol reports a peer that broke the protocol: a bad frame
	// (CRC, length, type, flags), a malformed message, or a message out
	// of order. The connection is dropped and nothing from that frame is
	// used.
	ErrProtocol = errors.New("stream: protocol violation")
	// ErrClosed reports use of a closed Server.
	ErrClosed = errors.New("stream: server closed")
	// ErrRunning reports a second concurrent Client.Run.
	ErrRunning = errors.New("stream: client already running")
)

// protocolErr wraps ErrProtocol with what was wrong.
func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Code says why a peer refused or ended a stream. It travels in the Error
// message.
type Code uint16

// Error codes. The comment of each says what the replica's operator should
// do; Fatal reports the codes that retrying soon will not cure.
const (
	// CodeAuthFailed: the Hello's MAC did not verify, or the upstream did
	// not prove it knows the secret. Set the same --cluster-secret on both.
	CodeAuthFailed Code = 1
	// CodeVersionMismatch: the peers speak different protocol versions.
	// Upgrade the older node.
	CodeVersionMismatch Code = 2
	// CodeTermTooLow: the replica has seen a higher term than its upstream
	// offers. Point it at the current primary.
	CodeTermTooLow Code = 3
	// CodeSlotLost: the primary dropped the replica's slot and the records
	// it needs. Re-seed the replica.
	CodeSlotLost Code = 4
	// CodeStartNotAvailable: the start LSN was compacted away upstream.
	// Re-seed the replica.
	CodeStartNotAvailable Code = 5
	// CodeBadRequest: the request cannot be served as sent (for example a
	// seed from a node that cannot take backups).
	CodeBadRequest Code = 6
	// CodeDiverged: the replica's position is not a record boundary of the
	// upstream's log, or the upstream rewound past it: the histories
	// differ. Rewind or re-seed the replica.
	CodeDiverged Code = 7
	// CodeUnavailable: a passing condition (shutdown, the upstream is
	// behind the replica, an internal error). The replica retries.
	CodeUnavailable Code = 8
)

var codeNames = [...]string{
	CodeAuthFailed:        "auth failed",
	CodeVersionMismatch:   "version mismatch",
	CodeTermTooLow:        "term too low",
	CodeSlotLost:          "slot lost",
	CodeStartNotAvailable: "start not available",
	CodeBadRequest:        "bad request",
	CodeDiverged:          "diverged",
	CodeUnavailable:       "unavailable",
}

// String returns the code's name, e.g. "slot lost".
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint16(c))
}

// Fatal reports whether retrying soon cannot help: the operator must act.
// A client keeps retrying at its maximum backoff after a fatal code.
func (c Code) Fatal() bool {
	switch c {
	case CodeAuthFailed, CodeVersionMismatch, CodeTermTooLow, CodeSlotLost,
		CodeStartNotAvailable, CodeBadRequest, CodeDiverged:
		return true
	}
	return false // CodeUnavailable, and codes from newer versions
}

// Error is a refusal: the Error message on the wire, and the error value
// that carries one. Message says what happened and what to do.
type Error struct {
	Code    Code
	Message string
}

// Error returns "stream: <code>: <message>".
func (e *Error) Error() string { return fmt.Sprintf("stream: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the *Error in err's chain, or 0 when there is
// none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
