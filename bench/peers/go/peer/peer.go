// Package peer is the command line of every Go peer: "peer CASE N RUNS"
// runs the case once as a warm-up (N/10), then RUNS times, and prints
// "result MEDIAN MIN" per operation, as the Python peers do
// (bench/peers/peer_common.py).
package peer

import (
	"fmt"
	"os"
	"sort"
	"strconv"
)

// Main runs the case named on the command line; each case does n operations
// and returns the time per operation.
func Main(cases map[string]func(int) (float64, error)) {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: peer CASE N RUNS")
		os.Exit(2)
	}
	fn, ok := cases[os.Args[1]]
	n, err1 := strconv.Atoi(os.Args[2])
	runs, err2 := strconv.Atoi(os.Args[3])
	if !ok || err1 != nil || err2 != nil || n < 1 || runs < 1 {
		fmt.Fprintln(os.Stderr, "peer: bad arguments")
		os.Exit(2)
	}
	warm := n / 10
	if warm < 1 {
		warm = 1
	}
	if _, err := fn(warm); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	perOp := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		t, err := fn(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			os.Exit(1)
		}
		perOp = append(perOp, t)
	}
	sort.Float64s(perOp)
	fmt.Printf("result %.3f %.3f\n", perOp[runs/2], perOp[0])
}
