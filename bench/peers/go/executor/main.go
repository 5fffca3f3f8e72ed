// Go peer of bench/bench_executor.c: tiny tasks as goroutines, waited for
// with a sync.WaitGroup, on two OS threads (GOMAXPROCS=2, the C side's two
// workers).
//
// The command line and the timing loop are package peer's.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"weftbench/peer"
)

// tinyTasks starts n no-op goroutines (each counts itself) and waits for
// all of them; returns nanoseconds per task.
func tinyTasks(n int) (float64, error) {
	var wg sync.WaitGroup
	var done int64
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			atomic.AddInt64(&done, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if done != int64(n) {
		return 0, fmt.Errorf("%d tasks ran, want %d", done, n)
	}
	return float64(elapsed.Nanoseconds()) / float64(n), nil
}

func main() {
	runtime.GOMAXPROCS(2)
	peer.Main(map[string]func(int) (float64, error){"tiny_tasks": tinyTasks})
}
