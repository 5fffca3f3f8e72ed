// Go peer of bench/bench_queue.c: one producer goroutine hands items to one
// consumer through a buffered channel.
//
// Usage: peer CASE N RUNS. Runs the case once as a warm-up (N/10), then RUNS
// times, and prints "result MEDIAN_NS MIN_NS" per item, as the Python peers
// do (bench/peers/peer_common.py).
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

// handoff sends n items through a channel of capacity 1024 and returns the
// time per item, in nanoseconds.
func handoff(n int) (float64, error) {
	ch := make(chan int, 1024)
	start := time.Now()
	go func() {
		for i := 1; i <= n; i++ {
			ch <- i
		}
	}()
	sum := 0
	for i := 0; i < n; i++ {
		sum += <-ch
	}
	elapsed := time.Since(start)
	if sum != n*(n+1)/2 {
		return 0, fmt.Errorf("sum %d, want %d", sum, n*(n+1)/2)
	}
	return float64(elapsed.Nanoseconds()) / float64(n), nil
}

func main() {
	cases := map[string]func(int) (float64, error){"handoff": handoff}
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
