// Go peer of bench/bench_task.c: the coroutine workloads with goroutines,
// on Go's default scheduler (GOMAXPROCS = the cores online).
//
//	spawn       n goroutines that each yield once (runtime.Gosched), waited
//	            for with a sync.WaitGroup; nanoseconds per goroutine
//	pingpong    two goroutines bounce a token through two unbuffered
//	            channels; nanoseconds per round trip
//	parked      n goroutines blocked receiving from one channel: nanoseconds
//	            per goroutine from the first go statement until all count
//	            themselves blocked
//	parked_rss  the same, in a fresh process per run: the peak resident
//	            growth in MiB (not a time) while all n are blocked
//
// The command line and the timing loop are package peer's.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"weftbench/peer"
)

func spawn(n int) (float64, error) {
	var wg sync.WaitGroup
	var done int64
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			runtime.Gosched()
			atomic.AddInt64(&done, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if done != int64(n) {
		return 0, fmt.Errorf("%d goroutines ran, want %d", done, n)
	}
	return float64(elapsed.Nanoseconds()) / float64(n), nil
}

func pingpong(n int) (float64, error) {
	there, back := make(chan int), make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			back <- <-there
		}
	}()
	total := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		there <- i
		total += <-back
	}
	elapsed := time.Since(start)
	if total != n*(n-1)/2 {
		return 0, fmt.Errorf("sum %d, want %d", total, n*(n-1)/2)
	}
	return float64(elapsed.Nanoseconds()) / float64(n), nil
}

// park starts n goroutines that count themselves down on a WaitGroup just
// before blocking on one channel, and returns once all have; the caller
// releases them by closing the channel and waits for them on `exited`.
func park(n int) (elapsed time.Duration, release chan struct{}, exited *sync.WaitGroup) {
	var parked sync.WaitGroup
	release = make(chan struct{})
	exited = new(sync.WaitGroup)
	parked.Add(n)
	exited.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-release
			exited.Done()
		}()
	}
	parked.Wait()
	elapsed = time.Since(start)
	return
}

func parked(n int) (float64, error) {
	elapsed, release, exited := park(n)
	close(release)
	exited.Wait()
	return float64(elapsed.Nanoseconds()) / float64(n), nil
}

func statusKiB(key string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), key) {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 {
				return strconv.ParseInt(fields[1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", key)
}

// parkedRSSChild runs in a fresh process: the peak resident growth, in MiB,
// from before the first goroutine starts until all n are blocked.
func parkedRSSChild(n int) (float64, error) {
	// Writing 5 resets VmHWM to the current resident size (Linux 4.0+), so
	// the mark read later is the workload's peak, not the start-up's.
	if f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0); err == nil {
		f.WriteString("5")
		f.Close()
	}
	before, err := statusKiB("VmRSS:")
	if err != nil {
		return 0, err
	}
	_, release, exited := park(n)
	hwm, err1 := statusKiB("VmHWM:")
	rss, err2 := statusKiB("VmRSS:")
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("reading /proc/self/status: %v %v", err1, err2)
	}
	close(release)
	exited.Wait()
	if rss > hwm {
		hwm = rss
	}
	return float64(hwm-before) / 1024, nil
}

// parkedRSS runs parkedRSSChild in a new process of this program: memory
// that a previous run left to Go's heap and stack caches would hide the
// next run's growth.
func parkedRSS(n int) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	out, err := exec.Command(self, "_parked_rss_child", strconv.Itoa(n)).Output()
	if err != nil {
		return 0, fmt.Errorf("parked_rss child: %v", err)
	}
	var mib float64
	if _, err := fmt.Sscanf(string(out), "mib %g", &mib); err != nil {
		return 0, fmt.Errorf("parked_rss child printed %q", out)
	}
	return mib, nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "_parked_rss_child" {
		n, err := strconv.Atoi(os.Args[2])
		mib := 0.0
		if err == nil {
			mib, err = parkedRSSChild(n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			os.Exit(1)
		}
		fmt.Printf("mib %.3f\n", mib)
		return
	}
	peer.Main(map[string]func(int) (float64, error){
		"spawn":      spawn,
		"pingpong":   pingpong,
		"parked":     parked,
		"parked_rss": parkedRSS,
	})
}
