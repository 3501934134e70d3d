// Command tandem is Tandem's single binary: the server (`tandem serve`) and
// its tools (`sql`, `bench`, `demo`, `status`, `replica skip`, `log
// inspect`). main only wires: each subcommand lives in a file of its own,
// parses its flags (and, for serve, a YAML config file) into the packages'
// configurations, and runs them.
package main
