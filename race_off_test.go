//go:build !race

package detectifyreceiver

const raceEnabled = false
