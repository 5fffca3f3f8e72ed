// Go peer of bench/bench_queue.c: one producer goroutine hands items to one
// consumer through a buffered channel.
//
// The command line and the timing loop are package peer's.
package main

import (
	"fmt"
	"time"

	"weftbench/peer"
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
	peer.Main(map[string]func(int) (float64, error){"handoff": handoff})
}
