// Package hlc implements a hybrid logical clock.
//
// A Timestamp packs wall-clock milliseconds since the Unix epoch into its
// high 48 bits and a logical counter into its low 16 bits. Timestamps from
// one Clock strictly increase, even when the wall clock steps back, and
// Update folds in a timestamp seen from another node so that causally later
// events always get larger timestamps. Tandem stamps every transaction with
// its HLC commit time; last-writer-wins and lag in seconds read it.
//
// The clock takes its wall time from a function, so tests and simulations
// can drive it deterministically.
package hlc
