package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}()

// procCPU is the CPU time (user + system, all threads) pid has used.
func procCPU(pid int) (time.Duration, string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	// The command name is in parentheses and may contain spaces: the
	// fields after it start at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return 0, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	name := string(b[open+1 : end])
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, "", fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return ticks(utime + stime), name, nil
}

func ticks(n uint64) time.Duration {
	return time.Duration(float64(n) / clockTicks * float64(time.Second))
}

// procSnapshot is the CPU time of every process at one moment.
type procSnapshot map[int]procEntry

type procEntry struct {
	name string
	cpu  time.Duration
}

func snapshotProcs() procSnapshot {
	s := procSnapshot{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cpu, name, err := procCPU(pid); err == nil {
			s[pid] = procEntry{name, cpu}
		}
	}
	return s
}

// otherCPU is the CPU that processes other than exclude used between two
// snapshots, and the busiest of them. Processes that ended in between are
// missed; processes that started count from zero.
func otherCPU(before, after procSnapshot, exclude ...int) (total time.Duration, busiest string) {
	type use struct {
		name string
		cpu  time.Duration
	}
	var uses []use
	for pid, a := range after {
		if slices.Contains(exclude, pid) {
			continue
		}
		d := a.cpu - before[pid].cpu
		if d > 0 {
			total += d
			uses = append(uses, use{fmt.Sprintf("%s[%d]", a.name, pid), d})
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return int(b.cpu - a.cpu) })
	for _, u := range uses[:min(2, len(uses))] {
		if busiest != "" {
			busiest += ", "
		}
		busiest += fmt.Sprintf("%s %v", u.name, u.cpu.Round(10*time.Millisecond))
	}
	return total, busiest
}

// stealTime is the CPU time, over all cores, that the hypervisor gave to
// other guests while this machine wanted it (the steal column of
// /proc/stat): on a shared VM, a noise that no process list shows.
func stealTime() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	n, _ := strconv.ParseUint(f[8], 10, 64)
	return ticks(n)
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// noisyCores is how much CPU other processes may use during a run (or
// before one) for it to count as undisturbed.
const noisyCores = 0.25

// waitQuiet waits, up to maxWait, until processes other than this one use
// less than noisyCores over two consecutive 3-second samples (test suites
// are bursty), so a measurement does not compete with someone else's build.
// It returns what it saw.
func waitQuiet(maxWait time.Duration, logf func(string, ...any)) (quiet bool, seen string) {
	self := os.Getpid()
	deadline := time.Now().Add(maxWait)
	calm := 0
	for {
		before := snapshotProcs()
		time.Sleep(3 * time.Second)
		after := snapshotProcs()
		used, busiest := otherCPU(before, after, self)
		share := used.Seconds() / 3
		seen = fmt.Sprintf("others used %.2f cores (%s), load %s", share, busiest, loadAverage())
		if share < noisyCores {
			if calm++; calm == 2 {
				return true, seen
			}
			continue
		}
		calm = 0
		if time.Now().After(deadline) {
			logf("machine still busy after %v, measuring anyway: %s", maxWait, seen)
			return false, seen
		}
		logf("machine busy, waiting: %s", seen)
		time.Sleep(10 * time.Second)
	}
}
