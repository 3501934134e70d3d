// Package golden runs golden-file tests in the style of etcd raft's
// datadriven tests: a file of cases separated by blank lines, each made of
// input lines, a "----" line, and the output recorded for that input.
// Lines starting with '#' are comments: kept in the file, not passed on.
package golden
