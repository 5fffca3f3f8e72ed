// Go peer of bench/bench_executor.c: tiny tasks as goroutines, waited for
// with a sync.WaitGroup, on two OS threads (GOMAXPROCS=2, the C side's two
// workers).
//
// Usage: peer CASE N RUNS. Runs the case once as a warm-up (N/10), then RUNS
// times, and prints "result MEDIAN_NS MIN_NS" per task, as the Python peers
// do (bench/peers/peer_common.py).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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
	cases := map[string]func(int) (float64, error){"tiny_tasks": tinyTasks}
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
